"""dataparallel.Dataset and dataparallel.Source: sample payloads and rate-limited streams."""
import os

import numpy as np

from . import capi
from ._model import as_float32_batch
from ._util import Callback, Handle

ARRIVALS = {"unlimited": 0, "constant": 1, "poisson": 2, "trace": 3}


def _shape3(shape):
    shape = tuple(int(v) for v in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (C, H, W) with positive sizes, got {shape}")
    return shape


FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_NORMS = {"cifar10": (0.4914, 0.4822, 0.4465, 0.2470, 0.2435, 0.2616),
          "fashion-mnist": (0.2860, 0.2860, 0.2860, 0.3530, 0.3530, 0.3530),
          "identity": (0.0, 0.0, 0.0, 1.0, 1.0, 1.0)}


def _normalize(normalize, own):
    """None (the library's default for the data set, named `own`) or (mean[3] + std[3])."""
    if normalize is None or normalize == own:
        return None
    if isinstance(normalize, str) and normalize in _NORMS:
        return _NORMS[normalize]
    try:
        mean, std = normalize
        seq = tuple(float(v) for v in mean) + tuple(float(v) for v in std)
    except (TypeError, ValueError):
        seq = ()
    if len(seq) != 6:
        raise ValueError(f"normalize must be one of {', '.join(map(repr, _NORMS))} or (mean[3], std[3]), "
                         f"got {normalize!r}")
    return seq


class Dataset:
    """Random access to samples, each float32 (C, H, W) plus a label (-1 when unknown).

    Build one with a class method: :meth:`synthetic`, :meth:`npy`, :meth:`cifar10`, :meth:`fashion_mnist`,
    :meth:`from_array` or :meth:`callback`. Data sets feed :class:`Source` (stream mode) and
    :meth:`Runner.run_batch` (batch mode, where each worker reads only its own samples).
    """

    def __init__(self, ptr, keep=(), callbacks=()):
        """Internal: use the class methods."""
        self._h = Handle(ptr, capi.dp_dataset_free, keep=keep)
        self._callbacks = tuple(callbacks)

    @classmethod
    def synthetic(cls, n, shape=(3, 32, 32), seed=0):
        """n samples of ``shape``, values uniform in [-1, 1] from ``seed``, labels i % 10."""
        c, h, w = _shape3(shape)
        return cls(capi.dp_dataset_synthetic(int(n), c, h, w, int(seed)))

    @classmethod
    def npy(cls, path):
        """A float32/float64/float16 .npy file of shape (N, C, H, W), loaded into memory; no labels."""
        return cls(capi.dp_dataset_npy(os.fspath(path)))

    @classmethod
    def cifar10(cls, path, normalize="cifar10"):
        """CIFAR-10 binary: a data_batch_N.bin / test_batch.bin file, a directory of them, or
        cifar-10-binary.tar.gz. ``normalize``: "cifar10" (its usual mean/std), "identity" (values
        in [0, 1]) or ``(mean[3], std[3])``."""
        return cls(capi.pydp_dataset_images(0, os.fspath(path), _normalize(normalize, "cifar10")))

    @classmethod
    def fashion_mnist(cls, path=FASHION_MNIST_DIR, normalize="fashion-mnist"):
        """Fashion-MNIST IDX files (Debian's dataset-fashion-mnist): a directory gives its
        10 000-image test set, a ``train-images-idx3-ubyte.gz`` file the 60 000 training images
        (labels from the file beside it). Each 28x28 image is padded with zeros to 32x32 and
        replicated into 3 channels. ``normalize``: "fashion-mnist" (mean 0.2860, std 0.3530),
        "cifar10", "identity" or ``(mean[3], std[3])``."""
        return cls(capi.pydp_dataset_images(1, os.fspath(path), _normalize(normalize, "fashion-mnist")))

    @classmethod
    def from_array(cls, x, labels=None):
        """Borrow a float32 (N, C, H, W) array (and optional int labels (N,)) without copying.

        The array is pinned (its buffer held) while the Dataset lives and must not be modified
        during a run. Non-float32 or non-contiguous input is converted with one copy here (this
        is a data set, not the zero-copy :meth:`Model.infer` path)."""
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous):
            x = np.ascontiguousarray(np.asarray(x), dtype=np.float32)
        x = as_float32_batch(x, what="data")
        n, c, h, w = x.shape
        keep = [Handle(capi.pydp_pin_new(x, 0), capi.pydp_pin_free)]
        lab_ptr = None
        if labels is not None:
            labels = np.ascontiguousarray(labels, dtype=np.int32)
            if labels.shape != (n,):
                raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
            keep.append(Handle(capi.pydp_pin_new(labels, 0), capi.pydp_pin_free))
            lab_ptr = keep[1].ptr
        return cls(capi.pydp_dataset_from_memory(keep[0].ptr, lab_ptr, n, c, h, w), keep=keep)

    @classmethod
    def callback(cls, fn, n, shape=(3, 32, 32)):
        """Samples made by ``fn(i)``, which returns an array-like of ``shape`` or a tuple
        ``(array, label)``. Called on the library's worker threads (under the GIL). If it raises,
        the sample fails and the run that asked for it stops and re-raises the exception."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        shape = _shape3(shape)

        def fill(i, view):
            value = fn(i)
            label = -1
            if isinstance(value, tuple):
                value, label = value
            np.frombuffer(view, dtype=np.float32).reshape(shape)[...] = value
            return int(label)

        cb = Callback(fill, failure=-2)
        ptr = capi.pydp_dataset_callback(int(n), *shape, cb.ptr)
        return cls(ptr, keep=[cb.handle], callbacks=[cb.state])

    def __len__(self):
        return int(capi.dp_dataset_count(self._h.ptr))

    @property
    def shape(self):
        """Shape (C, H, W) of one sample."""
        return tuple(capi.dp_dataset_shape(self._h.ptr))

    def __getitem__(self, i):
        """(sample as float32 (C, H, W), label) — a copy of sample i."""
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"sample {i} out of range for a data set of {n}")
        out = np.empty(self.shape, dtype=np.float32)
        label = capi.pydp_dataset_get(self._h.ptr, i, out)
        return out, label

    def __repr__(self):
        return f"<dataparallel.Dataset n={len(self)} shape={self.shape}>"


def _as_dataset(data):
    if isinstance(data, Dataset):
        return data
    return Dataset.from_array(data)


class Source:
    """A rate-limited stream of samples drawn in order (wrapping around) from a :class:`Dataset`.

    Args:
        dataset: a :class:`Dataset` or a float32 (N, C, H, W) array.
        arrival: "constant" (t_i = t0 + i/rate), "poisson" (seeded exponential gaps), "trace"
            (arrival offsets in seconds from the file ``trace``) or "unlimited".
        rate: target samples/s for constant and poisson.
        samples: how many to emit; 0 = once through the data set (trace: one per trace entry).
        seed: seed of the poisson gaps.
        spin_ns: busy-wait this long before each deadline (None: the library default, 50 us).

    Each sample's latency is measured from its *intended* arrival time. Shortcuts:
    :meth:`constant`, :meth:`poisson`, :meth:`trace`, :meth:`unlimited`, :meth:`synthetic`,
    :meth:`cifar10`, :meth:`npy`, :meth:`callback`.
    """

    def __init__(self, dataset, arrival="constant", rate=500.0, samples=0, seed=1, trace=None, spin_ns=None):
        if arrival not in ARRIVALS:
            raise ValueError(f"arrival must be one of {', '.join(map(repr, ARRIVALS))}, got {arrival!r}")
        if arrival == "trace" and trace is None:
            raise ValueError("arrival='trace' needs trace=PATH")
        self.dataset = _as_dataset(dataset)
        rate = 0.0 if rate is None else float(rate)
        ptr = capi.pydp_source_create(self.dataset._h.ptr, ARRIVALS[arrival], rate, int(samples), int(seed),
                                      None if trace is None else os.fspath(trace),
                                      -1 if spin_ns is None else int(spin_ns))
        self._h = Handle(ptr, capi.dp_source_free, keep=(self.dataset._h,))
        self.arrival = arrival

    @classmethod
    def constant(cls, data, rate, samples=0):
        """``samples`` samples of ``data`` at ``rate``/s, evenly spaced."""
        return cls(data, "constant", rate, samples)

    @classmethod
    def poisson(cls, data, rate, samples=0, seed=1):
        """Poisson arrivals at mean ``rate``/s (seeded exponential gaps)."""
        return cls(data, "poisson", rate, samples, seed)

    @classmethod
    def trace(cls, data, path, samples=0):
        """Arrival offsets (seconds) from ``path``: one per line, or a CSV with a time/t/timestamp column."""
        return cls(data, "trace", None, samples, trace=path)

    @classmethod
    def unlimited(cls, data, samples=0):
        """As fast as the runner takes them (no pacing)."""
        return cls(data, "unlimited", None, samples)

    @classmethod
    def synthetic(cls, rate=500.0, samples=2000, shape=(3, 32, 32), arrival="constant", seed=0, trace=None):
        """A stream over a synthetic data set of ``samples`` distinct seeded images of ``shape``."""
        return cls(Dataset.synthetic(max(int(samples), 1), shape, seed), arrival, rate, samples, trace=trace)

    @classmethod
    def cifar10(cls, path, rate=500.0, samples=0, arrival="constant", normalize="cifar10", seed=1, trace=None):
        """A stream over CIFAR-10 binary data (see :meth:`Dataset.cifar10`); labels feed the
        ``correct``/``labelled`` summary fields."""
        return cls(Dataset.cifar10(path, normalize), arrival, rate, samples, seed, trace)

    @classmethod
    def npy(cls, path, rate=500.0, samples=0, arrival="constant", seed=1, trace=None):
        """A stream over a (N, C, H, W) .npy file."""
        return cls(Dataset.npy(path), arrival, rate, samples, seed, trace)

    @classmethod
    def callback(cls, fn, samples, shape=(3, 32, 32), rate=500.0, arrival="constant", seed=1, trace=None):
        """A stream whose sample i is ``fn(i)`` (see :meth:`Dataset.callback`)."""
        return cls(Dataset.callback(fn, samples, shape), arrival, rate, samples, seed, trace)

    @property
    def count(self):
        """Total samples the source will emit."""
        return int(capi.dp_source_count(self._h.ptr))

    def __len__(self):
        return self.count

    @property
    def target_rate(self):
        """Target samples/s (trace: count-1 over the trace's span; unlimited: 0)."""
        return capi.dp_source_target_rate(self._h.ptr)

    def __repr__(self):
        return (f"<dataparallel.Source {self.arrival} rate={self.target_rate:g}/s samples={self.count} "
                f"shape={self.dataset.shape}>")
