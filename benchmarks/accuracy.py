#!/usr/bin/python3
"""Does a trained model give the same answers through libdataparallel as through PyTorch, and what
does int8 cost? Issue 16's accuracy figures, measured end to end on the Fashion-MNIST test set.

  accuracy.py [--models DIR] [--arch LIST] [--bench PATH] [--samples N] [--calib N]
              [--percentile P] [--workers N] [--threads T] [--out DIR]

For each arch with DIR/<arch>.npz (benchmarks/train.py writes them):
  1. PyTorch's top-1 predictions (fp32, eval mode) on the test images;
  2. ours in fp32: `dp-bench batch --data fashion-mnist:... --predictions` — the number of images
     whose top-1 equals PyTorch's, and the accuracy of each;
  3. `dp-bench calibrate` over the first --calib *training* images (min/max, or --percentile),
     then `dp-bench batch --precision int8 --calibration`: int8 accuracy, its difference from our
     fp32, and the top-1 agreement of int8 with our fp32.
Prints a markdown table with issue 16's targets beside each figure (identical top-1 on >= 99.9 %
of the images, int8 within 0.5 pp of fp32, agreement >= 99 %); --out DIR also writes each row as
DIR/<arch>.json (scripts/run does, and benchmarks/plot.py puts the table in its summary).
Exit status 0 when every run completed (whether targets are met is in the table), 1 otherwise.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fashion_mnist  # noqa: E402
from train import ARCHS  # noqa: E402  (the archs train.py trains)

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as train.py: spinning torch threads crawl on a shared machine


def torch_predictions(arch, weights, x, threads):
    import torch
    import cifar_models
    from state_dict_io import load_npz
    torch.set_num_threads(threads)
    model = load_npz(cifar_models.build(arch, 10), weights).eval()
    with torch.inference_mode():
        return np.concatenate([model(torch.from_numpy(x[i:i + 500])).argmax(1).numpy()
                               for i in range(0, len(x), 500)])


def run_bench(args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()[-400:]}")


def our_predictions(a, arch, weights, n, tmp, precision, calibration=None):
    out = os.path.join(tmp, f"{arch}_{precision}.csv")
    cmd = [a.bench, "batch", "--arch", arch, "--weights", weights, "--data", "fashion-mnist:" + a.source,
           "--samples", str(n), "--strategy", "dynamic", "--workers", str(a.workers), "--max-batch", "64",
           "--precision", precision, "--predictions", out, "--quiet"]
    if calibration:
        cmd += ["--calibration", calibration]
    run_bench(cmd)
    with open(out) as f:
        rows = {int(r["sample_id"]): int(r["top1"]) for r in csv.DictReader(f)}
    if len(rows) != n:
        raise RuntimeError(f"{arch} {precision}: {len(rows)} predictions for {n} images")
    return np.array([rows[i] for i in range(n)])


def measure(a, arch, x, y, tmp):
    weights = os.path.join(a.models, arch + ".npz")
    n = len(y)
    pct = lambda p: 100.0 * float((p == y).mean())  # noqa: E731
    ref = torch_predictions(arch, weights, x, a.threads)
    fp32 = our_predictions(a, arch, weights, n, tmp, "fp32")
    cal = os.path.join(tmp, arch + ".cal")
    cmd = [a.bench, "calibrate", "--arch", arch, "--weights", weights, "--samples", str(a.calib),
           "--data", "fashion-mnist:" + os.path.join(a.source, "train-images-idx3-ubyte.gz"), "--out", cal]
    if a.percentile is not None:
        cmd += ["--percentile", str(a.percentile)]
    run_bench(cmd)
    int8 = our_predictions(a, arch, weights, n, tmp, "int8", cal)
    row = {"arch": arch, "samples": n, "calibration": f"min/max over {a.calib}" if a.percentile is None
           else f"percentile {a.percentile} over {a.calib}",
           "pytorch_top1_pct": pct(ref), "fp32_top1_pct": pct(fp32), "fp32_same_as_pytorch": int((fp32 == ref).sum()),
           "int8_top1_pct": pct(int8), "int8_agreement": int((int8 == fp32).sum())}
    row["int8_minus_fp32_pp"] = row["int8_top1_pct"] - row["fp32_top1_pct"]
    return row


def table(rows):
    ok = lambda c: "met" if c else "**missed**"  # noqa: E731
    lines = ["| arch | PyTorch top-1 % | ours fp32 top-1 % | ours = PyTorch (>= 99.9 %) | int8 top-1 % "
             "| int8 - fp32 (<= 0.5 pp) | int8 agrees with fp32 (>= 99 %) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        n, same, agree = r["samples"], r["fp32_same_as_pytorch"], r["int8_agreement"]
        lines.append(f"| {r['arch']} | {r['pytorch_top1_pct']:.2f} | {r['fp32_top1_pct']:.2f} | {same} / {n} "
                     f"({100 * same / n:.2f} %, {ok(same >= 0.999 * n)}) | {r['int8_top1_pct']:.2f} | "
                     f"{r['int8_minus_fp32_pp']:+.2f} pp ({ok(abs(r['int8_minus_fp32_pp']) <= 0.5)}) | "
                     f"{agree} / {n} ({100 * agree / n:.2f} %, {ok(agree >= 0.99 * n)}) |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="models", help="directory of <arch>.npz from train.py (default models)")
    p.add_argument("--arch", default=",".join(ARCHS), help="comma-separated (default: all four)")
    p.add_argument("--bench", default="build/bin/dp-bench", help="dp-bench to run (default build/bin/dp-bench)")
    p.add_argument("--samples", type=int, default=None, help="test images scored (default all 10 000)")
    p.add_argument("--calib", type=int, default=512, help="training images calibrated on (default 512)")
    p.add_argument("--percentile", type=float, default=None, help="calibrate with this percentile (default min/max)")
    p.add_argument("--workers", type=int, default=2, help="dp-bench workers (default 2; the arithmetic of a "
                   "sample does not depend on them)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--source", default=fashion_mnist.DEFAULT_DIR, help="directory of the Fashion-MNIST IDX files")
    p.add_argument("--out", help="also write each arch's row as OUT/<arch>.json")
    a = p.parse_args(argv)
    a.arch = a.arch.split(",")
    unknown = sorted(set(a.arch) - set(ARCHS))
    if unknown:
        p.error(f"--arch: unknown {', '.join(unknown)} (known: {', '.join(ARCHS)})")
    try:
        x, y = fashion_mnist.tensors("test", a.source, a.samples)
        rows = []
        with tempfile.TemporaryDirectory(prefix="dp-accuracy-") as tmp:
            for arch in a.arch:
                print(f"accuracy.py: {arch} ...", file=sys.stderr, flush=True)
                rows.append(measure(a, arch, x, y, tmp))
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        print(f"accuracy.py: {e}", file=sys.stderr)
        return 1
    print(table(rows))
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        for r in rows:
            with open(os.path.join(a.out, r["arch"] + ".json"), "w") as f:
                json.dump(r, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
