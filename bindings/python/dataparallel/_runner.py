"""dataparallel.Partitioner and dataparallel.Runner: a model over several workers."""
import atexit
import json
import weakref

import numpy as np

from . import capi
from ._data import Dataset, Source, _as_dataset
from ._errors import Error, Status
from ._model import Model, as_float32_batch
from ._sinks import Sink, result_dict
from ._util import Callback, Handle, first_error, wait_interruptibly

OVERFLOW = {"block": 0, "drop-newest": 1, "drop-oldest": 2}
RUNNER_BACKENDS = {"threads": 0, "mpi": 1}
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

    ``weights`` (weighted): initial relative speed per worker; ``num_shards`` (sharded, 0: 4 x
    workers), ``vnodes`` (sharded hash ring, 0: 64), ``ema_alpha`` (weighted, 0: 0.2),
    ``min_chunk`` (dynamic, 0: 1). :meth:`custom` wraps a Python function. A Runner also accepts
    the name or the function directly.
    """

    def __init__(self, name="uniform", weights=None, num_shards=0, vnodes=0, ema_alpha=0.0, min_chunk=0):
        if weights is not None:
            weights = [float(v) for v in weights]
        ptr = capi.pydp_partitioner_create(str(name), weights, int(num_shards), int(vnodes), float(ema_alpha),
                                           int(min_chunk))
        self._h = Handle(ptr, capi.dp_partitioner_free)
        self._callbacks = ()

    @classmethod
    def custom(cls, fn):
        """A strategy from ``fn(sample_id, key, workers) -> worker`` (0 <= worker < workers; key
        is the sample's data-set index), used in both modes. Called on library threads under the
        GIL. A bad return value fails that routing decision; an exception stops the run, which
        re-raises it."""
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
        return f"<dataparallel.Partitioner {self.name}>"


def _as_partitioner(p):
    if isinstance(p, Partitioner):
        return p
    if isinstance(p, str):
        return Partitioner(p)
    if callable(p):
        return Partitioner.custom(p)
    raise TypeError(f"partitioner must be a strategy name, a callable or a Partitioner, got {type(p).__name__}")


def _choice(value, choices, what):
    key = value.replace("_", "-") if isinstance(value, str) else value
    if key not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return choices[key]


class Runner:
    """Runs a :class:`Model` over W workers, each with its own execution context.

    Args:
        model: the :class:`Model` (shared, not copied).
        workers: number of workers W.
        threads_per_worker: oneDNN threads per worker.
        partitioner: "uniform", "sharded", "dynamic", "weighted", a :class:`Partitioner`, or a
            function ``fn(sample_id, key, workers) -> worker``.
        max_batch, max_delay_us: micro-batching — a worker takes up to max_batch queued samples,
            waiting at most max_delay_us for more.
        queue_capacity: per-queue bound; overflow: "block", "drop-newest" or "drop-oldest".
        slowdown: per-worker service-time stretch factors (>= 1), to simulate slower nodes.
        keep_logits: put logits in per-sample results (and :meth:`run_batch`'s "logits").
        straggler_factor: flag workers slower than the median by this factor.
        pin_workers: pin worker k to core k % ncores.
        interval_ms: period of the sinks' interval summaries.
        backend: "threads" (in process) or "mpi": every rank of ``mpirun -np N`` runs the same
            script; rank 0 runs source, partitioner and sinks, ranks 1..N-1 are the workers
            (see :attr:`is_worker_rank` and docs/distributed.md).

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
    cpu_pct, rss_mb, elapsed_s, labelled, correct (accuracy_pct when labelled), workers, per_worker
    [{worker, completed, failed, busy_s, busy_pct, mean_batch, mean_service_ms, queue_hwm,
    straggler, ...}], plus arch, strategy, threads_per_worker, mode, status ("DP_OK" or
    "DP_ERR_CANCELLED") and cancelled. offered == completed + dropped + failed.
    """

    def __init__(self, model, workers=1, threads_per_worker=1, partitioner="uniform", max_batch=1, max_delay_us=0,
                 queue_capacity=1024, overflow="block", slowdown=None, keep_logits=False, straggler_factor=1.5,
                 pin_workers=False, interval_ms=1000, backend="threads"):
        if not isinstance(model, Model):
            raise TypeError(f"model must be a dataparallel.Model, got {type(model).__name__}")
        self.model = model
        self.partitioner = _as_partitioner(partitioner)
        self.keep_logits = bool(keep_logits)
        self._args = (int(workers), int(threads_per_worker), int(max_batch), int(max_delay_us), int(queue_capacity),
                      _choice(overflow, OVERFLOW, "overflow"), _choice(backend, RUNNER_BACKENDS, "backend"),
                      None if slowdown is None else [float(v) for v in slowdown], float(straggler_factor),
                      int(bool(pin_workers)), int(self.keep_logits), int(interval_ms))
        self.workers = self._args[0]
        self.threads_per_worker = self._args[1]
        self._h = None
        self._sinks = []
        self._create([])
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
        ptr = capi.pydp_runner_create(self.model._ptr(), self.partitioner._h.ptr, *self._args)
        self._h = Handle(ptr, capi.pydp_runner_free, keep=(self.model._h, self.partitioner._h))
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
        """Stream mode: serve everything ``source`` emits, at its pace; returns the summary dict.

        ``sinks``: :class:`Sink` objects for this run. ``on_result(result)``: called for every
        finished sample (on a worker thread, under the GIL; see :class:`CallbackSink` for the
        dict). An exception in any callback stops the run and is re-raised here; KeyboardInterrupt
        stops it and returns the partial summary (``cancelled`` True). Library failures raise
        :class:`Error`.
        """
        if not isinstance(source, Source):
            raise TypeError(f"source must be a dataparallel.Source, got {type(source).__name__}")
        self._check_idle()
        self._use_sinks(sinks)
        return self._run("stream", source.dataset, on_result, None, source)

    def run_batch(self, data, sinks=(), on_result=None):
        """Batch mode: every sample of ``data`` (a :class:`Dataset`, or a float32 (N, 3, H, W)
        array, borrowed without a copy) once, split by the partitioner, as fast as possible.

        Returns the summary dict plus "top1" (int32 (N,), by data-set index; -1 for a sample that
        did not complete) and, with ``keep_logits``, "logits" (float32 (N, K)). Errors and
        interrupts as in :meth:`run`.
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
        """True on an MPI worker rank (``backend="mpi"``, rank > 0): its runs only serve rank 0's
        micro-batches and return empty summaries, so print and write results on rank 0 only."""
        return bool(capi.pydp_runner_is_worker_rank(self._ptr()))

    def cancel(self):
        """Ask a :meth:`run` / :meth:`run_batch` / :meth:`drain` going on to stop: the run then
        returns its partial summary with ``cancelled`` True. Safe from any thread, including from
        inside callbacks (e.g. ``on_result`` after enough samples); returns at once. No effect when
        idle."""
        self._stop_requested = True

    def _stop_now(self):
        running = self._running
        if running is not None:
            capi.pydp_runner_cancel(running[0])
            if running[1] is not None:
                capi.dp_source_interrupt(running[1])

    # ---- push mode -----------------------------------------------------------------------------

    def start(self, shape=(3, 32, 32), sinks=(), on_result=None):
        """Start push mode for samples of ``shape`` (C, H, W). :meth:`submit` calls this itself
        with the first sample's shape when needed. ``on_result(result)`` is called for every
        finished sample, in addition to each submit's own callback."""
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
        """Push one sample (array-like (C, H, W), copied) and return its sample id at once.

        ``callback(result)`` runs on a worker thread when the sample has finished (completed, or
        dropped by the overflow policy: status "DP_ERR_CANCELLED", top1 -1). If an earlier
        callback raised, push mode is stopped and that exception is raised here.
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
        """Wait until every submitted sample has finished (callbacks included). Re-raises a
        callback's exception (stopping push mode); KeyboardInterrupt stops push mode and is
        re-raised."""
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
        """End push mode: finish queued samples, stop the workers and return the summary dict
        (None if push mode was not active)."""
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
        """Stop push mode if active and free the workers. The Runner is unusable afterwards.
        Raises Error DP_ERR_BUSY while a run is going on in another thread (cancel() it first)."""
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
        return (f"<dataparallel.Runner {self.model.arch} workers={self.workers}x{self.threads_per_worker} "
                f"partitioner={self.partitioner.name}>")
