"""dataparallel.Partitioner and dataparallel.Runner: a model over several workers."""
import atexit
import json
import weakref

import numpy as np

from . import capi
from ._data import Dataset, Source, _as_dataset
from ._errors import Error, Status
from ._model import Model, as_float32_batch
from ._options import c_options, document, named
from ._sinks import Sink, result_dict
from ._util import Callback, Handle, first_error, wait_interruptibly

STRATEGIES = ("uniform", "sharded", "dynamic", "weighted")

# Runners in push mode. Stopped at exit, before the interpreter finalizes: their workers may still
# call Python callbacks, which must not happen once the GIL can no longer be taken.
_PUSHING = weakref.WeakSet()


@atexit.register
def _stop_push_runners():
    for r in list(_PUSHING):
        try:
            r.close()
        except BaseException:  # noqa: B902 - exiting anyway
            pass


@document("partitioner")
class Partitioner:
    """Decides which worker gets which samples.

    ========  ========================================  ==========================================
    name      batch mode (run_batch)                    stream mode (run, submit)
    ========  ========================================  ==========================================
    uniform   W contiguous equal ranges                 round-robin
    sharded   fixed shards assigned greedily by size    consistent hash of the sample key
    dynamic   guided self-scheduling (shared counter)   one shared queue all workers pull from
    weighted  ranges proportional to worker speed       smooth weighted round-robin, EMA weights
    ========  ========================================  ==========================================

    A Runner also accepts the name or a function directly. Keywords left at None take the
    library's default (``dp_partitioner_opts_init()``).

    Parameters
    ----------
    name : {"uniform", "sharded", "dynamic", "weighted"}, default "uniform"
        The strategy.
    weights : sequence of float, optional
        weighted: initial relative speed per worker (None: equal until measured).
    num_shards : int, optional
        sharded: shards in batch mode (0: 4 x workers). Default $num_shards.
    vnodes : int, optional
        sharded: virtual nodes per worker on the hash ring. Default $vnodes.
    ema_alpha : float, optional
        weighted: EMA factor of the service-time estimates, in [0, 1]. Default $ema_alpha.
    min_chunk : int, optional
        dynamic: smallest chunk in batch mode. Default $min_chunk.

    Raises
    ------
    Error
        DP_ERR_INVALID_ARG for an unknown name or an option out of range (the message names it).
    TypeError, OverflowError
        An option of the wrong type or out of the C type's range.

    Examples
    --------
    >>> p = dp.Partitioner("sharded", num_shards=8)
    >>> r = dp.Runner(m, workers=2, partitioner=p)
    """

    def __init__(self, name="uniform", weights=None, num_shards=None, vnodes=None, ema_alpha=None, min_chunk=None):
        if weights is not None:
            weights = [float(v) for v in weights]
        opts = c_options("partitioner", num_shards=num_shards, vnodes=vnodes, ema_alpha=ema_alpha,
                         min_chunk=min_chunk)
        ptr = capi.pydp_partitioner_create(str(name), weights, opts)
        self._h = Handle(ptr, capi.dp_partitioner_free)
        self._callbacks = ()

    @classmethod
    def custom(cls, fn):
        """A strategy from a Python function, used in both modes.

        Parameters
        ----------
        fn : callable
            ``fn(sample_id, key, workers) -> worker`` with 0 <= worker < workers; key is the
            sample's data-set index. Called on library threads under the GIL.

        Returns
        -------
        Partitioner
            Named "custom".

        Raises
        ------
        TypeError
            ``fn`` is not callable.

        Notes
        -----
        A bad return value fails that routing decision; an exception stops the run, which
        re-raises it.

        Examples
        --------
        >>> p = dp.Partitioner.custom(lambda sample_id, key, workers: key % workers)
        """
        self = cls.__new__(cls)
        cb = Callback(fn, failure=-1)
        self._h = Handle(capi.pydp_partitioner_custom(cb.ptr), capi.dp_partitioner_free, keep=[cb.handle])
        self._callbacks = (cb.state,)
        return self

    @property
    def name(self):
        """Strategy name ("custom" for :meth:`custom`)."""
        return capi.dp_partitioner_name(self._h.ptr)

    def __repr__(self):
        return f"Partitioner({self.name!r})"


