#!/usr/bin/env python3
"""Load weights exported from a torchvision model's state_dict and compare with PyTorch.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/classify.py [--arch resnet18] [--batch 8]

Builds a seeded torchvision model (no pretrained weights needed), saves its state_dict with
NumPy, loads the file with dataparallel and checks that both give the same logits.
"""
import argparse
import os
import tempfile
import time

import numpy as np
import torch
import torchvision

import dataparallel as dp


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet18", choices=["resnet18", "mobilenet_v2"])
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=64, help="input height and width")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    net = getattr(torchvision.models, args.arch)(num_classes=args.classes).eval()

    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "weights.npz")
        # state_dict() names are what the library expects; num_batches_tracked is ignored.
        np.savez(weights, **{k: v.numpy() for k, v in net.state_dict().items()})
        model = dp.Model(args.arch, weights=weights, classes=args.classes, threads=1)

    x = np.random.default_rng(args.seed).standard_normal((args.batch, 3, args.size, args.size), dtype=np.float32)
    model.infer(x)                                  # first call builds the primitives
    t0 = time.perf_counter()
    ours = model.infer(x)                           # x is read in place, not copied
    t_ours = time.perf_counter() - t0
    with torch.no_grad():
        t0 = time.perf_counter()
        ref = net(torch.from_numpy(x)).numpy()
        t_torch = time.perf_counter() - t0

    rel = float(np.abs(ours - ref).max()) / float(np.abs(ref).max())
    agree = int((ours.argmax(1) == ref.argmax(1)).sum())
    print(f"{model}")
    print(f"logits {ours.shape}: max |diff| / max |logit| = {rel:.2e}, top-1 agreement {agree}/{args.batch}")
    print(f"one batch: dataparallel {t_ours * 1e3:.1f} ms, PyTorch {t_torch * 1e3:.1f} ms (1 thread each)")
    if rel > 1e-4:
        raise SystemExit("logits differ from PyTorch by more than 1e-4")


if __name__ == "__main__":
    main()
