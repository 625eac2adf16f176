"""Cutting a model into pipeline stages: units, the planner and stage models (docs/pipeline.md)."""
import threading
from typing import NamedTuple

import numpy as np

from . import capi
from ._options import c_options, document
from ._util import Handle


class Unit(NamedTuple):
    """One unit of a model (where a stage may begin) and what it costs per sample.

    Returned by :meth:`Model.units` and :meth:`Model.profile`, in execution order. A cut k
    (1 <= k < len(units)) means "a new stage starts at unit k".

    Parameters
    ----------
    name : str
        The unit's name as PyTorch nests modules: "conv1", "layer2.0", "features.3", "fc".
    flops : float
        2 x the multiply-adds of its convolutions and linear layer, per sample.
    param_bytes : int
        float32 bytes of the (BN-folded) weights and biases it reads.
    out_bytes : int
        float32 bytes per sample of the activation it outputs: what a cut after it sends.
    ms : float
        Measured time per micro-batch (:meth:`Model.profile`); 0 from :meth:`Model.units`.

    Examples
    --------
    >>> u = dp.Model("resnet18_cifar").units()[1]
    >>> u.name, u.out_bytes
    ('layer1.0', 262144)
    """

    name: str
    flops: float
    param_bytes: int
    out_bytes: int
    ms: float


class Plan(NamedTuple):
    """Where :func:`split_plan` cuts a model, and the predicted time of each stage.

    Parameters
    ----------
    cuts : list of int
        stages - 1 increasing unit indices: stage s + 1 starts at unit ``cuts[s]``. Give it to
        :meth:`Model.split`.
    stage_ms : list of float
        Each stage's predicted time per micro-batch: its units' ms / its speed, plus sending its
        output when a link cost was given.
    names : list of str
        The names of the units at the cuts (empty when the units had no names), as
        ``Runner(cuts=...)`` takes them.

    Examples
    --------
    >>> plan = dp.split_plan(m.profile(), stages=2)
    >>> first, second = m.split(plan.cuts)
    """

    cuts: list
    stage_ms: list
    names: list


@document("split")
def split_plan(units, stages=None, speeds=None, link_bytes_per_s=None, link_latency_s=None, batch=None,
               method=None):
    """Choose cuts minimising the slowest stage's time, transfers included (``dp_split_plan()``).

    Keywords left at None take the library's default (``dp_split_opts_init()``).

    Parameters
    ----------
    units : sequence of Unit
        The cost table, usually :meth:`Model.profile` (anything with ``ms`` and ``out_bytes``).
    stages : int, optional
        Number of stages S, 1..len(units). Default $stages.
    speeds : sequence of float, optional
        S relative speeds (> 0) of the workers running the stages: stage s takes ms / speeds[s].
        None: all 1.
    link_bytes_per_s : float, optional
        > 0: a stage also pays out_bytes * batch / link_bytes_per_s to send its output; 0: free
        transfers. Default $link_bytes_per_s.
    link_latency_s : float, optional
        Added per transfer when link_bytes_per_s > 0. Default $link_latency_s.
    batch : int, optional
        Samples per micro-batch (scales the transfer). Default $batch.
    method : {"optimal", "greedy"}, optional
        Exact dynamic programming over the legal cuts, or filling stages in order up to their
        share of the total time. Default $method.

    Returns
    -------
    Plan
        ``cuts``, ``stage_ms`` and the cut units' ``names``.

    Raises
    ------
    Error
        DP_ERR_INVALID_ARG: stages outside 1..len(units), a speed <= 0, a negative time or link
        cost (the message names it).
    ValueError
        ``speeds`` not of length ``stages``, or an unknown method.
    TypeError
        A unit without ``ms`` and ``out_bytes``.

    Examples
    --------
    >>> units = m.profile(batch=4)
    >>> plan = dp.split_plan(units, stages=2, speeds=[1.0, 0.5])
    >>> plan.cuts, plan.stage_ms
    ([12], [3.1, 3.0])
    """
    table = []
    for u in units:
        try:
            table.append((float(u.ms), float(u.out_bytes)))
        except AttributeError:
            raise TypeError(f"a unit needs ms and out_bytes (dataparallel.Unit), got {type(u).__name__}") from None
    opts = c_options("split", stages=stages, link_bytes_per_s=link_bytes_per_s, link_latency_s=link_latency_s,
                     batch=batch, method=method)
    cuts, stage_ms = capi.pydp_split_plan(table, opts, None if speeds is None else [float(s) for s in speeds])
    named = all(isinstance(getattr(u, "name", None), str) for u in units)
    return Plan(cuts, stage_ms, [units[c].name for c in cuts] if named else [])


