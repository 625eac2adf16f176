#!/usr/bin/python3
"""Which part of int8 costs top-1 agreement with fp32? A PyTorch simulation of the library's int8
arithmetic (docs/models.md, "int8": BN folded, per-output-channel symmetric s8 weights, symmetric
u8/s8 activations with ranges from a calibration pass, the residual add before requantizing) on
torchvision's mobilenet_v2, with parts of it left in higher precision, scored on the
Fashion-MNIST test set against the same weights in fp32.

  int8_sensitivity.py WEIGHTS.npz [--samples N] [--calib N] [--variants LIST] [--threads T]

It answers "would keeping layer kind X in fp32 reach the 99 % agreement target?" before anyone
builds that into both backends. It is a simulation: fake quantization in float (values are
rounded to the integer grid and scaled back), not the engine, so figures can differ from
dp-bench's by a few samples; the "int8" row is the check (docs/performance.md compares it with
the engine's). Variants (--variants, comma-separated, default all):
  int8          the library's scheme, min/max ranges
  w-first, w-depthwise, w-first+depthwise
                those convs' weights kept fp32 (the first conv then also reads the unquantized
                input); their outputs are still quantized, as an int8 consumer would read them
  a-input, a-depthwise, a-project, a-depthwise+project
                those activations never quantized (an upper bound: an int8 consumer could not
                read them unquantized)
  pct99.99, mse ranges at the 99.99th percentile of |x|, or minimizing the quantization MSE
  bf16          every weight and activation rounded to bfloat16
Also prints the fp32 top-1 margin (largest minus second logit) of the samples int8 changes.
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fashion_mnist  # noqa: E402

VARIANTS = ("int8", "w-first", "w-depthwise", "w-first+depthwise", "a-input", "a-depthwise", "a-project",
            "a-depthwise+project", "pct99.99", "mse", "bf16")


def graph(model):
    """mobilenet_v2 as the library's graph: dicts of folded weights, bias, act, input, residual, kind."""
    import torch
    nodes = []

    def conv(c, bn, relu6, inp, res, kind):
        f = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
        nodes.append(dict(w=(c.weight.detach() * f.view(-1, 1, 1, 1)), b=(bn.bias - bn.running_mean * f).detach(),
                          stride=c.stride, pad=c.padding, groups=c.groups, relu6=relu6, inp=inp, res=res, kind=kind))
        return len(nodes) - 1

    f = model.features
    x = conv(f[0][0], f[0][1], True, -1, -1, "first")
    for block in f[1:-1]:
        mods, h = list(block.conv), x
        if len(mods) == 4:
            h = conv(mods[0][0], mods[0][1], True, h, -1, "expand")
            mods = mods[1:]
        h = conv(mods[0][0], mods[0][1], True, h, -1, "depthwise")
        x = conv(mods[1], mods[2], False, h, x if block.use_res_connect else -1, "project")
    conv(f[-1][0], f[-1][1], True, x, -1, "last")
    return nodes


def forward(nodes, fc, x, ranges=None, wkeep=(), akeep=(), bf16=False, observe=None):
    """Logits; ranges None is fp32. wkeep / akeep: node indices (-1: the input) whose weights /
    outputs stay fp32."""
    import torch
    quant = ranges is not None

    def q(v, i, u8):
        if bf16:
            return v.bfloat16().float()
        if not quant or i in akeep or ranges[i] <= 0:
            return v
        levels = 255.0 if u8 else 127.0
        s = ranges[i] / levels
        return torch.clamp(torch.round(v / s), 0 if u8 else -128, levels) * s

    xin = q(x, -1, False)
    outs = []
    for i, n in enumerate(nodes):
        src = outs[n["inp"]] if n["inp"] >= 0 else (x if i in wkeep else xin)
        w = n["w"]
        if bf16:
            w = w.bfloat16().float()
        elif quant and i not in wkeep:
            sw = w.abs().flatten(1).amax(1).clamp_min(1e-30).view(-1, 1, 1, 1) / 127
            w = torch.round(w / sw) * sw
        y = torch.nn.functional.conv2d(src, w, n["b"], n["stride"], n["pad"], 1, n["groups"])
        if n["res"] >= 0:
            y = y + outs[n["res"]]
        if n["relu6"]:
            y = y.clamp(0, 6)
        if observe:
            observe(i, y)
        # u8 after ReLU6; a conv adding a residual writes in the residual's type
        u8 = n["relu6"] if n["res"] < 0 else nodes[n["res"]]["relu6"]
        outs.append(q(y, i, u8))
    return fc(outs[-1].mean((2, 3)))


