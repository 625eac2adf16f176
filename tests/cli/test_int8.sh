#!/usr/bin/env bash
# int8 from the command line: dp-bench calibrate writes a file that --precision int8
# --calibration reads; dp-infer's int8 logits are close to its fp32 ones and agree between the
# onednn and reference backends; int8 runs oneDNN's int8 kernels (none `ref:`) with oneDNN capped
# to AVX2 too (the Zen 2 CI machines); int8 without a calibration is bad usage, a file for another
# arch or weights a failed run naming the file.
. "$(dirname "$0")/lib.sh"
cli_begin int8

infer="$DP_BIN_DIR/dp-infer"
"$py" -c "import numpy as np; np.save('$tmp/x.npy', np.random.default_rng(1).uniform(-1, 1, (4, 3, 32, 32)).astype(np.float32))"
expect 0 "calibrate" -- "$bench" calibrate --arch mobilenet_v2 --seed 5 --data "npy:$tmp/x.npy" --out "$tmp/m.cal"
mentions "over 4 samples"
expect 0 "calibrate, percentile" -- "$bench" calibrate --arch mobilenet_v2 --seed 5 --data "npy:$tmp/x.npy" --samples 2 \
    --percentile 99.9 --out "$tmp/p.cal"
grep -q "^method percentile 99.9$" "$tmp/p.cal" && ok || bad "p.cal lacks its method"
expect 0 "fp32" -- "$infer" --arch mobilenet_v2 --seed 5 --input "$tmp/x.npy" --output "$tmp/f.npy"
for be in onednn reference; do
    expect 0 "int8 $be" -- "$infer" --arch mobilenet_v2 --seed 5 --precision int8 --calibration "$tmp/m.cal" \
        --backend "$be" --input "$tmp/x.npy" --output "$tmp/q_$be.npy"
done
if "$py" - "$tmp" <<'PY'; then ok; else bad "int8 logits (above)"; fi
import sys, numpy as np
d = sys.argv[1]
f, o, r = (np.load(f"{d}/{n}.npy") for n in ("f", "q_onednn", "q_reference"))
scale = np.abs(f).max()
print(f"int8 vs fp32 {np.abs(o - f).max() / scale:.4f}, onednn vs reference int8 {np.abs(o - r).max() / scale:.5f}")
sys.exit(0 if np.abs(o - f).max() < 0.1 * scale and np.abs(o - r).max() < 0.03 * scale else 1)
PY
# AVX2 (no VNNI): int8 runs, every layer on a jit kernel; batch 2 so the 1x1-map convs are built
DNNL_MAX_CPU_ISA=AVX2 expect 0 "int8 capped to AVX2" -- "$bench" infer --arch mobilenet_v2 --seed 5 --precision int8 \
    --calibration "$tmp/m.cal" --batch 2 --seconds 0.05 --warmup 0 --profile
mentions "jit_uni_int8_1x1:avx2"
if grep -q "ref:" "$tmp/out"; then bad "a layer runs oneDNN's ref: under AVX2"; cat "$tmp/out"; else ok; fi
expect 2 "int8 without a calibration" -- "$infer" --arch mobilenet_v2 --precision int8 --input "$tmp/x.npy" \
    --output "$tmp/y.npy"
mentions "--calibration FILE"
expect 1 "calibration of other weights" -- "$infer" --arch mobilenet_v2 --seed 6 --precision int8 \
    --calibration "$tmp/m.cal" --input "$tmp/x.npy" --output "$tmp/y.npy"
mentions "m.cal: calibration was measured on other weights"
expect 1 "calibration of another arch" -- "$bench" infer --arch resnet18 --precision int8 --calibration "$tmp/m.cal" \
    --seconds 0.01 --warmup 0
mentions "m.cal: calibration is for arch mobilenet_v2"
printf 'dp-calibration 1\narch x\n' >"$tmp/bad.cal"
expect 1 "a cut-off file" -- "$infer" --arch mobilenet_v2 --precision int8 --calibration "$tmp/bad.cal" \
    --input "$tmp/x.npy" --output "$tmp/y.npy"
mentions "bad.cal:3"
cli_end
