"""dataparallel.Model: a loaded CNN and zero-copy inference on NumPy arrays."""
import os
import threading

import numpy as np

from . import capi
from ._options import DEFAULTS, c_options, document, enum_name
from ._util import Handle



def arch_names():
    """Names of the architectures the library supports.

    Returns
    -------
    list of str
        e.g. ``["resnet18", "mobilenet_v2", "resnet18_cifar", "mobilenetv2_cifar", ...]``.

    Examples
    --------
    >>> "resnet18" in dp.arch_names()
    True
    """
    return capi.pydp_arch_names()


def as_float32_batch(x, what="input", ndim=4, channels=None, min_size=None):
    """x as a C-contiguous float32 array, read in place when it already is one.

    float32 that is not C-contiguous is rejected (ValueError): copying it silently would defeat
    the zero-copy contract. Other floating dtypes (float16, float64) and array-likes are converted
    with one copy. Non-floating dtypes raise TypeError (integer images are usually not normalised).
    """
    if isinstance(x, np.ndarray) and x.dtype == np.float32:
        if not x.flags.c_contiguous:
            raise ValueError(f"{what} is a float32 array that is not C-contiguous; pass "
                             "np.ascontiguousarray(x) (float32 input is never copied)")
    else:
        arr = np.asarray(x)
        if arr.dtype.kind != "f":
            raise TypeError(f"{what} must be a floating-point array (float32 is read in place), "
                            f"got dtype {arr.dtype}")
        x = np.ascontiguousarray(arr, dtype=np.float32)
    if x.ndim != ndim:
        raise ValueError(f"{what} must have {ndim} dimensions "
                         f"({'N,C,H,W' if ndim == 4 else 'C,H,W'}), got shape {x.shape}")
    c_axis = ndim - 3
    if channels is not None and x.shape[c_axis] != channels:
        raise ValueError(f"{what} must have {channels} channels (axis {c_axis}), got shape {x.shape}")
    if min_size is not None and min(x.shape[-2:]) < min_size:
        raise ValueError(f"{what} height and width must be >= {min_size}, got shape {x.shape}")
    return x


class Calibration:
    """Activation ranges of a model for int8 inference (post-training static quantization).

    Made by :meth:`Model.calibrate` or read with :meth:`load`; tied to the arch, class count and
    weights it was measured with (loading it for others is an Error naming the file). Immutable
    and shareable; give it to ``Model(..., precision="int8", calibration=cal)``.

    Parameters
    ----------
    ptr : object
        Internal: the C handle (use :meth:`Model.calibrate` or :meth:`load`).

    Examples
    --------
    >>> cal = fp32_model.calibrate(dp.Dataset.synthetic(64), method="percentile")
    >>> cal.save("w.calib")
    >>> m8 = dp.Model("resnet18", weights="w.npz", precision="int8", calibration=cal)
    """

    def __init__(self, ptr):
        self._h = Handle(ptr, capi.dp_calibration_free)

    @classmethod
    def load(cls, path):
        """Read a calibration file (docs/formats.md, "Calibration files").

        Parameters
        ----------
        path : str or os.PathLike
            The file :meth:`save` wrote.

        Returns
        -------
        Calibration

        Raises
        ------
        Error
            DP_ERR_IO, or DP_ERR_FORMAT naming the file and line.

        Examples
        --------
        >>> cal = dp.Calibration.load("w.calib")
        """
        return cls(capi.dp_calibration_load(os.fspath(path)))

    def save(self, path):
        """Write the ranges to a small text file, to load next to the weights.

        Parameters
        ----------
        path : str or os.PathLike
            The file (created or replaced).

        Raises
        ------
        Error
            DP_ERR_IO naming the file.

        Examples
        --------
        >>> cal.save("w.calib")
        """
        capi.dp_calibration_save(self._h.ptr, os.fspath(path))

    @property
    def arch(self):
        """Architecture it was measured with."""
        return capi.dp_calibration_arch(self._h.ptr)

    @property
    def samples(self):
        """Number of samples it was measured over."""
        return int(capi.dp_calibration_samples(self._h.ptr))

    def __repr__(self):
        return f"Calibration({self.arch!r}, samples={self.samples})"


