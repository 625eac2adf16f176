#!/usr/bin/env bash
# CIFAR-10 data through dp-bench batch: the same records as a .bin, a directory of batches and a
# cifar-10-binary.tar.gz (written by Python's tarfile, not by the library) give the same top-1
# per sample, equal to a .npy normalised independently with NumPy; broken files fail naming them.
. "$(dirname "$0")/lib.sh"
cli_begin cifar_data

# 25 records in data_batch_1 (10) + data_batch_2 (8) + test_batch (7); the same bytes as one .bin
# in that order; the archive lists its members out of order; x.npy is the normalised float data.
"$py" - "$tmp" <<'EOF'
import io, os, sys, tarfile, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(11)
labels = rng.integers(0, 10, 25, dtype=np.uint8)
pixels = rng.integers(0, 256, (25, 3072), dtype=np.uint8)
recs = np.concatenate([labels[:, None], pixels], axis=1).tobytes()
R = 3073
parts = {"data_batch_1.bin": recs[:10 * R], "data_batch_2.bin": recs[10 * R:18 * R], "test_batch.bin": recs[18 * R:]}
open(os.path.join(d, "all.bin"), "wb").write(recs)
os.mkdir(os.path.join(d, "dir"))
for name, data in parts.items():
    open(os.path.join(d, "dir", name), "wb").write(data)
with tarfile.open(os.path.join(d, "cifar-10-binary.tar.gz"), "w:gz") as t:
    for name in ["batches.meta.txt", "test_batch.bin", "data_batch_2.bin", "data_batch_1.bin"]:
        data = parts.get(name, b"airplane\n")
        info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
mean = np.array([0.4914, 0.4822, 0.4465], np.float32).reshape(1, 3, 1, 1)
std = np.array([0.2470, 0.2435, 0.2616], np.float32).reshape(1, 3, 1, 1)
x = (pixels.reshape(25, 3, 32, 32).astype(np.float32) / np.float32(255) - mean) / std
np.save(os.path.join(d, "x.npy"), x.astype(np.float32))
open(os.path.join(d, "truncated.bin"), "wb").write(recs[:-10])
bad = bytearray(recs)
bad[2 * R] = 200
open(os.path.join(d, "badlabel.bin"), "wb").write(bytes(bad))
gz = open(os.path.join(d, "cifar-10-binary.tar.gz"), "rb").read()
open(os.path.join(d, "cut.tar.gz"), "wb").write(gz[: len(gz) // 2])
EOF

common=(--arch resnet18_cifar --classes 10 --seed 5 --workers 2 --strategy sharded --quiet)
for src in all.bin dir cifar-10-binary.tar.gz; do
    expect 0 "cifar10:$src" -- "$bench" batch "${common[@]}" --data "cifar10:$tmp/$src" \
        --predictions "$tmp/p_${src%%.*}.csv" --json "$tmp/j_${src%%.*}.json"
done
expect 0 "npy" -- "$bench" batch "${common[@]}" --data "npy:$tmp/x.npy" --predictions "$tmp/p_npy.csv"
if "$py" - "$tmp" <<'EOF'
import csv, json, os, sys
d = sys.argv[1]
def top1(name):
    rows = list(csv.DictReader(open(os.path.join(d, name))))
    ids = sorted(int(r["sample_id"]) for r in rows)
    assert ids == list(range(25)), (name, ids)
    return {int(r["sample_id"]): int(r["top1"]) for r in rows}
ref = top1("p_all.csv")
for n in ["p_dir.csv", "p_cifar-10-binary.csv", "p_npy.csv"]:
    assert top1(n) == ref, n
assert len(set(ref.values())) > 1, "a constant top-1 would not test the normalisation"
for n in ["j_all.json", "j_dir.json", "j_cifar-10-binary.json"]:
    j = json.load(open(os.path.join(d, n)))
    assert j["labelled"] == 25 and j["completed"] == 25, (n, j)
EOF
then ok; else bad ".bin / directory / .tar.gz / numpy-normalised .npy disagree"; fi

expect 1 "truncated file" -- "$bench" batch "${common[@]}" --data "cifar10:$tmp/truncated.bin"
mentions "truncated.bin"
mentions "DP_ERR_FORMAT"
expect 1 "bad label byte" -- "$bench" batch "${common[@]}" --data "cifar10:$tmp/badlabel.bin"
mentions "badlabel.bin: record 2 has label byte 200"
expect 1 "cut archive" -- "$bench" batch "${common[@]}" --data "cifar10:$tmp/cut.tar.gz"
mentions "cut.tar.gz"
expect 1 "missing file" -- "$bench" batch "${common[@]}" --data "cifar10:$tmp/nope.tar.gz"
mentions "nope.tar.gz"
mentions "DP_ERR_IO"

cli_end
