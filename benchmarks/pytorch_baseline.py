#!/usr/bin/python3
"""PyTorch baseline for libdataparallel: the same models and the same jobs, done the way a PyTorch
user would, so every number of ours has a side-by-side PyTorch number measured on the same machine.

  infer   time back-to-back batches of one model (img/s), eager or jit-frozen
          (same fields as `dp-bench infer --json`).

Models: torchvision resnet18 / mobilenet_v2 (random weights, num_classes=K) and the pytorch-cifar
ResNet18 / MobileNetV2 defined below exactly as DESIGN.md section 3 describes them (same
state_dict() names as libdataparallel expects). Run with /usr/bin/python3 (it has torch).
"""
import argparse
import json
import os
import platform
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ARCHS = ("resnet18", "mobilenet_v2", "resnet18_cifar", "mobilenetv2_cifar")


# ---- pytorch-cifar models (parameter names are the contract of DESIGN.md section 3) ----

class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18Cifar(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        in_planes = 64
        for i, (planes, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), 1):
            blocks = [BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)]
            setattr(self, "layer%d" % i, nn.Sequential(*blocks))
            in_planes = planes
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        # Global average pool (pytorch-cifar's avg_pool2d(out, 4) is the same thing at 32x32).
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


class InvertedResidual(nn.Module):
    def __init__(self, in_planes, out_planes, expansion, stride):
        super().__init__()
        self.stride = stride
        planes = expansion * in_planes
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, groups=planes, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride == 1 and in_planes != out_planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, bias=False),
                                          nn.BatchNorm2d(out_planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


class MobileNetV2Cifar(nn.Module):
    # (expansion, out_planes, num_blocks, stride)
    cfg = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        layers, in_planes = [], 32
        for expansion, out_planes, n, stride in self.cfg:
            for s in [stride] + [1] * (n - 1):
                layers.append(InvertedResidual(in_planes, out_planes, expansion, s))
                in_planes = out_planes
        self.layers = nn.Sequential(*layers)
        self.conv2 = nn.Conv2d(320, 1280, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(1280)
        self.linear = nn.Linear(1280, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.relu(self.bn2(self.conv2(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def build_model(arch, classes=10, seed=0):
    """A seeded, randomly initialised model in eval mode."""
    import torchvision
    torch.manual_seed(seed)
    if arch == "resnet18":
        model = torchvision.models.resnet18(num_classes=classes)
    elif arch == "mobilenet_v2":
        model = torchvision.models.mobilenet_v2(num_classes=classes)
    elif arch == "resnet18_cifar":
        model = ResNet18Cifar(classes)
    elif arch == "mobilenetv2_cifar":
        model = MobileNetV2Cifar(classes)
    else:
        raise ValueError("unknown arch %r (expected one of %s)" % (arch, ", ".join(ARCHS)))
    return model.eval()


def prepare(model, mode, example):
    """eager: the module as is; jit: scripted (traced if scripting fails) and frozen."""
    if mode == "eager":
        return model
    with torch.inference_mode(False), torch.no_grad():
        try:
            scripted = torch.jit.script(model)
        except Exception:  # torchvision models script; keep tracing as the fallback
            scripted = torch.jit.trace(model, example)
        return torch.jit.freeze(scripted.eval())


def machine():
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__}


def cmd_infer(args):
    torch.set_num_threads(args.threads)
    model = build_model(args.arch, args.classes, args.seed)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    model = prepare(model, args.mode, x)
    with torch.inference_mode():
        t_end = time.perf_counter() + args.warmup
        while True:  # at least one warm-up call (jit specialises on the first runs)
            model(x)
            if time.perf_counter() >= t_end:
                break
        iters = 0
        t0 = time.perf_counter()
        t_end = t0 + args.seconds
        while True:
            model(x)
            iters += 1
            now = time.perf_counter()
            if now >= t_end:
                break
        elapsed = now - t0
    res = {
        "engine": "pytorch", "arch": args.arch, "batch": args.batch, "threads": args.threads,
        "mode": args.mode, "classes": args.classes, "size": args.size, "iterations": iters,
        "seconds": elapsed, "img_per_s": iters * args.batch / elapsed,
        "ms_per_batch": 1000.0 * elapsed / iters, "machine": machine(),
        "command": " ".join([sys.executable] + sys.argv),
    }
    print("pytorch %s %s batch %d threads %d: %.1f img/s (%.3f ms/batch, %d iterations)" % (
        args.arch, args.mode, args.batch, args.threads, res["img_per_s"], res["ms_per_batch"], iters))
    if args.json:
        write_json(args.json, res)
    return 0


def write_json(path, obj):
    text = json.dumps(obj, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w") as f:
            f.write(text)


def positive_int(s):
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1, got %s" % s)
    return v


def nonneg_float(s):
    v = float(s)
    if not v >= 0:
        raise argparse.ArgumentTypeError("must be >= 0, got %s" % s)
    return v


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    pi = sub.add_parser("infer", help="time back-to-back batches (img/s)")
    pi.add_argument("--arch", choices=ARCHS, required=True)
    pi.add_argument("--batch", type=positive_int, default=1)
    pi.add_argument("--threads", type=positive_int, default=1)
    pi.add_argument("--mode", choices=("eager", "jit"), default="jit")
    pi.add_argument("--seconds", type=nonneg_float, default=5.0)
    pi.add_argument("--warmup", type=nonneg_float, default=1.0)
    pi.add_argument("--classes", type=positive_int, default=10)
    pi.add_argument("--size", type=int, default=32, help="input height and width (>= 32)")
    pi.add_argument("--seed", type=int, default=0)
    pi.add_argument("--json", help="write the result as JSON here ('-' = stdout)")
    pi.set_defaults(func=cmd_infer)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if getattr(args, "size", 32) < 32:
        parser().error("--size must be >= 32")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