@document("model")
class Model:
    """A loaded network: architecture + weights, prepared for a backend.

    Keywords left at None take the library's default (``dp_model_opts_init()``, shown below).

    Parameters
    ----------
    arch : str
        "resnet18", "resnet34", "resnet50", "mobilenet_v2", "vgg16", "vgg16_bn", "alexnet",
        "densenet121", "inception_v3" (torchvision), "resnet18_cifar", "mobilenetv2_cifar" (pytorch-cifar) or "null" (no
        compute, zero logits); see :func:`dataparallel.arch_names` and docs/models.md.
    weights : str or os.PathLike, optional
        A .pth/.pt file (``torch.save(m.state_dict(), f)``), a .npz or a .safetensors file keyed
        by PyTorch ``state_dict()`` names (e.g.
        ``np.savez(f, **{k: v.numpy() for k, v in m.state_dict().items()})``). None: seeded
        deterministic weights.
    classes : int, optional
        Number of output classes K (C field ``num_classes``). Default $num_classes.
    precision : {"fp32", "bf16", "int8"}, optional
        Arithmetic; bf16 needs AVX512-BF16 or AMX; int8 needs ``calibration``. Default
        $precision.
    backend : {"onednn", "reference"}, optional
        "onednn" (fast) or "reference" (OpenBLAS, for cross-checking). Default $backend.
    seed : int, optional
        Seed of the weights when ``weights`` is None. Default $seed.
    threads : int, default 1
        oneDNN threads used by :meth:`infer` on each calling thread.
    allow_nonfinite : bool, optional
        Load NaN/inf weights (for debugging a training run) instead of failing. Default
        $allow_nonfinite.
    calibration : Calibration or str or os.PathLike, optional
        int8's activation ranges (from :meth:`calibrate`, or a file it saved); ignored by the
        other precisions.

    Raises
    ------
    Error
        Unknown arch (DP_ERR_NOT_FOUND), a missing or mis-shaped tensor (DP_ERR_NOT_FOUND,
        DP_ERR_SHAPE), an unreadable or corrupt file (DP_ERR_IO, DP_ERR_FORMAT), bf16 on a CPU
        without it (DP_ERR_UNSUPPORTED); the message names the file and tensor.
    ValueError
        An unknown precision or backend name, or threads < 1.
    TypeError, OverflowError
        An option of the wrong type or out of range.

    Notes
    -----
    A Model is immutable and may be shared by threads and Runners. :meth:`infer` creates one
    execution context per calling thread, lazily, on that thread.

    Examples
    --------
    >>> m = dp.Model("resnet18", classes=10)
    >>> m.infer(np.zeros((2, 3, 32, 32), np.float32)).shape
    (2, 10)
    """

    def __init__(self, arch, weights=None, classes=None, precision=None, backend=None, seed=None, threads=1,
                 allow_nonfinite=None, calibration=None):
        opts = c_options("model", num_classes=classes, precision=precision, backend=backend, seed=seed,
                         allow_nonfinite=allow_nonfinite)
        if int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if weights is not None:
            weights = os.fspath(weights)
        if calibration is not None and not isinstance(calibration, Calibration):
            calibration = Calibration.load(calibration)
        ptr = capi.pydp_model_load(str(arch), weights, opts, None if calibration is None else calibration._h.ptr)
        self._h = Handle(ptr, capi.dp_model_free)
        self._threads = int(threads)
        self._local = threading.local()
        self._channels = capi.dp_model_input_channels(ptr)
        self._min_size = capi.dp_model_min_input_size(ptr)

    @property
    def arch(self):
        """Architecture name."""
        return capi.dp_model_arch(self._ptr())

    @property
    def num_classes(self):
        """Number of output classes K (logits are (N, K))."""
        return capi.dp_model_num_classes(self._ptr())

    @property
    def precision(self):
        """"fp32" or "bf16"."""
        return enum_name("model", "precision", capi.dp_model_precision(self._ptr()))

    @property
    def backend(self):
        """"onednn" or "reference"."""
        return enum_name("model", "backend", capi.dp_model_backend_kind(self._ptr()))

    @property
    def param_count(self):
        """Number of learned parameters as PyTorch counts them."""
        return capi.dp_model_param_count(self._ptr())

    @property
    def threads(self):
        """oneDNN threads per calling thread in :meth:`infer`."""
        return self._threads

    @property
    def input_channels(self):
        """Channels C of accepted inputs (3)."""
        return self._channels

    @property
    def min_input_size(self):
        """Smallest accepted height and width (32)."""
        return self._min_size

    def _ptr(self):
        if self._h is None:
            raise ValueError("the model is closed")
        return self._h.ptr

    def _exec(self):
        h = getattr(self._local, "exec", None)
        if h is None:
            h = Handle(capi.dp_exec_create(self._ptr(), self._threads), capi.dp_exec_free, keep=(self._h,))
            self._local.exec = h
        return h.ptr

    def infer(self, x, out=None):
        """Logits for a batch: float32 (N, 3, H, W) -> float32 (N, K).

        A C-contiguous float32 array is read in place (no copy); the GIL is released while the
        network runs, so several threads can infer at once (each gets its own execution
        context). N == 0 gives an empty (0, K) array.

        Parameters
        ----------
        x : array_like
            The batch (N, 3, H, W), H and W >= 32. float16/float64 and array-likes are
            converted with one copy.
        out : numpy.ndarray, optional
            A writable C-contiguous float32 (N, K) array to write the logits into (and return)
            instead of a new one, so a serving loop allocates nothing per call.

        Returns
        -------
        numpy.ndarray
            float32 logits (N, K): ``out`` when given.

        Raises
        ------
        ValueError
            float32 that is not C-contiguous, a wrong number of dimensions or channels, H or W
            below 32, or an unsuitable ``out``.
        TypeError
            A non-floating dtype.
        Error
            The library failed (e.g. DP_ERR_NOMEM).

        Examples
        --------
        >>> logits = m.infer(np.zeros((4, 3, 32, 32), np.float32))
        >>> top1 = logits.argmax(axis=1)
        """
        x = as_float32_batch(x, channels=self._channels, min_size=self._min_size)
        shape = (x.shape[0], self.num_classes)
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        elif not (isinstance(out, np.ndarray) and out.dtype == np.float32 and out.flags.c_contiguous
                  and out.flags.writeable and out.shape == shape):
            raise ValueError(f"out must be a writable C-contiguous float32 array of shape {shape}")
        if x.shape[0] > 0:
            capi.pydp_infer(self._ptr(), self._exec(), x, out)
        return out

    __call__ = infer

    def prepare(self, batch, height=32, width=32):
        """Build everything for inputs of one shape on this thread now (optional), so the first
        :meth:`infer` with that shape does no set-up work.

        Parameters
        ----------
        batch : int
            Batch size N.
        height, width : int, default 32
            Input size H, W (>= 32).

        Raises
        ------
        Error
            DP_ERR_INVALID_ARG for sizes the model cannot take.

        Examples
        --------
        >>> m.prepare(8, 32, 32)
        """
        capi.dp_exec_prepare(self._exec(), int(batch), int(height), int(width))

    @document("calib")
    def calibrate(self, data, n=None, method=None, percentile=None):
        """Measure the activation ranges int8 needs, running this model's weights in fp32.

        Keywords left at None take the library's default (``dp_calib_opts_init()``).

        Parameters
        ----------
        data : Dataset or array_like
            Representative samples (C, H, W), e.g. part of the training set.
        n : int, optional
            Use samples 0..n-1 (default: all of ``data``).
        method : {"minmax", "percentile"}, optional
            Range = the largest absolute value seen, or that percentile of them. Default $method.
        percentile : float, optional
            For "percentile", in (50, 100]. Default $percentile.

        Returns
        -------
        Calibration

        Raises
        ------
        Error
            DP_ERR_INVALID_ARG (n out of range, a NaN input naming the sample), DP_ERR_SHAPE.

        Examples
        --------
        >>> cal = m.calibrate(dp.Dataset.synthetic(32))
        >>> m8 = dp.Model(m.arch, precision="int8", calibration=cal)
        """
        from ._data import _as_dataset  # _data imports this module

        ds = _as_dataset(data)
        count = len(ds) if n is None else int(n)
        opts = c_options("calib", method=method, percentile=percentile)
        return Calibration(capi.pydp_model_calibrate(self._ptr(), ds._h.ptr, count, opts))

    def units(self, height=32, width=32):
        """The units of the model: where a pipeline stage may begin, and what each costs.

        Parameters
        ----------
        height, width : int, default 32
            Image size the costs are for (>= the model's minimum).

        Returns
        -------
        list of Unit
            In execution order; ``ms`` is 0 (see :meth:`profile`).

        Raises
        ------
        Error
            DP_ERR_SHAPE for images below the minimum size.

        Examples
        --------
        >>> [u.name for u in dp.Model("resnet18_cifar").units()][:3]
        ['conv1', 'layer1.0', 'layer1.1']
        """
        from ._split import Unit

        return [Unit(*u) for u in capi.pydp_model_units(self._ptr(), int(height), int(width), 1, 1, 0)]

    def profile(self, batch=1, threads=None, height=32, width=32, iters=3):
        """:meth:`units` with each unit's measured time (``dp_model_profile()``), for planning.

        Runs ``iters`` micro-batches of ``batch`` samples on one execution context created on this
        thread, after one warm-up run. Meant for :func:`split_plan`, not a benchmark.

        Parameters
        ----------
        batch : int, default 1
            Samples per micro-batch.
        threads : int, optional
            oneDNN threads of the context. Default: this model's ``threads``.
        height, width : int, default 32
            Image size.
        iters : int, default 3
            Timed runs; ``ms`` is the mean per run.

        Returns
        -------
        list of Unit

        Raises
        ------
        Error
            DP_ERR_INVALID_ARG for batch < 1, DP_ERR_SHAPE for images below the minimum.
        ValueError
            iters < 1.

        Examples
        --------
        >>> units = m.profile(batch=4)
        >>> slowest = max(units, key=lambda u: u.ms).name
        """
        from ._split import Unit

        if int(iters) < 1:
            raise ValueError(f"iters must be >= 1, got {iters}")
        t = self._threads if threads is None else int(threads)
        return [Unit(*u) for u in capi.pydp_model_units(self._ptr(), int(height), int(width), int(batch), t,
                                                         int(iters))]

    def split(self, cuts):
        """Split the model into len(cuts) + 1 pipeline stages sharing its weights (``dp_model_split()``).

        Parameters
        ----------
        cuts : Plan, int, str or sequence of int or str
            Where stages 2.. begin: unit indices (increasing, 1..len(units) - 1), unit names
            (``["layer3.0"]``), or a :class:`Plan` from :func:`split_plan`.

        Returns
        -------
        list of Stage
            Chaining their :meth:`Stage.infer` gives this model's logits.

        Raises
        ------
        Error
            DP_ERR_INVALID_ARG for cuts out of order or range, DP_ERR_UNSUPPORTED for an int8
            model.
        ValueError
            A name that is no unit (the message lists the legal ones).

        Examples
        --------
        >>> first, second = m.split(dp.split_plan(m.profile(), stages=2))
        >>> logits = second.infer(first.infer(x)).reshape(len(x), -1)
        """
        from ._split import Stage, cut_indices

        idx = cut_indices(self, cuts)
        return [Stage(self, idx, k) for k in range(len(idx) + 1)]

    def close(self):
        """Release this object's hold on the model (and the execution contexts of its threads).

        The C model is freed once no Runner uses it any more; the Model is unusable afterwards.

        Examples
        --------
        >>> m.close()
        """
        self._local = threading.local()
        self._h = None

    def __repr__(self):
        if self._h is None:
            return "Model(closed)"
        n = self.param_count
        params = f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"
        extra = "" if self.backend == DEFAULTS["model"]["backend"] else f", backend={self.backend!r}"
        return f"Model({self.arch!r}, classes={self.num_classes}, precision={self.precision!r}{extra}, params={params})"
