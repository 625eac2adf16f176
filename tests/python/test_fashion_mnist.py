"""dp.Dataset.fashion_mnist on Debian's dataset-fashion-mnist (installed by scripts/deps): every
sample equals benchmarks/fashion_mnist.py's normalised tensors, and its CIFAR-10 converter's
output read back through dp.Dataset.cifar10 gives the same samples and labels."""
import os
import sys

import numpy as np
import pytest

import dataparallel as dp

sys.path.insert(0, os.path.join(os.environ.get("DP_SOURCE_DIR", "."), "benchmarks"))
import fashion_mnist  # noqa: E402

SRC = fashion_mnist.DEFAULT_DIR


def samples(ds, idx):
    xs, labels = zip(*(ds[int(i)] for i in idx))
    return np.stack(xs), np.array(labels)


def test_test_split_matches_numpy():
    ds = dp.Dataset.fashion_mnist()
    assert len(ds) == 10000 and ds.shape == (3, 32, 32)
    ref_x, ref_y = fashion_mnist.tensors("test", SRC)
    idx = np.r_[0:300, 9990:10000]
    x, y = samples(ds, idx)
    assert np.array_equal(y, ref_y[idx])
    assert np.array_equal(x, ref_x[idx])          # bit-identical normalisation
    zero = (np.float32(0) - np.float32(fashion_mnist.MEAN)) / np.float32(fashion_mnist.STD)
    assert np.all(x[:, :, :2, :] == zero) and np.all(x[:, :, :, 30:] == zero)   # zero padding
    assert np.array_equal(x[:, 0], x[:, 2])       # grey replicated


def test_train_split_by_file():
    ds = dp.Dataset.fashion_mnist(os.path.join(SRC, "train-images-idx3-ubyte.gz"), normalize="identity")
    assert len(ds) == 60000
    x, y = ds[59999]
    imgs, labels = fashion_mnist.load("train", SRC)
    assert y == labels[-1]
    assert np.array_equal(np.round(x[1, 2:30, 2:30] * 255).astype(np.uint8), imgs[-1])


def test_cifar_converter_round_trip(tmp_path):
    out = tmp_path / "fm.bin"
    assert fashion_mnist.main([str(out), "--samples", "200"]) == 0
    assert out.stat().st_size == 200 * 3073
    a = dp.Dataset.cifar10(out, normalize="fashion-mnist")
    b = dp.Dataset.fashion_mnist(SRC)
    xa, ya = samples(a, range(200))
    xb, yb = samples(b, range(200))
    assert np.array_equal(ya, yb) and np.array_equal(xa, xb)


def test_errors(tmp_path):
    with pytest.raises(dp.Error) as e:
        dp.Dataset.fashion_mnist(tmp_path)
    assert e.value.status == dp.Status.DP_ERR_NOT_FOUND and str(tmp_path) in str(e.value)
    with pytest.raises(ValueError):
        dp.Dataset.fashion_mnist(SRC, normalize="imagenet")
