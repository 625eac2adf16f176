"""Metric sinks: where a run's per-sample records, interval summaries and final summary go."""
import json
import os

import numpy as np

from . import capi
from ._util import Callback, Handle


def result_dict(d):
    """A per-sample record from the C side, with logits (if kept) as a float32 array."""
    if d.get("logits") is not None:
        d["logits"] = np.frombuffer(d["logits"], dtype=np.float32)
    return d


class Sink:
    """Base class of the sinks. Pass sinks to :meth:`Runner.run` / :meth:`Runner.run_batch` /
    :meth:`Runner.start`; one sink can serve several runs, of one runner at a time. Files are
    opened and ports bound when the sink is created, so a bad path fails before any run."""

    def __init__(self, ptr, keep=(), callbacks=()):
        self._h = Handle(ptr, capi.dp_sink_free, keep=keep)
        self._callbacks = tuple(callbacks)

    def close(self):
        """Release this object's hold on the sink (the C sink is freed once no runner uses it;
        CSV/JSONL files are flushed and closed then, the Prometheus server stopped)."""
        self._h = None


class ConsoleSink(Sink):
    """Progress on the terminal: a live status line on a TTY (``live=True``), periodic lines
    otherwise (``live=False``; None: decide by isatty), and a final table. ``quiet``: only the
    final table. ``stream``: "stderr" or "stdout" (the C streams, not sys.stdout)."""

    def __init__(self, live=None, quiet=False, stream="stderr"):
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"stream must be 'stdout' or 'stderr', got {stream!r}")
        live = -1 if live is None else int(bool(live))
        super().__init__(capi.pydp_sink_console(live, int(bool(quiet)), 1 if stream == "stdout" else 2))


class CsvSink(Sink):
    """One CSV row per interval (header first): time, counters, throughput, latency quantiles,
    queue depth, CPU and RSS (see docs/metrics.md)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        super().__init__(capi.dp_sink_csv_create(self.path))


class JsonlSink(Sink):
    """JSON Lines: one object per completed sample, then ``{"type": "summary", ...}``."""

    def __init__(self, path):
        self.path = os.fspath(path)
        super().__init__(capi.dp_sink_jsonl_create(self.path))


class PrometheusSink(Sink):
    """Serves ``/metrics`` (Prometheus text format 0.0.4) on ``address`` = "HOST:PORT" while it
    lives. PORT 0 picks a free port: read it from :attr:`port`. A port in use raises Error
    DP_ERR_BUSY."""

    def __init__(self, address="127.0.0.1:0"):
        super().__init__(capi.dp_sink_prometheus_create(str(address)))
        self.host = str(address).rsplit(":", 1)[0]

    @property
    def port(self):
        """The TCP port actually bound."""
        return capi.dp_sink_prometheus_port(self._h.ptr)

    @property
    def url(self):
        """``http://HOST:PORT/metrics``."""
        return f"http://{self.host}:{self.port}/metrics"


class CallbackSink(Sink):
    """Calls Python functions with each event, on the runner's metrics thread (never a worker):

    - ``on_record(result)`` per finished sample (a dict: sample_id, index, worker, top1, label,
      batch_size, status, code, intended_ns, start_ns, end_ns, latency_ms, logits);
    - ``on_interval(interval)`` every ``Runner(interval_ms=...)``, and once more at the end
      (cumulative counters, throughput, latency_ms, queue depths, cpu_pct, rss_mb);
    - ``on_summary(summary)`` once at the end (the dict :meth:`Runner.run` returns, plus "info");
    - ``on_start(info)`` before the first sample (mode, arch, strategy, workers, ...).

    Records are only produced for runs with an ``on_record``. An exception in a callback stops
    the run, which then re-raises it.
    """

    def __init__(self, on_record=None, on_interval=None, on_summary=None, on_start=None):
        handlers = {"record": on_record, "interval": on_interval, "summary": on_summary, "start": on_start}
        for kind, fn in handlers.items():
            if fn is not None and not callable(fn):
                raise TypeError(f"on_{kind} must be callable, got {type(fn).__name__}")

        def event(kind, payload):
            fn = handlers[kind]
            if fn is None:
                return
            if kind == "record":
                payload = result_dict(payload)
            elif kind == "summary":
                text, info = payload
                payload = json.loads(text)
                payload["info"] = info
            fn(payload)

        cb = Callback(event)
        super().__init__(capi.pydp_sink_callback(cb.ptr, int(on_record is not None)), keep=[cb.handle],
                         callbacks=[cb.state])
