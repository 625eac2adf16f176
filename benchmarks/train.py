#!/usr/bin/python3
"""Train the four architectures on Fashion-MNIST (Debian's dataset-fashion-mnist, padded to
3x32x32 as the library reads it) with PyTorch on the CPU, so that accuracy through
libdataparallel means something: every figure before this was on random weights.

  train.py [--arch LIST] [--out DIR] [--seed 0] [--steps N] [--batch 64] [--threads 2]
           [--eval-samples N] [--cache-dir DIR] [--no-cache]

For each arch: a fixed number of AdamW steps (lr 2e-3, cosine decay to 0, weight decay 5e-4,
batch 64 drawn from a seeded shuffle of the 60 000 training images), BatchNorm statistics
re-estimated over 2 048 training images at the end (a short run's running averages still lag
the weights), then top-1 on the test set (10 000 images, or --eval-samples). The default step
counts keep each model to a few minutes on 2 cores (mobilenet_v2 1 500 steps ~4 min,
mobilenetv2_cifar 500 ~7 min on a quiet Zen 5) and train far enough that few test images are
near-ties between two classes: int8's top-1 agreement with fp32 depends on that
(docs/performance.md, "int8"). Training is seeded and deterministic for a given thread count.
PyTorch's OpenMP threads wait passively (OMP_WAIT_POLICY=PASSIVE unless set): spinning threads on
a machine shared with other jobs made training ten times slower.

Writes DIR/<arch>.npz and DIR/<arch>.safetensors (state_dict(), loadable by dp-bench --weights,
dp.Model(weights=...)) and DIR/<arch>.json (test accuracy, training time, steps, seed, key).
Results are cached under --cache-dir (default $XDG_CACHE_HOME/dataparallel/train) keyed by a
hash of this script, the model and data code, the arch, seed, steps and batch size: scripts/run
trains once, later runs copy the cached files.
"""
import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fashion_mnist  # noqa: E402
from state_dict_io import save_npz, save_safetensors  # noqa: E402

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when torch first starts its threads

ARCHS = ("resnet18", "mobilenet_v2", "resnet18_cifar", "mobilenetv2_cifar")
DEFAULT_STEPS = {"resnet18": 300, "mobilenet_v2": 1500, "resnet18_cifar": 60, "mobilenetv2_cifar": 500}
BN_SAMPLES = 2048
LR, WEIGHT_DECAY = 2e-3, 5e-4
# Files whose content defines what a trained model is: a change to any of them retrains.
KEY_FILES = ("train.py", "cifar_models.py", "fashion_mnist.py", "state_dict_io.py")


def cache_key(arch, seed, steps, batch, eval_samples):
    import torch
    h = hashlib.sha256()
    for name in KEY_FILES:
        with open(os.path.join(HERE, name), "rb") as f:
            h.update(f.read())
    h.update(f"{arch} {seed} {steps} {batch} {eval_samples} torch {torch.__version__}".encode())
    return h.hexdigest()[:16]


def evaluate(model, x, y, batch=500):
    """Top-1 accuracy in percent and the predictions."""
    import torch
    pred = np.empty(len(x), np.int64)
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            pred[i:i + batch] = model(torch.from_numpy(x[i:i + batch])).argmax(1).numpy()
    return 100.0 * float((pred == y).mean()), pred


def recalibrate_bn(model, x, batch=256):
    """Replace BN running statistics by their plain average over x (momentum None)."""
    import torch
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            model(torch.from_numpy(x[i:i + batch]))
    model.eval()


