#!/usr/bin/python3
"""Write a CIFAR-10-binary-format file: N records of one label byte (0..9) and 3072 pixel bytes
(1024 red, 1024 green, 1024 blue, row-major 32x32), as in data_batch_N.bin. Seeded, so the same
arguments always give the same bytes. The pixels are smooth random blobs rather than white noise,
so normalised inputs look like images to the models.

  make_cifar.py OUT.bin [--samples N] [--seed S]
"""
import argparse
import os
import sys

import numpy as np


def make(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    # Low-resolution noise upsampled 8x: cheap, smooth, full 0..255 range.
    low = rng.integers(0, 256, size=(n, 3, 4, 4)).astype(np.uint8)
    pixels = low.repeat(8, axis=2).repeat(8, axis=3)
    pixels = np.clip(pixels.astype(np.int16) + rng.integers(-16, 17, size=pixels.shape), 0, 255).astype(np.uint8)
    out = np.empty((n, 1 + 3072), np.uint8)
    out[:, 0] = labels
    out[:, 1:] = pixels.reshape(n, 3072)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="output file (e.g. data_batch_1.bin)")
    p.add_argument("--samples", type=int, default=10000, help="records to write (default 10000, as one CIFAR batch)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    if a.samples < 1:
        p.error("--samples must be >= 1")
    data = make(a.samples, a.seed)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        data.tofile(a.out)
    except OSError as e:
        print("make_cifar.py: %s" % e, file=sys.stderr)
        return 1
    print("make_cifar.py: wrote %d records (%d bytes) to %s" % (a.samples, data.size, a.out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
