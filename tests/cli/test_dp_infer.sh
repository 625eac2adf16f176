#!/usr/bin/env bash
# dp-infer: flags, exit codes (0 ok, 1 runtime error, 2 usage), output shape, determinism,
# backend agreement and error messages that name the file or tensor at fault.
set -u
BIN=${DP_BIN_DIR:-build/bin}/dp-infer
PY=${DP_PYTHON3:-/usr/bin/python3}
cd "${DP_TEST_TMP:-.}" || exit 1
D=$(mktemp -d dp_infer.XXXX)
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
# expect CODE NEEDLE -- command...: exit code CODE and stdout+stderr containing NEEDLE
expect() {
  local code=$1 needle=$2; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$code" ]; then bad "$* -> exit $rc, expected $code: $out"; return; fi
  if [ -n "$needle" ] && ! grep -q -- "$needle" <<<"$out"; then bad "$* -> output lacks '$needle': $out"; return; fi
  ok
}

"$PY" - "$D" <<'PY'
import os, sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
np.save(f"{d}/x.npy", rng.standard_normal((4, 3, 32, 32), dtype=np.float32))
np.save(f"{d}/x64.npy", rng.standard_normal((2, 3, 40, 36)))
np.save(f"{d}/x3d.npy", np.zeros((3, 32, 32), np.float32))
np.save(f"{d}/x1ch.npy", np.zeros((2, 1, 32, 32), np.float32))
np.save(f"{d}/small.npy", np.zeros((1, 3, 16, 16), np.float32))
np.save(f"{d}/int.npy", np.zeros((1, 3, 32, 32), np.int32))
# Shapes whose batch dimension does not fit an int, or with a zero dimension: headers only (the
# data is empty since a dimension is 0), written by hand because numpy would not allocate them.
def header_only(name, shape):
    head = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shape))
    head += " " * (63 - (10 + len(head)) % 64) + "\n"
    open(f"{d}/{name}", "wb").write(b"\x93NUMPY\x01\x00" + len(head).to_bytes(2, "little") + head.encode())
header_only("huge.npy", (2**33, 3, 0, 32))
header_only("big.npy", (2**31, 3, 0, 32))
np.save(f"{d}/zero.npy", np.zeros((0, 3, 32, 32), np.float32))
os.makedirs(f"{d}/adir.npy")
np.savez(f"{d}/partial.npz", **{"conv1.weight": np.zeros((64, 3, 3, 3), np.float32)})
PY

expect 0 "--arch" -- "$BIN" --help
expect 2 "required" -- "$BIN"
expect 2 "unknown option" -- "$BIN" --arch resnet18 --input "$D/x.npy" --output "$D/y.npy" --bogus
expect 2 "needs a value" -- "$BIN" --arch resnet18 --input "$D/x.npy" --output
expect 2 "--classes" -- "$BIN" --arch resnet18 --classes 0 --input "$D/x.npy" --output "$D/y.npy"
expect 2 "--threads" -- "$BIN" --arch resnet18 --threads x --input "$D/x.npy" --output "$D/y.npy"
expect 2 "--precision" -- "$BIN" --arch resnet18 --precision fp16 --input "$D/x.npy" --output "$D/y.npy"
expect 2 "--backend" -- "$BIN" --arch resnet18 --backend gpu --input "$D/x.npy" --output "$D/y.npy"
expect 2 "--arch: 'resnet5000' is not resnet18" -- "$BIN" --arch resnet5000 --input "$D/x.npy" --output "$D/y.npy"
expect 0 "usage: dp-infer --arch A --input X.npy --output Y.npy" -- "$BIN" -h
expect 0 "dp-infer 0" -- "$BIN" --version
expect 0 "densenet121" -- "$BIN" --list-archs
expect 2 "--input is required" -- "$BIN" --arch resnet18 --output "$D/y.npy"
expect 2 "--threads: 0 is out of range" -- "$BIN" --arch resnet18 --threads 0 --input "$D/x.npy" --output "$D/y.npy"
expect 2 "--threads: 99999999999999999999 is out of range" -- "$BIN" --arch resnet18 --threads 99999999999999999999 --input "$D/x.npy" --output "$D/y.npy"
expect 2 "--classes: -3 is out of range" -- "$BIN" --arch resnet18 --classes=-3 --input "$D/x.npy" --output "$D/y.npy"
expect 2 "--output needs a value" -- "$BIN" --arch resnet18 --output --input "$D/x.npy"
expect 2 "--input: the value is empty" -- "$BIN" --arch resnet18 --input= --output "$D/y.npy"
expect 2 "unexpected argument" -- "$BIN" --arch resnet18 --input "$D/x.npy" --output "$D/y.npy" extra

