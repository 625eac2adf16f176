"""The configuration that serves a p99 objective best (``dp_tune()``; docs/tune.md)."""
import json
import os

from . import capi
from ._data import Dataset
from ._model import Calibration
from ._options import ENUMS, c_options


def tune(arch, slo_p99_ms=None, budget_s=None, workers=None, threads=None, max_batch=None, max_delay_us=None,
         strategies=None, precisions=None, cores=None, oversubscribe=None, confidence=None, min_samples=None,
         probe_seconds=None, start_rate=None, weights=None, classes=None, seed=None, calibration=None, data=None,
         dashboard=None):
    """Search workers x threads x max_batch x max_delay_us (x strategy, x precision) for the
    highest constant rate whose p99 latency meets an SLO with nothing dropped (``dp_tune()``).

    The same search as ``dp-bench tune`` (docs/tune.md): coarse to fine within ``budget_s``,
    pruning what cannot win (oversubscribed cores, equivalent settings, a full micro-batch slower
    than the SLO, a bound below the best so far), every probe holding at least ``min_samples``
    samples, the best confirmed by a repeat. Keywords left at None take the library's default
    (``dp_tune_opts_init()``, shown below). It blocks for up to ``budget_s`` seconds (plus model
    loading), with the GIL released.

    Parameters
    ----------
    arch : str
        Architecture, as :class:`Model` takes it.
    slo_p99_ms : float, optional
        Latency objective for p99, ms. Default 10.
    budget_s : float, optional
        Seconds the search may spend on probes and service-time measurements. Default 120.
    workers, threads, max_batch, max_delay_us : sequence of int, optional
        The values searched. Defaults: workers and threads 1..cores; max_batch 1, 2, 4, 8, 16;
        max_delay_us 0, 500, 2000.
    strategies : sequence of str, optional
        Partitioner names. Default ``["dynamic"]``.
    precisions : sequence of {"fp32", "bf16", "int8"}, optional
        Those the CPU lacks are reported as unsupported; int8 needs ``calibration``. Default
        ``["fp32"]``.
    cores : int, optional
        Cores workers x threads may use. Default: the online CPUs.
    oversubscribe : bool, optional
        Search workers x threads above ``cores`` too. Default False.
    confidence : float, optional
        Probes hold what a p99 with a bounded interval needs at this confidence. Default 0.95.
    min_samples : int, optional
        Samples per probe at least. Default: what ``confidence`` needs (368 at 0.95).
    probe_seconds : float, optional
        Length of each probe at least, s. Default 1.
    start_rate : float, optional
        Every configuration that could win is probed at this rate too, and a higher rate counts
        only if it passes here, as ``dp-bench capacity`` (which starts here) counts it
        (docs/tune.md, "What a configuration sustains"). Default 100.
    weights : str or os.PathLike, optional
        The model's weights, as :class:`Model` takes them. None: seeded.
    classes : int, optional
        Number of classes, as :class:`Model`.
    seed : int, optional
        Seed of the weights without ``weights``, as :class:`Model`.
    calibration : Calibration or str or os.PathLike, optional
        int8's activation ranges, as :class:`Model`.
    data : Dataset, optional
        What the probes stream. Default ``Dataset.synthetic(1000)`` (3 x 32 x 32).
    dashboard : DashboardSink, optional
        Shows every probe as a run while the search goes on.

    Returns
    -------
    dict
        The result as docs/tune.md defines it: ``best`` (``workers``, ``threads_per_worker``,
        ``max_batch``, ``max_delay_us``, ``strategy``, ``precision``, ``capacity`` in samples/s,
        ``confirmed``; None when no configuration met the SLO), ``configs`` (every configuration
        with its ``verdict``, ``service_ms``, ``bound``, ``capacity``), ``probes`` (every probe:
        ``config`` index, ``phase``, ``rate``, ``samples``, ``p99_ms``, ``ok``, ...),
        ``seconds_used``, ``budget_exhausted``, ``slo_p99_ms``, ``budget_s``, ``cores``,
        ``min_samples``; plus ``arch``.

    Raises
    ------
    Error
        A bad option (DP_ERR_INVALID_ARG, naming it), an unknown arch or unreadable weights.
    ValueError
        An unknown precision name.

    Examples
    --------
    >>> r = dp.tune("resnet18", slo_p99_ms=10, budget_s=60, max_batch=[1, 4])
    >>> r["best"]["workers"], r["best"]["capacity"]
    (2, 512.3)
    """
    names = ENUMS[("model", "precision")]
    codes = None
    if precisions is not None:
        unknown = [p for p in precisions if p not in names]
        if unknown:
            raise ValueError(f"precisions must be among {', '.join(map(repr, names))}, got {unknown[0]!r}")
        codes = [names.index(p) for p in precisions]
    if data is None:
        data = Dataset.synthetic(1000)
    if calibration is not None and not isinstance(calibration, Calibration):
        calibration = Calibration.load(calibration)
    model_opts = c_options("model", num_classes=classes, seed=seed)
    opts = {"slo_p99_ms": slo_p99_ms, "budget_s": budget_s, "workers": workers, "threads": threads,
            "max_batch": max_batch, "max_delay_us": max_delay_us, "strategies": strategies, "precisions": codes,
            "cores": cores, "oversubscribe": None if oversubscribe is None else int(bool(oversubscribe)),
            "confidence": confidence, "min_samples": min_samples, "probe_seconds": probe_seconds,
            "start_rate": start_rate}
    text = capi.pydp_tune(str(arch), None if weights is None else os.fspath(weights), model_opts,
                          None if calibration is None else calibration._h.ptr, data._h.ptr, opts,
                          None if dashboard is None else dashboard._h.ptr)
    result = json.loads(text)
    result["arch"] = str(arch)
    return result
