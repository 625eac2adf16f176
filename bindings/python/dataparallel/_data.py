"""dataparallel.Dataset and dataparallel.Source: sample payloads and rate-limited streams."""
import os

import numpy as np

from . import capi
from ._model import as_float32_batch
from ._options import DEFAULTS, c_options, document
from ._util import Callback, Handle



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

    Build one with a class method: :meth:`synthetic`, :meth:`npy`, :meth:`cifar10`,
    :meth:`fashion_mnist`, :meth:`from_array` or :meth:`callback`. Data sets feed :class:`Source`
    (stream mode) and :meth:`Runner.run_batch` (batch mode, where each worker reads only its own
    samples). ``len(ds)`` is the sample count, ``ds[i]`` a copy of sample i and its label.

    Parameters
    ----------
    ptr : object
        Internal: the C handle (use the class methods).
    keep : sequence, default ()
        Internal: what the C data set borrows.
    callbacks : sequence, default ()
        Internal: states of the Python callbacks it calls.

    Raises
    ------
    Error
        From the class methods: an unreadable or malformed file (DP_ERR_IO, DP_ERR_FORMAT),
        naming it.

    Examples
    --------
    >>> ds = dp.Dataset.synthetic(100, shape=(3, 32, 32))
    >>> x, label = ds[0]
    >>> len(ds), x.shape
    (100, (3, 32, 32))
    """

    def __init__(self, ptr, keep=(), callbacks=()):
        """Internal: use the class methods."""
        self._h = Handle(ptr, capi.dp_dataset_free, keep=keep)
        self._callbacks = tuple(callbacks)

    @classmethod
    def synthetic(cls, n, shape=(3, 32, 32), seed=0):
        """Seeded random samples, values uniform in [-1, 1], labels i % 10.

        Parameters
        ----------
        n : int
            Number of samples.
        shape : tuple of int, default (3, 32, 32)
            (C, H, W) of each sample.
        seed : int, default 0
            Seed of the values.

        Returns
        -------
        Dataset

        Raises
        ------
        ValueError
            A shape that is not three positive sizes.

        Examples
        --------
        >>> ds = dp.Dataset.synthetic(1000)
        """
        c, h, w = _shape3(shape)
        return cls(capi.dp_dataset_synthetic(int(n), c, h, w, int(seed)))

    @classmethod
    def npy(cls, path):
        """A float32/float64/float16 .npy file of shape (N, C, H, W), loaded into memory; no labels.

        Parameters
        ----------
        path : str or os.PathLike
            The file.

        Returns
        -------
        Dataset

        Raises
        ------
        Error
            DP_ERR_IO / DP_ERR_FORMAT / DP_ERR_SHAPE naming the file.

        Examples
        --------
        >>> ds = dp.Dataset.npy("x.npy")
        """
        return cls(capi.dp_dataset_npy(os.fspath(path)))

    @classmethod
    def cifar10(cls, path, normalize="cifar10"):
        """CIFAR-10 data, binary or python version (recognised by content), with labels.

        Parameters
        ----------
        path : str or os.PathLike
            A data_batch_N.bin / test_batch.bin file (or the python version's pickled
            data_batch_N / test_batch, read without running anything), a directory of them, or
            cifar-10-binary.tar.gz / cifar-10-python.tar.gz.
        normalize : str or (mean[3], std[3]), default "cifar10"
            "cifar10" (its usual mean/std), "fashion-mnist", "identity" (values in [0, 1]) or
            per-channel mean and std.

        Returns
        -------
        Dataset

        Raises
        ------
        Error
            DP_ERR_IO / DP_ERR_FORMAT naming the file.
        ValueError
            An unknown ``normalize``.

        Examples
        --------
        >>> ds = dp.Dataset.cifar10("cifar-10-batches-bin/test_batch.bin")
        """
        return cls(capi.pydp_dataset_images(0, os.fspath(path), _normalize(normalize, "cifar10")))

    @classmethod
    def fashion_mnist(cls, path=FASHION_MNIST_DIR, normalize="fashion-mnist"):
        """Fashion-MNIST IDX files (Debian's dataset-fashion-mnist), with labels.

        Each 28x28 image is padded with zeros to 32x32 and replicated into 3 channels.

        Parameters
        ----------
        path : str or os.PathLike, default "/usr/share/datasets/fashion-mnist"
            A directory gives its 10 000-image test set, a ``train-images-idx3-ubyte.gz`` file
            the 60 000 training images (labels from the file beside it).
        normalize : str or (mean[3], std[3]), default "fashion-mnist"
            "fashion-mnist" (mean 0.2860, std 0.3530), "cifar10", "identity" or per-channel
            mean and std.

        Returns
        -------
        Dataset

        Raises
        ------
        Error
            DP_ERR_IO / DP_ERR_FORMAT naming the file.
        ValueError
            An unknown ``normalize``.

        Examples
        --------
        >>> ds = dp.Dataset.fashion_mnist()
        """
        return cls(capi.pydp_dataset_images(1, os.fspath(path), _normalize(normalize, "fashion-mnist")))

    @classmethod
    def from_array(cls, x, labels=None):
        """Borrow a float32 (N, C, H, W) array (and optional labels) without copying.

        The array is pinned (its buffer held) while the Dataset lives and must not be modified
        during a run. Non-float32 or non-contiguous input is converted with one copy here (this
        is a data set, not the zero-copy :meth:`Model.infer` path).

        Parameters
        ----------
        x : array_like
            The samples (N, C, H, W).
        labels : array_like of int, optional
            One label per sample (N,).

        Returns
        -------
        Dataset

        Raises
        ------
        ValueError
            A wrong number of dimensions or a labels shape other than (N,).

        Examples
        --------
        >>> ds = dp.Dataset.from_array(np.zeros((8, 3, 32, 32), np.float32), labels=np.arange(8))
        """
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
        """Samples made on demand by a Python function.

        Parameters
        ----------
        fn : callable
            ``fn(i)`` returns an array-like of ``shape`` or a tuple ``(array, label)``. Called on
            the library's worker threads (under the GIL).
        n : int
            Number of samples.
        shape : tuple of int, default (3, 32, 32)
            (C, H, W) of each sample.

        Returns
        -------
        Dataset

        Raises
        ------
        TypeError
            ``fn`` is not callable.

        Notes
        -----
        If ``fn`` raises, the sample fails and the run that asked for it stops and re-raises
        the exception.

        Examples
        --------
        >>> ds = dp.Dataset.callback(lambda i: (np.full((3, 32, 32), i, np.float32), i % 10), 100)
        """
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
        return f"Dataset(n={len(self)}, shape={self.shape})"


def _as_dataset(data):
    if isinstance(data, Dataset):
        return data
    return Dataset.from_array(data)


@document("source")
class Source:
    """A rate-limited stream of samples drawn in order (wrapping around) from a :class:`Dataset`.

    Each sample's latency is measured from its *intended* arrival time. Keywords left at None
    take the library's default (``dp_source_opts_init()``, shown below). Shortcuts:
    :meth:`constant`, :meth:`poisson`, :meth:`trace`, :meth:`unlimited`, :meth:`synthetic`,
    :meth:`cifar10`, :meth:`npy`, :meth:`callback`.

    Parameters
    ----------
    dataset : Dataset or array_like
        A :class:`Dataset` or a float32 (N, C, H, W) array.
    arrival : {"constant", "poisson", "trace", "unlimited"}, optional
        "constant" (t_i = t0 + i/rate), "poisson" (seeded exponential gaps), "trace" (arrival
        offsets in seconds from the file ``trace``) or "unlimited" (C field ``policy``).
        Default $policy, or "trace" when ``trace`` is given.
    rate : float, optional
        Target samples/s for constant and poisson. Default $rate.
    samples : int, optional
        How many to emit; 0 = once through the data set (trace: one per trace entry).
        Default $samples.
    seed : int, optional
        Seed of the poisson gaps. Default $seed.
    trace : str or os.PathLike, optional
        The trace file: one offset per line, or a CSV with a time/t/timestamp column.
    spin_ns : int, optional
        Busy-wait this long before each deadline. Default $spin_ns.

    Raises
    ------
    Error
        DP_ERR_INVALID_ARG (rate <= 0, no samples), DP_ERR_IO / DP_ERR_FORMAT for a bad trace
        file (naming the line).
    ValueError
        An unknown arrival, or arrival "trace" without ``trace``.

    Examples
    --------
    >>> src = dp.Source(dp.Dataset.synthetic(100), arrival="poisson", rate=300, samples=600)
    >>> len(src)
    600
    """

    def __init__(self, dataset, arrival=None, rate=None, samples=None, seed=None, trace=None, spin_ns=None):
        if arrival is None:
            arrival = "trace" if trace is not None else DEFAULTS["source"]["policy"]
        if arrival == "trace" and trace is None:
            raise ValueError("arrival='trace' needs trace=PATH")
        opts = c_options("source", policy=arrival, rate=rate, samples=samples, seed=seed, spin_ns=spin_ns)
        self.dataset = _as_dataset(dataset)
        ptr = capi.pydp_source_create(self.dataset._h.ptr, opts, None if trace is None else os.fspath(trace))
        self._h = Handle(ptr, capi.dp_source_free, keep=(self.dataset._h,))
        self.arrival = arrival

    @classmethod
    def constant(cls, data, rate, samples=None):
        """Evenly spaced arrivals.

        Parameters
        ----------
        data : Dataset or array_like
            What to stream.
        rate : float
            Samples/s.
        samples : int, optional
            How many (default: once through ``data``).

        Returns
        -------
        Source

        Examples
        --------
        >>> src = dp.Source.constant(dp.Dataset.synthetic(100), 300, samples=600)
        """
        return cls(data, "constant", rate, samples)

    @classmethod
    def poisson(cls, data, rate, samples=None, seed=None):
        """Poisson arrivals at a mean rate (seeded exponential gaps).

        Parameters
        ----------
        data : Dataset or array_like
            What to stream.
        rate : float
            Mean samples/s.
        samples : int, optional
            How many (default: once through ``data``).
        seed : int, optional
            Seed of the gaps (default: the library's).

        Returns
        -------
        Source

        Examples
        --------
        >>> src = dp.Source.poisson(dp.Dataset.synthetic(100), 300, samples=600, seed=7)
        """
        return cls(data, "poisson", rate, samples, seed)

    @classmethod
    def trace(cls, data, path, samples=None):
        """Arrival offsets (seconds) from a file.

        Parameters
        ----------
        data : Dataset or array_like
            What to stream.
        path : str or os.PathLike
            One offset per line, or a CSV with a time/t/timestamp column.
        samples : int, optional
            How many (default: one per trace entry).

        Returns
        -------
        Source

        Examples
        --------
        >>> src = dp.Source.trace(dp.Dataset.synthetic(100), "arrivals.txt")
        """
        return cls(data, "trace", None, samples, trace=path)

    @classmethod
    def unlimited(cls, data, samples=None):
        """As fast as the runner takes them (no pacing).

        Parameters
        ----------
        data : Dataset or array_like
            What to stream.
        samples : int, optional
            How many (default: once through ``data``).

        Returns
        -------
        Source

        Examples
        --------
        >>> src = dp.Source.unlimited(dp.Dataset.synthetic(100))
        """
        return cls(data, "unlimited", None, samples)

    @classmethod
    def synthetic(cls, rate=None, samples=2000, shape=(3, 32, 32), arrival=None, seed=0, trace=None):
        """A stream over a synthetic data set of ``samples`` distinct seeded images.

        Parameters
        ----------
        rate : float, optional
            Samples/s (default: the library's).
        samples : int, default 2000
            How many samples (and distinct images).
        shape : tuple of int, default (3, 32, 32)
            (C, H, W) of each image.
        arrival : str, optional
            As in :class:`Source`.
        seed : int, default 0
            Seed of the images (see :meth:`Dataset.synthetic`).
        trace : str or os.PathLike, optional
            As in :class:`Source`.

        Returns
        -------
        Source

        Examples
        --------
        >>> src = dp.Source.synthetic(rate=300, samples=600)
        """
        return cls(Dataset.synthetic(max(int(samples), 1), shape, seed), arrival, rate, samples, trace=trace)

    @classmethod
    def cifar10(cls, path, rate=None, samples=None, arrival=None, normalize="cifar10", seed=None, trace=None):
        """A stream over CIFAR-10 binary data; labels feed the ``correct``/``labelled`` fields.

        Parameters
        ----------
        path : str or os.PathLike
            As in :meth:`Dataset.cifar10`.
        rate, samples, arrival, seed, trace : optional
            As in :class:`Source`.
        normalize : str or (mean[3], std[3]), default "cifar10"
            As in :meth:`Dataset.cifar10`.

        Returns
        -------
        Source

        Examples
        --------
        >>> src = dp.Source.cifar10("test_batch.bin", rate=300)
        """
        return cls(Dataset.cifar10(path, normalize), arrival, rate, samples, seed, trace)

    @classmethod
    def npy(cls, path, rate=None, samples=None, arrival=None, seed=None, trace=None):
        """A stream over a (N, C, H, W) .npy file.

        Parameters
        ----------
        path : str or os.PathLike
            The file.
        rate, samples, arrival, seed, trace : optional
            As in :class:`Source`.

        Returns
        -------
        Source

        Examples
        --------
        >>> src = dp.Source.npy("x.npy", rate=300)
        """
        return cls(Dataset.npy(path), arrival, rate, samples, seed, trace)

    @classmethod
    def callback(cls, fn, samples, shape=(3, 32, 32), rate=None, arrival=None, seed=None, trace=None):
        """A stream whose sample i is ``fn(i)`` (see :meth:`Dataset.callback`).

        Parameters
        ----------
        fn : callable
            As in :meth:`Dataset.callback`.
        samples : int
            How many samples.
        shape : tuple of int, default (3, 32, 32)
            (C, H, W) of each sample.
        rate, arrival, seed, trace : optional
            As in :class:`Source`.

        Returns
        -------
        Source

        Examples
        --------
        >>> src = dp.Source.callback(lambda i: np.zeros((3, 32, 32), np.float32), 100, rate=300)
        """
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
        return (f"Source({self.arrival!r}, rate={self.target_rate:g}, samples={self.count}, "
                f"shape={self.dataset.shape})")