# Runs: summary line, output shape, determinism, seeds, backends agree.
expect 0 "4 samples of 32x32" -- "$BIN" --arch resnet18_cifar --seed 5 --input "$D/x.npy" --output "$D/a.npy" --backend reference
expect 0 "" -- "$BIN" --arch resnet18_cifar --seed 5 --input "$D/x.npy" --output "$D/b.npy" --backend reference
expect 0 "" -- "$BIN" --arch resnet18_cifar --seed 6 --input "$D/x.npy" --output "$D/c.npy" --backend reference
expect 0 "onednn" -- "$BIN" --arch resnet18_cifar --seed 5 --input "$D/x.npy" --output "$D/o.npy" --threads 2
expect 0 "2 samples of 40x36" -- "$BIN" --arch mobilenet_v2 --classes 3 --input "$D/x64.npy" --output "$D/m.npy" --backend reference
if "$PY" - "$D" <<'PY'
import sys, numpy as np
d = sys.argv[1]
a, b, c, o, m = (np.load(f"{d}/{n}.npy") for n in "abcom")
assert a.shape == (4, 10) and a.dtype == np.float32, a.shape
assert np.array_equal(a, b), "same seed, different logits"
assert not np.allclose(a, c), "different seeds, same logits"
err = np.abs(a - o).max() / np.abs(a).max()
assert err <= 1e-4, f"onednn vs reference: {err}"
assert m.shape == (2, 3)
PY
then ok; else bad "output checks"; fi

# Runtime errors: exit 1 and a message naming what is wrong.
expect 1 "\[N,3,H,W\]" -- "$BIN" --arch resnet18 --input "$D/x3d.npy" --output "$D/y.npy"
expect 1 "\[2,1,32,32\]" -- "$BIN" --arch resnet18 --input "$D/x1ch.npy" --output "$D/y.npy"
expect 1 "small.npy: DP_ERR_SHAPE" -- "$BIN" --arch resnet18 --input "$D/small.npy" --output "$D/y.npy" --backend reference
expect 1 "<i4" -- "$BIN" --arch resnet18 --input "$D/int.npy" --output "$D/y.npy"
# Dimensions that overflow the batch size or are zero: refused, naming the file and its shape.
expect 1 "huge.npy.*\[8589934592,3,0,32\]" -- "$BIN" --arch resnet18 --input "$D/huge.npy" --output "$D/y.npy"
[ -e "$D/y.npy" ] && bad "huge.npy wrote an output"
expect 1 "big.npy.*\[2147483648,3,0,32\]" -- "$BIN" --arch resnet18 --input "$D/big.npy" --output "$D/y.npy"
expect 1 "zero.npy.*\[0,3,32,32\]" -- "$BIN" --arch resnet18 --input "$D/zero.npy" --output "$D/y.npy"
# A directory where a file belongs: said so, naming it (issue 14: was "out of memory reading 2^63 bytes").
expect 1 "adir.npy: is a directory" -- "$BIN" --arch resnet18 --input "$D/adir.npy" --output "$D/y.npy"
expect 1 "adir.npy: is a directory" -- "$BIN" --arch resnet18 --weights "$D/adir.npy" --input "$D/x.npy" --output "$D/y.npy"
expect 1 "nope.npy" -- "$BIN" --arch resnet18 --input "$D/nope.npy" --output "$D/y.npy"
expect 1 "missing.npz" -- "$BIN" --arch resnet18 --weights "$D/missing.npz" --input "$D/x.npy" --output "$D/y.npy"
expect 1 "partial.npz: tensor bn1.weight is missing" -- "$BIN" --arch resnet18_cifar --weights "$D/partial.npz" --input "$D/x.npy" --output "$D/y.npy"
expect 1 "shape \[64,3,3,3\], expected \[64,3,7,7\]" -- "$BIN" --arch resnet18 --weights "$D/partial.npz" --input "$D/x.npy" --output "$D/y.npy"
expect 1 "DP_ERR_UNSUPPORTED" -- "$BIN" --arch resnet18 --precision bf16 --backend reference --input "$D/x.npy" --output "$D/y.npy"
expect 1 "no-such-dir" -- "$BIN" --arch mobilenetv2_cifar --backend reference --input "$D/x.npy" --output "$D/no-such-dir/y.npy"

rm -rf "$D"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