def calibrate(nodes, fc, x):
    """Per node (and -1, the input): min/max range, 99.99th percentile and MSE-optimal range."""
    import torch
    seen = {-1: [x.abs().flatten()]}
    forward(nodes, fc, x, observe=lambda i, y: seen.setdefault(i, []).append(y.abs().flatten()))
    mm, pct, mse = {}, {}, {}
    for i, parts in seen.items():
        v = torch.cat(parts).numpy()
        mm[i] = float(v.max())
        pct[i] = float(np.percentile(v, 99.99))
        levels = 255.0 if i >= 0 and (nodes[i]["relu6"] if nodes[i]["res"] < 0 else nodes[nodes[i]["res"]]["relu6"]) \
            else 127.0
        hist, edges = np.histogram(v, bins=2048, range=(0, mm[i] or 1))
        mid = (edges[:-1] + edges[1:]) / 2
        errs = [(float((hist * (mid - np.minimum(np.round(mid / (r / levels)), levels) * (r / levels)) ** 2).sum()), r)
                for r in np.linspace(0.05, 1.0, 96) * (mm[i] or 1)]
        mse[i] = min(errs)[1]
    return mm, pct, mse


def run(a):
    import torch
    import cifar_models
    torch.set_num_threads(a.threads)
    from state_dict_io import load_npz
    model = load_npz(cifar_models.build("mobilenet_v2", 10), a.weights).eval()
    nodes, fc = graph(model), model.classifier[1]
    kinds = lambda *ks: {i for i, n in enumerate(nodes) if n["kind"] in ks}  # noqa: E731
    with torch.inference_mode():
        cx, _ = fashion_mnist.tensors("train", a.source, a.calib)
        mm, pct, mse = calibrate(nodes, fc, torch.from_numpy(cx))
        x, y = fashion_mnist.tensors("test", a.source, a.samples)
        x = torch.from_numpy(x)

        def logits(**kw):
            return torch.cat([forward(nodes, fc, x[i:i + 500], **kw) for i in range(0, len(x), 500)]).numpy()

        ref = logits()
        top = np.sort(ref, 1)
        margin = top[:, -1] - top[:, -2]
        p32 = ref.argmax(1)
        print(f"fp32: top-1 {100 * (p32 == y).mean():.2f} %, median margin {np.median(margin):.2f} ({len(y)} samples)")
        spec = {"int8": dict(ranges=mm), "w-first": dict(ranges=mm, wkeep=kinds("first")),
                "w-depthwise": dict(ranges=mm, wkeep=kinds("depthwise")),
                "w-first+depthwise": dict(ranges=mm, wkeep=kinds("first", "depthwise")),
                "a-input": dict(ranges=mm, akeep={-1}), "a-depthwise": dict(ranges=mm, akeep=kinds("depthwise")),
                "a-project": dict(ranges=mm, akeep=kinds("project")),
                "a-depthwise+project": dict(ranges=mm, akeep=kinds("depthwise", "project")),
                "pct99.99": dict(ranges=pct), "mse": dict(ranges=mse), "bf16": dict(ranges=mm, bf16=True)}
        print("| variant | top-1 % | agreement with fp32 % | median fp32 margin of changed samples |")
        print("|---|---|---|---|")
        for v in a.variants:
            p = logits(**spec[v]).argmax(1)
            changed = p != p32
            med = f"{np.median(margin[changed]):.2f}" if changed.any() else "-"
            print(f"| {v} | {100 * (p == y).mean():.2f} | {100 * (1 - changed.mean()):.2f} | {med} |", flush=True)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def variants(s):
        v = s.split(",")
        bad = [x for x in v if x not in VARIANTS]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown variant {bad[0]!r} (known: {', '.join(VARIANTS)})")
        return v

    p.add_argument("weights", help="mobilenet_v2 state_dict as .npz (benchmarks/train.py writes one)")
    p.add_argument("--samples", type=int, default=None, help="test images scored (default all 10 000)")
    p.add_argument("--calib", type=int, default=512, help="training images calibrated on (default 512, as "
                   "docs/performance.md's dp-bench calibrate)")
    p.add_argument("--variants", type=variants, default=list(VARIANTS), help="comma-separated (default: all)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--source", default=fashion_mnist.DEFAULT_DIR, help="directory of the Fashion-MNIST IDX files")
    a = p.parse_args(argv)
    try:
        return run(a)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        print(f"int8_sensitivity.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