def cut_indices(model, cuts):
    """Unit indices of cuts given as indices, unit names or a Plan."""
    if isinstance(cuts, Plan):
        return list(cuts.cuts)
    if isinstance(cuts, (str, int)):
        cuts = [cuts]
    names = None
    out = []
    for c in cuts:
        if isinstance(c, str):
            if names is None:
                names = [u.name for u in model.units()]
            if c not in names[1:]:
                raise ValueError(f"{model.arch} has no unit {c!r} to cut before (cuts can be made before: "
                                 f"{', '.join(names[1:])})")
            out.append(names.index(c))
        else:
            out.append(int(c))
    return out


class Stage:
    """One stage of a model split into a pipeline: a contiguous range of its units.

    Made by :meth:`Model.split`. It shares the model's weights (nothing is copied) and keeps the
    model alive. Its input is the activation entering its first unit, float32 (N, C, H', W'); its
    output leaves its last unit (logits (N, K, 1, 1) for the last stage). Chaining every stage's
    :meth:`infer` gives the model's logits (bit-identical in fp32 when each stage's first layer
    picks the kernel the whole model uses: docs/pipeline.md).

    Parameters
    ----------
    model : Model
        The model it is part of.
    cuts : sequence of int
        The unit indices the model was split at.
    index : int
        Which stage, 0..len(cuts).

    Raises
    ------
    Error
        DP_ERR_INVALID_ARG for cuts that do not increase within 1..units - 1, DP_ERR_UNSUPPORTED
        for an int8 model.
    IndexError
        index outside 0..len(cuts).

    Examples
    --------
    >>> first, second = m.split(["layer3.0"])
    >>> logits = second.infer(first.infer(x), height=32, width=32)
    """

    def __init__(self, model, cuts, index):
        cuts = [int(c) for c in cuts]
        ptr = capi.pydp_model_stage(model._ptr(), cuts, int(index))
        self._h = Handle(ptr, capi.dp_model_free, keep=(model._h,))
        self.model = model
        self.index = int(index)
        self.cuts = cuts
        self._local = threading.local()

    @property
    def units(self):
        """Names of its units, in execution order."""
        return [u[0] for u in capi.pydp_model_units(self._h.ptr, 32, 32, 1, 1, 0)]

    @property
    def param_count(self):
        """Learned parameters of its layers, as PyTorch counts them."""
        return capi.dp_model_param_count(self._h.ptr)

    def io_shape(self, height=32, width=32):
        """Shapes per sample of its input and output for images of height x width.

        Parameters
        ----------
        height, width : int, default 32
            The image size the model is fed.

        Returns
        -------
        tuple of two (C, H, W) tuples
            Input and output; (3, height, width) in for a first stage, (K, 1, 1) out for a last.

        Raises
        ------
        Error
            DP_ERR_SHAPE for images below the model's minimum size.

        Examples
        --------
        >>> first.io_shape(32, 32)
        ((3, 32, 32), (256, 8, 8))
        """
        return capi.pydp_model_io_shape(self._h.ptr, int(height), int(width))

    def infer(self, x, height=None, width=None, out=None):
        """Run the stage: its input activation (N, C, H', W') -> its output activation.

        A C-contiguous float32 array is read in place; the GIL is released while it runs.

        Parameters
        ----------
        x : array_like
            The input activation for N samples (for a first stage, the images).
        height, width : int, optional
            The size of the images the model is fed. Default: x's own for a first stage, 32
            for later ones.
        out : numpy.ndarray, optional
            A writable C-contiguous float32 array of the output's shape to write into.

        Returns
        -------
        numpy.ndarray
            float32 (N, C, H, W) of :meth:`io_shape`'s output.

        Raises
        ------
        ValueError
            x or out not of the shapes :meth:`io_shape` gives (the message says them).
        TypeError
            A non-floating dtype.
        Error
            DP_ERR_SHAPE for images below the minimum size, or a library failure.

        Examples
        --------
        >>> act = first.infer(np.zeros((2, 3, 32, 32), np.float32))
        >>> second.infer(act).shape
        (2, 10, 1, 1)
        """
        arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
        if arr.dtype.kind != "f":
            raise TypeError(f"input must be a floating-point array, got dtype {arr.dtype}")
        x = np.ascontiguousarray(arr, dtype=np.float32)
        first = self.index == 0 and x.ndim == 4
        h = int(height) if height is not None else (x.shape[2] if first else 32)
        w = int(width) if width is not None else (x.shape[3] if first else 32)
        if out is None:
            out = np.empty((x.shape[0] if x.ndim else 0,) + self.io_shape(h, w)[1], np.float32)
        capi.pydp_stage_run(self._h.ptr, self._exec(), x, h, w, out)
        return out

    __call__ = infer

    def _exec(self):
        h = getattr(self._local, "exec", None)
        if h is None:
            h = Handle(capi.dp_exec_create(self._h.ptr, self.model.threads), capi.dp_exec_free, keep=(self._h,))
            self._local.exec = h
        return h.ptr

    def __repr__(self):
        names = self.units
        return f"Stage({self.model.arch!r}, {self.index}, units={names[0]}..{names[-1]}, params={self.param_count})"
