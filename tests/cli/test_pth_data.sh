#!/usr/bin/env bash
# PyTorch's own files through dp-bench: a torch.save(state_dict) .pth as --weights (infer and
# batch; the same predictions as its .npz), and the CIFAR-10 python version (pickled batches
# written by Python's pickle at protocol 2, as a directory and as cifar-10-python.tar.gz) as
# --data cifar10:, giving the same top-1 per sample as the binary version of the same records.
# A whole torch.save(model) loads too; a batch pickling os.system is refused, naming it.
. "$(dirname "$0")/lib.sh"
cli_begin pth_data

PYTHONPATH="$DP_SOURCE_DIR/benchmarks${PYTHONPATH:+:$PYTHONPATH}" "$py" - "$tmp" <<'EOF'
import os, pickle, sys, tarfile
import numpy as np, torch
import cifar_models
from state_dict_io import save_npz
d = sys.argv[1]
rng = np.random.default_rng(5)
labels = rng.integers(0, 10, 20)
pixels = rng.integers(0, 256, (20, 3072), dtype=np.uint8)
# Seeded models give noise images one class; a classifier spread over these images' features
# (centred, scaled) gives many, so that the predictions tell weights and samples apart.
model = cifar_models.seeded("resnet18_cifar", 10, seed=3)
mean = np.array([0.4914, 0.4822, 0.4465]).reshape(1, 3, 1, 1)
std = np.array([0.2470, 0.2435, 0.2616]).reshape(1, 3, 1, 1)
x = torch.tensor((pixels.reshape(20, 3, 32, 32) / 255.0 - mean) / std, dtype=torch.float32)
feats = []
hook = model.linear.register_forward_hook(lambda mod, inp, out: feats.append(inp[0]))
with torch.no_grad():
    model(x)
    hook.remove()
    w = torch.randn(10, feats[0].shape[1], generator=torch.Generator().manual_seed(7)) / (feats[0].std(0) + 1e-6)
    model.linear.weight.copy_(w)
    model.linear.bias.copy_(-(w @ feats[0].mean(0)))
torch.save(model.state_dict(), os.path.join(d, "model.pth"))
save_npz(model, os.path.join(d, "model.npz"))
torch.save(model, os.path.join(d, "whole.pth"))
open(os.path.join(d, "all.bin"), "wb").write(np.concatenate([labels[:, None].astype(np.uint8), pixels], 1).tobytes())
py = os.path.join(d, "cifar-10-batches-py")
os.mkdir(py)
for name, lo, hi in [("data_batch_1", 0, 8), ("data_batch_2", 8, 15), ("test_batch", 15, 20)]:
    batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in labels[lo:hi]], b"data": pixels[lo:hi],
             b"filenames": [b"img%d.png" % i for i in range(lo, hi)]}
    with open(os.path.join(py, name), "wb") as f:
        pickle.dump(batch, f, protocol=2)
with open(os.path.join(py, "batches.meta"), "wb") as f:
    pickle.dump({b"label_names": [b"airplane"]}, f, protocol=2)
with tarfile.open(os.path.join(d, "cifar-10-python.tar.gz"), "w:gz") as t:
    t.add(py, arcname="cifar-10-batches-py")
os.mkdir(os.path.join(d, "hostile"))
with open(os.path.join(d, "hostile", "data_batch_1"), "wb") as f:
    f.write(b"\x80\x02cos\nsystem\nX\x0b\x00\x00\x00touch pwned\x85R.")
EOF
[ -f "$tmp/model.pth" ] && ok || bad "fixtures were not written"

expect 0 "infer --weights model.pth" -- "$bench" infer --arch resnet18_cifar --classes 10 --weights "$tmp/model.pth" \
    --seconds 0.2 --warmup 0.05
mentions "img/s"

common=(--arch resnet18_cifar --classes 10 --workers 2 --strategy uniform --quiet)
for w in pth npz; do
    for src in all.bin cifar-10-batches-py cifar-10-python.tar.gz; do
        expect 0 "batch $w $src" -- "$bench" batch "${common[@]}" --weights "$tmp/model.$w" --data "cifar10:$tmp/$src" \
            --predictions "$tmp/p_${w}_${src%%.*}.csv" --json "$tmp/j_${w}_${src%%.*}.json"
    done
done
if "$py" - "$tmp" <<'EOF'
import csv, json, os, sys
d = sys.argv[1]
def top1(name):
    rows = list(csv.DictReader(open(os.path.join(d, name))))
    assert sorted(int(r["sample_id"]) for r in rows) == list(range(20)), name
    return {int(r["sample_id"]): int(r["top1"]) for r in rows}
ref = top1("p_npz_all.csv")
assert len(set(ref.values())) > 1, "a constant top-1 would not tell the weights or the data apart"
for w in ["pth", "npz"]:
    for src in ["all", "cifar-10-batches-py", "cifar-10-python"]:
        assert top1(f"p_{w}_{src}.csv") == ref, (w, src)
        j = json.load(open(os.path.join(d, f"j_{w}_{src}.json")))
        assert j["labelled"] == 20 and j["completed"] == 20, (w, src, j)
EOF
then ok; else bad ".pth/.npz weights or binary/python CIFAR-10 disagree"; fi

expect 0 "whole pickled model" -- "$bench" batch "${common[@]}" --weights "$tmp/whole.pth" --data "cifar10:$tmp/all.bin" \
    --predictions "$tmp/p_whole.csv"
cmp -s "$tmp/p_whole.csv" "$tmp/p_pth_all.csv" && ok || bad "torch.save(model) predicts otherwise than its state_dict"
cd "$tmp" || exit 1 # so that a pickle that ran "touch pwned" would leave it here
expect 1 "hostile batch" -- "$bench" batch "${common[@]}" --data "cifar10:$tmp/hostile"
mentions "hostile/data_batch_1: pickle offset 2: global os.system is not allowed"
[ ! -e "$tmp/pwned" ] && ok || bad "the hostile pickle ran something"

cli_end