def _as_partitioner(p):
    if isinstance(p, Partitioner):
        return p
    if isinstance(p, str):
        return Partitioner(p)
    if callable(p):
        return Partitioner.custom(p)
    raise TypeError(f"partitioner must be a strategy name, a callable or a Partitioner, got {type(p).__name__}")


@document("runner")
class Runner:
    """Runs a :class:`Model` over W workers, each with its own execution context.

    Keywords left at None take the library's default (``dp_runner_opts_init()``, shown below).

    Parameters
    ----------
    model : Model
        The network (shared, not copied).
    workers : int, optional
        Number of workers W, 1..1024. Default $workers.
    threads_per_worker : int, optional
        oneDNN threads per worker. Default $threads_per_worker.
    partitioner : str, Partitioner or callable, default "uniform"
        "uniform", "sharded", "dynamic", "weighted", a :class:`Partitioner`, or a function
        ``fn(sample_id, key, workers) -> worker``.
    max_batch : int, optional
        Micro-batching: a worker takes up to this many queued samples. Default $max_batch.
    max_delay_us : int, optional
        Wait at most this long (us) to fill a micro-batch. Default $max_delay_us.
    queue_capacity : int, optional
        Bound of each queue. Default $queue_capacity.
    overflow : {"block", "drop-newest", "drop-oldest"}, optional
        What a full queue does with a new sample. Default $overflow.
    slowdown : sequence of float, optional
        Per-worker service-time stretch factors (>= 1), to simulate slower nodes.
    keep_logits : bool, optional
        Put logits in per-sample results (and :meth:`run_batch`'s "logits"). Default $keep_logits.
    straggler_factor : float, optional
        Flag workers slower than the median by this factor. Default $straggler_factor.
    pin_workers : bool, optional
        Pin worker k to core k % ncores. Default $pin_workers.
    interval_ms : int, optional
        Period of the sinks' interval summaries. Default $interval_ms.
    backend : {"threads", "mpi"}, optional
        "threads" (in process) or "mpi": every rank of ``mpirun -np N`` runs the same script;
        rank 0 runs source, partitioner and sinks, ranks 1..N-1 are the workers (see
        :attr:`is_worker_rank` and docs/distributed.md). Default $backend.
    handle_signals : bool, optional
        SIGINT and SIGTERM end a run gracefully in the library (summary complete) instead of
        reaching Python. Default $handle_signals.
    worker_timeout_s : float, optional
        mpi: a worker silent this long is declared dead. Default $worker_timeout_s.
    retry : bool, optional
        mpi: re-dispatch a dead worker's samples to the others. Default $retry.
    handle_sigint : bool, optional
        The old name of ``handle_signals`` (the same C field).
    warmup_s : float, optional
        Samples intended within this many seconds of a run's start are warm-up: they complete as
        any other but are left out of throughput, efficiency and latency, and the summary reports
        them apart (``warmup_completed``, ``warmup_latency_ms``; docs/metrics.md). Default $warmup_s.
    warmup_samples : int, optional
        The samples with an id below this are warm-up too. Default $warmup_samples.
    stages : int, optional
        Split the model into this many pipeline stages: the workers become workers / stages
        replicas of ``stages`` stages, worker k running stage k % stages (docs/pipeline.md).
        Default 1 (data parallel). Stream and push mode only.
    cuts : "auto", str or sequence of str, optional
        Where stages 2.. start, by unit name (``["layer3.0"]`` or ``"layer3.0,layer4.0"``), or
        "auto" (default): planned from a profile of the model.
    depth : int, optional
        Micro-batches in flight between two stages. Default 2.
    link_gbps : float, optional
        With ``cuts="auto"``: the link between stages the planner weighs, in Gbit/s (a stage
        also pays sending its output). Default 0, free, as between threads; give it for MPI.
    rank_concurrency : int, optional
        mpi: micro-batches a worker rank runs at once, each on its own engine; 0 = as many as
        rank 0 keeps in flight to it (workers / worker ranks), at most its cores / threads.
        Default $rank_concurrency.

    Raises
    ------
    Error
        DP_ERR_INVALID_ARG for an option out of range (the message names it).
    TypeError, ValueError, OverflowError
        A model that is not a :class:`Model`, an unknown enum name, an option of the wrong type.

    Notes
    -----
    Three ways to feed it: :meth:`run` (a rate-limited :class:`Source`, stream mode),
    :meth:`run_batch` (a data set as fast as possible, batch mode) and push mode
    (:meth:`submit` with a completion callback; :meth:`start` / :meth:`drain` / :meth:`stop`, or
    use the Runner as a context manager). One run at a time. The GIL is released while the library
    runs; Python callbacks re-acquire it on library threads. Ctrl-C (KeyboardInterrupt) during
    :meth:`run` / :meth:`run_batch` stops the run cleanly and returns the partial summary with
    ``"cancelled": True``.

    Every summary is a dict with exactly the fields of the library's JSON summary (docs/metrics.md):
    offered, completed, dropped, dropped_newest, dropped_oldest, failed, target_rate,
    rate_accuracy_pct, throughput, efficiency_pct, latency_ms {mean, p50, p90, p99, p999, max},
    latency_breakdown_ms {dispatch, queue, batching, service, delivery: {p50, p90, p99, max,
    mean}} (where the latency went: the five parts add up to it, docs/metrics.md),
    cpu_pct, rss_mb, elapsed_s, labelled, correct (accuracy_pct when labelled), workers, per_worker
    [{worker, completed, failed, busy_s, busy_pct, mean_batch, mean_service_ms, queue_hwm,
    straggler, latency_breakdown_ms, ...}], pipeline {stages, replicas, bubble_pct, per_stage
    [{replica, stage, bytes_sent, bubble_pct, ...}]} (docs/pipeline.md), plus arch, strategy,
    threads_per_worker, mode, status ("DP_OK" or "DP_ERR_CANCELLED") and cancelled.
    offered == completed + dropped + failed.

    Examples
    --------
    >>> r = dp.Runner(m, workers=2, partitioner="dynamic", max_batch=8)
    >>> s = r.run(dp.Source.synthetic(rate=300, samples=600))
    >>> s["completed"]
    600
    """

    def __init__(self, model, workers=None, threads_per_worker=None, partitioner="uniform", max_batch=None,
                 max_delay_us=None, queue_capacity=None, overflow=None, slowdown=None, keep_logits=None,
                 straggler_factor=None, pin_workers=None, interval_ms=None, backend=None, handle_signals=None,
                 worker_timeout_s=None, retry=None, handle_sigint=None, stages=None, cuts=None, depth=None,
                 rank_concurrency=None, warmup_s=None, warmup_samples=None, link_gbps=None):
        if not isinstance(model, Model):
            raise TypeError(f"model must be a dataparallel.Model, got {type(model).__name__}")
        if handle_signals is None:
            handle_signals = handle_sigint
        elif handle_sigint is not None and bool(handle_sigint) != bool(handle_signals):
            raise ValueError("handle_sigint is the old name of handle_signals: give one of them")
        self.model = model
        self.partitioner = _as_partitioner(partitioner)
        self._opts = c_options("runner", workers=workers, threads_per_worker=threads_per_worker, max_batch=max_batch,
                               max_delay_us=max_delay_us, queue_capacity=queue_capacity, overflow=overflow,
                               backend=backend, straggler_factor=straggler_factor, pin_workers=pin_workers,
                               keep_logits=keep_logits, interval_ms=interval_ms, handle_signals=handle_signals,
                               worker_timeout_s=worker_timeout_s, retry=retry, rank_concurrency=rank_concurrency,
                               warmup_s=warmup_s, warmup_samples=warmup_samples)
        self._slowdown = None if slowdown is None else [float(v) for v in slowdown]
        if cuts is not None and not isinstance(cuts, str):
            cuts = ",".join(str(c) for c in cuts)
        self._stages = None if stages is None and cuts is None and depth is None and link_gbps is None else (
            1 if stages is None else int(stages), cuts, -1 if depth is None else int(depth),
            0.0 if link_gbps is None else float(link_gbps) * 1e9 / 8)
        self._h = None
        self._sinks = []
        self._faults = []            # (at_s, worker, kind, value) as given to inject(), for a new C runner
        self._create([])
        #: The options the C runner was created with ({C field: value}, enums by name).
        self.options = named("runner", capi.pydp_runner_opts(self._h.ptr))
        self.workers = self.options["workers"]
        self.threads_per_worker = self.options["threads_per_worker"]
        self.keep_logits = self.options["keep_logits"]
        self._mode = None            # "push" between start() and stop()
        self._running = None         # (runner ptr, source ptr or None) during run()/run_batch()
        self._stop_requested = False  # set by cancel(), acted on by the waiting thread
        self._push = None            # push mode: (dispatch Callback, pending callbacks, states, shape)
        self._next_id = 0

    # ---- set-up ------------------------------------------------------------------------------

    def _create(self, sinks):
        if self._h is not None:
            self._h.close()
            self._h = None
        ptr = capi.pydp_runner_create(self.model._ptr(), self.partitioner._h.ptr, self._opts, self._slowdown)
        self._h = Handle(ptr, capi.pydp_runner_free, keep=(self.model._h, self.partitioner._h))
        if self._stages is not None:
            capi.pydp_runner_set_stages(ptr, self.model._ptr(), *self._stages)
        for f in self._faults:
            capi.pydp_runner_inject(ptr, *f)
        self._sinks = []
        for s in sinks:
            capi.pydp_runner_add_sink(ptr, s._h.ptr)
            self._h.keep.append(s._h)
            self._sinks.append(s)

    def _use_sinks(self, sinks):
        # The C runner has no "detach": a different set of sinks gets a fresh C runner.
        sinks = [sinks] if isinstance(sinks, Sink) else list(sinks or ())
        for s in sinks:
            if not isinstance(s, Sink):
                raise TypeError(f"sinks must be dataparallel sinks, got {type(s).__name__}")
            if s._h is None:
                raise ValueError("a sink was closed")
        if [id(s) for s in sinks] != [id(s) for s in self._sinks]:
            self._create(sinks)

    def _ptr(self):
        if self._h is None:
            raise ValueError("the runner is closed")
        return self._h.ptr

    def _check_idle(self):
        self._ptr()
        if self._mode == "push":
            raise Error(Status.DP_ERR_BUSY, "push mode is active: call stop() first")
        if self._running is not None:
            raise Error(Status.DP_ERR_BUSY, "a run is already going on this runner")

    _FAULT_KINDS = {"slowdown": 1, "stall": 2, "fail": 3, "stop": 4}

    def inject(self, at, worker, kind, value=None):
        """Schedule a fault that every later run applies to one of its workers.

        The worker applies it at its first micro-batch that starts ``at`` seconds or later into the
        run. The run's summary lists each event in ``"events"`` with what it did and what followed
        (failed and re-routed samples, the p99 of its window, the recovery time, when the
        straggler rule flagged the worker, how the ``weighted`` partitioner's weight for it moved):
        docs/runner.md, "Injected faults". The schedule stays until :meth:`clear_faults`.

        Parameters
        ----------
        at : float
            Seconds after the run's start, 0 to 1e6.
        worker : int
            The worker, 0 to ``workers - 1``.
        kind : {"slowdown", "stall", "fail", "stop"}
            slowdown: its service time times ``value`` from then on (>= 1; 1 ends an earlier
            slowdown). stall: it sleeps ``value`` seconds once (at most 3600). fail: its next
            ``value`` micro-batches fail (a whole number >= 1). stop: it leaves the run; what it
            holds and what reaches its queue goes to the other workers with ``retry=True``, else
            fails. A stop needs a stream or push run and must leave at least one worker.
        value : float, optional
            As above; not used by "stop".

        Raises
        ------
        Error
            A bad argument (DP_ERR_INVALID_ARG naming it), a run going on (DP_ERR_BUSY).
        ValueError
            An unknown kind, or no value for a kind that needs one.

        Examples
        --------
        >>> r = dp.Runner(m, workers=2, partitioner="weighted")
        >>> r.inject(2.0, 1, "slowdown", 4)
        >>> res = r.run(dp.Source.synthetic(rate=200, samples=1000))
        >>> res["events"][0]["recovery_s"]
        """
        if kind not in self._FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(self._FAULT_KINDS)}, got {kind!r}")
        if value is None and kind != "stop":
            raise ValueError(f"a {kind} fault needs a value")
        self._check_idle()
        f = (float(at), int(worker), self._FAULT_KINDS[kind], 0.0 if value is None else float(value))
        capi.pydp_runner_inject(self._ptr(), *f)
        self._faults.append(f)

    def clear_faults(self):
        """Empty the schedule of :meth:`inject`.

        Raises
        ------
        Error
            A run going on (DP_ERR_BUSY).

        Examples
        --------
        >>> r.clear_faults()
        """
        self._check_idle()
        capi.pydp_runner_clear_faults(self._ptr())
        self._faults = []

    def _dispatcher(self, on_result):
        if on_result is None:
            return None
        return Callback(lambda d: on_result(result_dict(d)))

    def _states(self, *objs):
        states = [s for o in objs if o is not None for s in getattr(o, "_callbacks", ())]
        states += [s for sink in self._sinks for s in sink._callbacks]
        for s in states:
            s.error = None
        return states

    def _summary(self, rc, interrupted, mode):
        s = json.loads(capi.pydp_runner_summary_json(self._ptr()))
        s.update(arch=self.model.arch, strategy=self.partitioner.name, threads_per_worker=self.threads_per_worker,
                 mode=mode, status=Status(rc).name, cancelled=rc == Status.DP_ERR_CANCELLED)
        if interrupted:
            s["interrupted"] = True
        return s

    def _blocking(self, call, cancel, states):
        """Run a blocking C call interruptibly; raise a callback's exception or the library error."""
        rc, interrupted = wait_interruptibly(call, cancel, states, lambda: self._stop_requested)
        err = first_error(states)
        if err is not None:
            raise err
        if rc not in (Status.DP_OK, Status.DP_ERR_CANCELLED):
            raise Error(rc, capi.pydp_runner_error(self._ptr()))
        return rc, interrupted

    # ---- stream and batch mode -----------------------------------------------------------------

    def run(self, source, sinks=(), on_result=None):
        """Stream mode: serve everything ``source`` emits, at its pace.

        Parameters
        ----------
        source : Source
            The rate-limited stream.
        sinks : Sink or sequence of Sink, default ()
            Where this run's records and summaries go.
        on_result : callable, optional
            ``on_result(result)`` for every finished sample, on a worker thread under the GIL
            (the dict is described in :class:`CallbackSink`).

        Returns
        -------
        dict
            The summary (see the class notes); ``cancelled`` True if the run was stopped.

        Raises
        ------
        Error
            The library failed (DP_ERR_BUSY: another run is going on).
        Exception
            Whatever a callback raised (the run is stopped first).

        Examples
        --------
        >>> s = r.run(dp.Source.synthetic(rate=300, samples=600), sinks=[dp.CsvSink("m.csv")])
        >>> s["offered"] == s["completed"] + s["dropped"] + s["failed"]
        True
        """
        if not isinstance(source, Source):
            raise TypeError(f"source must be a dataparallel.Source, got {type(source).__name__}")
        self._check_idle()
        self._use_sinks(sinks)
        return self._run("stream", source.dataset, on_result, None, source)

    def run_batch(self, data, sinks=(), on_result=None):
        """Batch mode: every sample of ``data`` once, split by the partitioner, as fast as possible.

        Parameters
        ----------
        data : Dataset or array_like
            A :class:`Dataset`, or a float32 (N, 3, H, W) array (borrowed without a copy).
        sinks : Sink or sequence of Sink, default ()
            Where this run's records and summaries go.
        on_result : callable, optional
            ``on_result(result)`` for every finished sample, as in :meth:`run`.

        Returns
        -------
        dict
            The summary plus "top1" (int32 (N,), by data-set index; -1 for a sample that did
            not complete) and, with ``keep_logits``, "logits" (float32 (N, K)).

        Raises
        ------
        Error
            The library failed.
        Exception
            Whatever a callback raised (the run is stopped first).

        Examples
        --------
        >>> s = r.run_batch(dp.Dataset.synthetic(256))
        >>> s["top1"].shape
        (256,)
        """
        self._check_idle()
        ds = _as_dataset(data)
        self._use_sinks(sinks)
        n = len(ds)
        top1 = np.full(n, -1, dtype=np.int32)
        logits = np.zeros((n, self.model.num_classes), dtype=np.float32) if self.keep_logits else None
        pins = [Handle(capi.pydp_pin_new(top1, 1), capi.pydp_pin_free)]
        if logits is not None:
            pins.append(Handle(capi.pydp_pin_new(logits, 1), capi.pydp_pin_free))
        capi.pydp_runner_collect(self._ptr(), pins[0].ptr, pins[1].ptr if logits is not None else None, n)
        try:
            summary = self._run("batch", ds, on_result, ds, None)
        finally:
            capi.pydp_runner_collect(self._ptr(), None, None, 0)
            for p in pins:
                p.close()
        summary["top1"] = top1
        if logits is not None:
            summary["logits"] = logits
        return summary

    def _check_sample_shape(self, shape):
        c, h, w = shape
        if c != self.model.input_channels or min(h, w) < self.model.min_input_size:
            raise ValueError(f"samples of shape {tuple(shape)} do not fit {self.model.arch}: it needs "
                             f"{self.model.input_channels} channels and H, W >= {self.model.min_input_size}")

    def _run(self, mode, dataset, on_result, batch_ds, source):
        self._check_sample_shape(dataset.shape)
        ptr = self._ptr()
        dispatch = self._dispatcher(on_result)
        states = self._states(self.partitioner, dataset)
        if dispatch is not None:
            states.append(dispatch.state)
        capi.pydp_runner_set_dispatch(ptr, dispatch.ptr if dispatch else None)
        src = source._h.ptr if source is not None else None
        self._stop_requested = False
        self._running = (ptr, src)
        try:
            if source is not None:
                rc, interrupted = self._blocking(lambda: capi.pydp_runner_run(ptr, src), self._stop_now, states)
            else:
                rc, interrupted = self._blocking(lambda: capi.pydp_runner_run_batch(ptr, batch_ds._h.ptr),
                                                 self._stop_now, states)
        finally:
            self._running = None
            capi.pydp_runner_set_dispatch(ptr, None)
        return self._summary(rc, interrupted, mode)

    @property
    def is_worker_rank(self):
        """True on an MPI worker rank (``backend="mpi"``, rank > 0).

        Its runs only serve rank 0's micro-batches and return empty summaries, so print and
        write results on rank 0 only."""
        return bool(capi.pydp_runner_is_worker_rank(self._ptr()))

    def cancel(self):
        """Ask a :meth:`run` / :meth:`run_batch` / :meth:`drain` going on to stop.

        The run then returns its partial summary with ``cancelled`` True. Safe from any thread,
        including from inside callbacks (e.g. ``on_result`` after enough samples); returns at
        once. No effect when idle.

        Examples
        --------
        >>> r.run(src, on_result=lambda res: r.cancel())["cancelled"]
        True
        """
        self._stop_requested = True

    def _stop_now(self):
        running = self._running
        if running is not None:
            capi.pydp_runner_cancel(running[0])
            if running[1] is not None:
                capi.dp_source_interrupt(running[1])

    # ---- push mode -----------------------------------------------------------------------------

    def start(self, shape=(3, 32, 32), sinks=(), on_result=None):
        """Start push mode (:meth:`submit` calls this itself with the first sample's shape).

        Parameters
        ----------
        shape : tuple of int, default (3, 32, 32)
            (C, H, W) of every sample to come.
        sinks : Sink or sequence of Sink, default ()
            Where the records and summaries of this push session go.
        on_result : callable, optional
            ``on_result(result)`` for every finished sample, in addition to each submit's own
            callback.

        Raises
        ------
        ValueError
            A shape the model cannot take.
        Error
            DP_ERR_BUSY: a run or push session is going on.

        Examples
        --------
        >>> r.start((3, 32, 32))
        """
        self._check_idle()
        shape = tuple(int(v) for v in shape)
        if len(shape) != 3:
            raise ValueError(f"shape must be (C, H, W), got {shape}")
        self._check_sample_shape(shape)
        self._use_sinks(sinks)
        pending = {}

        def dispatch(d):
            d = result_dict(d)
            cb = pending.pop(d["sample_id"], None)
            if on_result is not None:
                on_result(d)
            if cb is not None:
                cb(d)

        cb = Callback(dispatch)
        states = self._states(self.partitioner) + [cb.state]
        ptr = self._ptr()
        capi.pydp_runner_set_dispatch(ptr, cb.ptr)
        try:
            capi.pydp_runner_start(ptr, *shape)
        except BaseException:
            capi.pydp_runner_set_dispatch(ptr, None)
            raise
        self._mode = "push"
        self._push = (cb, pending, states, shape)
        _PUSHING.add(self)

    def _raise_push_error(self):
        err = first_error(self._push[2])
        if err is not None:
            self._finish_push()
            raise err

    def submit(self, x, callback=None):
        """Push one sample and return at once.

        Parameters
        ----------
        x : array_like
            The sample (C, H, W); copied.
        callback : callable, optional
            ``callback(result)`` runs on a worker thread when the sample has finished
            (completed, or dropped by the overflow policy: status "DP_ERR_CANCELLED", top1 -1).

        Returns
        -------
        int
            The sample id (0, 1, ... per runner).

        Raises
        ------
        ValueError
            A shape other than the started one.
        Exception
            An earlier callback's exception (push mode is stopped then).

        Examples
        --------
        >>> sid = r.submit(np.zeros((3, 32, 32), np.float32), lambda res: print(res["top1"]))
        """
        if self._mode != "push":
            self.start(np.shape(x))
        self._raise_push_error()
        x = as_float32_batch(np.ascontiguousarray(x, dtype=np.float32), what="sample", ndim=3)
        if x.shape != self._push[3]:
            raise ValueError(f"sample shape {x.shape} differs from the started shape {self._push[3]}")
        sid = self._next_id
        self._next_id += 1
        pending = self._push[1]
        if callback is not None:
            if not callable(callback):
                raise TypeError("callback must be callable")
            pending[sid] = callback
        try:
            capi.pydp_runner_submit(self._ptr(), sid, x)
        except BaseException:
            pending.pop(sid, None)
            raise
        return sid

    def drain(self):
        """Wait until every submitted sample has finished (callbacks included).

        Raises
        ------
        Exception
            A callback's exception (push mode is stopped); KeyboardInterrupt stops push mode and
            is re-raised.

        Examples
        --------
        >>> r.drain()
        """
        if self._mode != "push":
            return
        ptr = self._ptr()
        self._stop_requested = False
        try:
            self._blocking(lambda: capi.pydp_runner_drain(ptr), lambda: capi.pydp_runner_cancel(ptr), self._push[2])
        except BaseException:
            self._finish_push()
            raise
        self._raise_push_error()

    def _finish_push(self):
        ptr = self._ptr()
        rc = capi.pydp_runner_stop(ptr)
        capi.pydp_runner_set_dispatch(ptr, None)
        self._mode = None
        self._push, push = None, self._push
        _PUSHING.discard(self)
        return rc, push

    def stop(self):
        """End push mode: finish queued samples, stop the workers.

        Returns
        -------
        dict or None
            The summary, or None if push mode was not active.

        Raises
        ------
        Error
            The library failed.

        Examples
        --------
        >>> s = r.stop()
        """
        if self._mode != "push":
            return None
        rc, push = self._finish_push()
        err = first_error(push[2])
        if err is not None:
            raise err
        if rc not in (Status.DP_OK, Status.DP_ERR_CANCELLED):
            raise Error(rc, capi.pydp_runner_error(self._ptr()))
        return self._summary(rc, False, "push")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._mode == "push":
            if exc_type is None:
                self.stop()
            else:
                self._finish_push()
        self.close()

    def close(self):
        """Stop push mode if active and free the workers; the Runner is unusable afterwards.

        Raises
        ------
        Error
            DP_ERR_BUSY while a run is going on in another thread (cancel() it first).

        Examples
        --------
        >>> r.close()
        """
        if self._running is not None:
            raise Error(Status.DP_ERR_BUSY, "a run is going on: cancel() it and let run() return first")
        if self._mode == "push":
            self._finish_push()
        if self._h is not None:
            self._h.close()
            self._h = None

    def __del__(self):
        # Push mode first: its workers may still call back into Python while the C runner is freed.
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __repr__(self):
        o = self.options
        return (f"Runner({self.model.arch!r}, workers={self.workers}, threads_per_worker={self.threads_per_worker}, "
                f"partitioner={self.partitioner.name!r}, max_batch={o['max_batch']}, "
                f"backend={o['backend']!r})")