def train(arch, seed, steps, batch, train_x, train_y):
    """A model trained for `steps` steps; returns (model, seconds)."""
    import torch
    import cifar_models
    torch.manual_seed(seed)
    model = cifar_models.build(arch, 10).train()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + np.cos(np.pi * s / steps)))
    order = np.random.default_rng(seed).permutation(len(train_x))
    t0 = time.time()
    for step in range(steps):
        idx = order[(step * batch + np.arange(batch)) % len(order)]
        xb, yb = torch.from_numpy(train_x[idx]), torch.from_numpy(train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % max(1, steps // 10) == 0:
            print(f"  {arch} step {step + 1}/{steps} loss {loss.item():.3f} [{time.time() - t0:.0f} s]",
                  file=sys.stderr, flush=True)
    recalibrate_bn(model, train_x[order[:BN_SAMPLES]])
    return model, time.time() - t0


def load_avg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def run(a):
    import torch
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    train_x = train_y = None
    test_x, test_y = fashion_mnist.tensors("test", a.source, a.eval_samples)
    results = []
    for arch in a.arch:
        steps = a.steps or DEFAULT_STEPS[arch]
        key = cache_key(arch, a.seed, steps, a.batch, a.eval_samples)
        cdir = os.path.join(a.cache_dir, key)
        meta_path = os.path.join(cdir, arch + ".json")
        if a.no_cache or not os.path.exists(meta_path):
            if train_x is None:
                train_x, train_y = fashion_mnist.tensors("train", a.source)
            print(f"train.py: training {arch} ({steps} steps of {a.batch}, seed {a.seed}, "
                  f"{a.threads} threads)", file=sys.stderr, flush=True)
            model, seconds = train(arch, a.seed, steps, a.batch, train_x, train_y)
            acc, _ = evaluate(model, test_x, test_y)
            os.makedirs(cdir, exist_ok=True)
            save_npz(model, os.path.join(cdir, arch + ".npz"))
            save_safetensors(model, os.path.join(cdir, arch + ".safetensors"))
            meta = {"arch": arch, "seed": a.seed, "steps": steps, "batch": a.batch, "threads": a.threads,
                    "train_seconds": round(seconds, 1), "test_accuracy_pct": acc, "test_samples": len(test_y),
                    "data": "fashion-mnist", "normalize": {"mean": fashion_mnist.MEAN, "std": fashion_mnist.STD},
                    "key": key, "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
                    "load_avg": load_avg()}
            with open(meta_path + ".tmp", "w") as f:     # the .json last: it marks a complete entry
                json.dump(meta, f, indent=1)
            os.replace(meta_path + ".tmp", meta_path)
            cached = False
        else:
            cached = True
        for ext in (".npz", ".safetensors", ".json"):
            shutil.copyfile(os.path.join(cdir, arch + ext), os.path.join(a.out, arch + ext))
        with open(meta_path) as f:
            meta = json.load(f)
        meta["cached"] = cached
        results.append(meta)
    print("| arch | steps x batch | training time s | test top-1 % (samples) | cached |")
    for m in results:
        print(f"| {m['arch']} | {m['steps']} x {m['batch']} | {m['train_seconds']:.0f} | "
              f"{m['test_accuracy_pct']:.2f} ({m['test_samples']}) | {'yes' if m['cached'] else 'no'} |")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def archs(s):
        v = s.split(",")
        bad = [x for x in v if x not in ARCHS]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown arch {bad[0]!r} (known: {', '.join(ARCHS)})")
        return v

    def positive(s):
        v = int(s)
        if v < 1:
            raise argparse.ArgumentTypeError(f"must be >= 1, got {s}")
        return v

    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dataparallel", "train")
    p.add_argument("--arch", type=archs, default=list(ARCHS), help="comma-separated (default: all four)")
    p.add_argument("--out", default="models", help="where the weights and JSON go (default models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=positive, default=None,
                   help="steps for every arch (default per arch: %s)" %
                   ", ".join(f"{k} {v}" for k, v in DEFAULT_STEPS.items()))
    p.add_argument("--batch", type=positive, default=64)
    p.add_argument("--threads", type=positive, default=2, help="torch threads (default 2)")
    p.add_argument("--eval-samples", type=positive, default=None, help="test images to score (default all 10 000)")
    p.add_argument("--source", default=fashion_mnist.DEFAULT_DIR, help="directory of the Fashion-MNIST IDX files")
    p.add_argument("--cache-dir", default=cache, help=f"(default {cache})")
    p.add_argument("--no-cache", action="store_true", help="train even when a cached result exists")
    a = p.parse_args(argv)
    try:
        return run(a)
    except (OSError, ValueError) as e:
        print(f"train.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
