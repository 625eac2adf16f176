"""A trained model gives the same answers through libdataparallel as through PyTorch: a resnet18
trained for a few seconds on Fashion-MNIST by benchmarks/train.py, the first 2 000 test images,
dp-bench batch (2 workers, fp32, --data fashion-mnist:...) against PyTorch on the same weights:
identical top-1 on >= 99.9 % of the images and accuracy_pct equal to 0.1 percentage point.
The full test set figure is in docs/performance.md ("Accuracy")."""
import csv
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
from parity_util import BIN_DIR, TMP, torch_from_npz, trained_weights  # noqa: E402
import fashion_mnist  # noqa: E402
import torch  # noqa: E402

N = 2000


def test_trained_resnet18_matches_pytorch():
    torch.set_num_threads(2)
    weights, meta = trained_weights("resnet18")
    assert meta["test_accuracy_pct"] > 50, meta   # trained: far from the 10 % of chance
    x, y = fashion_mnist.tensors("test", samples=N)
    with torch.inference_mode():
        ref = torch_from_npz("resnet18", weights)(torch.from_numpy(x)).argmax(1).numpy()
    ref_acc = 100.0 * float((ref == y).mean())
    pred_csv, js = os.path.join(TMP, "trained_pred.csv"), os.path.join(TMP, "trained.json")
    cmd = [os.path.join(BIN_DIR, "dp-bench"), "batch", "--arch", "resnet18", "--weights", weights, "--workers", "2",
           "--strategy", "dynamic", "--data", "fashion-mnist:" + fashion_mnist.DEFAULT_DIR, "--samples", str(N),
           "--predictions", pred_csv, "--json", js, "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(pred_csv) as f:
        rows = {int(row["sample_id"]): int(row["top1"]) for row in csv.DictReader(f)}
    ours = np.array([rows[i] for i in range(N)])
    with open(js) as f:
        summary = json.load(f)
    agree = float((ours == ref).mean())
    print(f"PyTorch top-1 {ref_acc:.2f} %, ours {summary['accuracy_pct']:.2f} %, agreement {100 * agree:.2f} %")
    assert summary["labelled"] == N and summary["completed"] == N
    assert agree >= 0.999, f"{int((ours != ref).sum())} of {N} predictions differ"
    assert abs(summary["accuracy_pct"] - ref_acc) <= 0.1, (summary["accuracy_pct"], ref_acc)
    assert abs(summary["accuracy_pct"] - 100.0 * float((ours == y).mean())) < 1e-9


def test_accuracy_script_measures_both_precisions():
    """benchmarks/accuracy.py (docs/performance.md's accuracy table) on the same weights: its rows
    say what dp-bench and PyTorch said, and its int8 is a trained model's int8 (far above chance)."""
    import accuracy
    weights, _ = trained_weights("resnet18")
    out, n = os.path.join(TMP, "accuracy"), 300
    argv = ["--models", os.path.dirname(weights), "--arch", "resnet18", "--samples", str(n),
            "--calib", "64", "--bench", os.path.join(BIN_DIR, "dp-bench"), "--out", out]
    assert accuracy.main(argv) == 0
    with open(os.path.join(out, "resnet18.json")) as f:
        row = json.load(f)
    assert row["samples"] == n
    assert row["fp32_same_as_pytorch"] >= 0.999 * n, row
    assert row["int8_top1_pct"] > 40 and row["int8_agreement"] > 0.8 * n, row
    assert abs(row["int8_minus_fp32_pp"] - (row["int8_top1_pct"] - row["fp32_top1_pct"])) < 1e-9
    import plot  # the summary (and so the report) shows the row
    md = []
    plot.accuracy_table([], os.path.dirname(out), md)
    lines = "\n".join(md).splitlines()
    assert any(line.startswith("| resnet18 | ") and f"{row['int8_agreement']} / {n}" in line for line in lines), md
