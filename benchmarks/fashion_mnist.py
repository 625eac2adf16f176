#!/usr/bin/python3
"""Fashion-MNIST (Debian's dataset-fashion-mnist: IDX files, 60 000 train / 10 000 test, 28x28
grey, 10 classes) as the models take it: each image padded with zeros to 32x32 (2 pixels per
side) and replicated into 3 channels, labels kept — the same conversion as the library's
dp_dataset_fashion_mnist() / `--data fashion-mnist:PATH` (docs/data.md).

As a converter to the CIFAR-10 binary format (label byte + 3072 pixel bytes per record):

  fashion_mnist.py OUT.bin [--source DIR] [--split test|train] [--samples N]

As a module: load(), records(), tensors(), MEAN, STD.
"""
import argparse
import gzip
import os
import sys

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530          # dp_normalize_fashion_mnist()
SIDE = 32


def _idx(path, magic, ndim):
    opener = gzip.open if os.path.exists(path) else None
    if opener is None and os.path.exists(path[:-3]):
        path, opener = path[:-3], open
    if opener is None:
        raise FileNotFoundError(f"{path}: not found (install Debian's dataset-fashion-mnist: scripts/deps)")
    with opener(path, "rb") as f:
        raw = f.read()
    head = 4 + 4 * ndim
    if len(raw) < head or int.from_bytes(raw[:4], "big") != magic:
        raise ValueError(f"{path}: not an IDX file with magic {magic:#010x}")
    dims = [int.from_bytes(raw[4 + 4 * d:8 + 4 * d], "big") for d in range(ndim)]
    data = np.frombuffer(raw, np.uint8, offset=head)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} bytes of data for shape {dims} (truncated?)")
    return data.reshape(dims)


def load(split="test", source=DEFAULT_DIR):
    """(images uint8 [N,28,28], labels uint8 [N]) of the "test" (t10k) or "train" split."""
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    stem = os.path.join(source, "t10k" if split == "test" else "train")
    images = _idx(stem + "-images-idx3-ubyte.gz", 0x803, 3)
    labels = _idx(stem + "-labels-idx1-ubyte.gz", 0x801, 1)
    if len(images) != len(labels):
        raise ValueError(f"{stem}: {len(images)} images but {len(labels)} labels")
    return images, labels


def padded(images):
    """uint8 [N,3,32,32]: zero-padded to 32x32, the grey plane in R, G and B."""
    n, h, w = images.shape
    out = np.zeros((n, 3, SIDE, SIDE), np.uint8)
    top, left = (SIDE - h) // 2, (SIDE - w) // 2
    out[:, :, top:top + h, left:left + w] = images[:, None]
    return out


def records(images, labels):
    """CIFAR-10 binary records, uint8 [N, 3073]."""
    out = np.empty((len(images), 1 + 3 * SIDE * SIDE), np.uint8)
    out[:, 0] = labels
    out[:, 1:] = padded(images).reshape(len(images), -1)
    return out


def tensors(split="test", source=DEFAULT_DIR, samples=None):
    """(float32 [N,3,32,32] normalised exactly as the library does, int64 labels [N])."""
    images, labels = load(split, source)
    if samples is not None:
        images, labels = images[:samples], labels[:samples]
    x = padded(images).astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(x, dtype=np.float32), labels.astype(np.int64)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="CIFAR-10 binary file to write (e.g. fashion_test.bin)")
    p.add_argument("--source", default=DEFAULT_DIR, help=f"directory of the IDX files (default {DEFAULT_DIR})")
    p.add_argument("--split", default="test", choices=("test", "train"))
    p.add_argument("--samples", type=int, default=0, help="first N samples only (default all)")
    a = p.parse_args(argv)
    if a.samples < 0:
        p.error("--samples must be >= 0")
    try:
        images, labels = load(a.split, a.source)
        rec = records(images[:a.samples or None], labels[:a.samples or None])
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        rec.tofile(a.out)
    except (OSError, ValueError) as e:
        print(f"fashion_mnist.py: {e}", file=sys.stderr)
        return 1
    print(f"fashion_mnist.py: wrote {len(rec)} records ({rec.size} bytes) to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
