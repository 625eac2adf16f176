"""Metric sinks: where a run's per-sample records, interval summaries and final summary go."""
import json
import os

import numpy as np

from . import capi
from ._options import c_options, document
from ._util import Callback, Handle


def result_dict(d):
    """A per-sample record from the C side, with logits (if kept) as a float32 array."""
    if d.get("logits") is not None:
        d["logits"] = np.frombuffer(d["logits"], dtype=np.float32)
    return d


class Sink:
    """Base class of the sinks.

    Pass sinks to :meth:`Runner.run` / :meth:`Runner.run_batch` / :meth:`Runner.start`; one sink
    can serve several runs, of one runner at a time. Files are opened and ports bound when the
    sink is created, so a bad path fails before any run.

    Parameters
    ----------
    ptr : object
        Internal: the C handle (create one of the subclasses instead).
    keep : sequence, default ()
        Internal: what the C sink borrows.
    callbacks : sequence, default ()
        Internal: states of the Python callbacks it calls.

    Examples
    --------
    >>> r.run(src, sinks=[dp.CsvSink("m.csv"), dp.ConsoleSink(quiet=True)])
    """

    def __init__(self, ptr, keep=(), callbacks=()):
        self._h = Handle(ptr, capi.dp_sink_free, keep=keep)
        self._callbacks = tuple(callbacks)

    def close(self):
        """Release this object's hold on the sink.

        The C sink is freed once no runner uses it (CSV/JSONL files are flushed and closed then,
        the Prometheus server stopped).

        Examples
        --------
        >>> sink.close()
        """
        self._h = None

    def __repr__(self):
        return f"{type(self).__name__}({'closed' if self._h is None else ''})"


@document("console")
class ConsoleSink(Sink):
    """Progress on the terminal: a live status line or periodic lines, and a final table.

    Keywords left at None take the library's default (``dp_console_opts_init()``).

    Parameters
    ----------
    live : bool, optional
        True: one redrawn status line; False: periodic lines; None: the library's default
        ($live: -1 decides by isatty).
    quiet : bool, optional
        Only the final table. Default $quiet.
    stream : {"stderr", "stdout"}, optional
        The C stream written to (not sys.stdout); None: the library's default (stderr).

    Raises
    ------
    ValueError
        An unknown stream.
    Error
        The library failed.

    Examples
    --------
    >>> r.run(src, sinks=[dp.ConsoleSink(live=False)])
    """

    def __init__(self, live=None, quiet=None, stream=None):
        if stream not in (None, "stdout", "stderr"):
            raise ValueError(f"stream must be 'stdout' or 'stderr', got {stream!r}")
        opts = c_options("console", live=None if live is None else int(bool(live)), quiet=quiet)
        super().__init__(capi.pydp_sink_console(opts, {None: 0, "stdout": 1, "stderr": 2}[stream]))
        self.stream = stream or "stderr"

    def __repr__(self):
        return f"ConsoleSink(stream={self.stream!r})"


class CsvSink(Sink):
    """One CSV row per interval (header first).

    Columns: time, counters, throughput, latency quantiles, queue depth, CPU and RSS (see
    docs/metrics.md).

    Parameters
    ----------
    path : str or os.PathLike
        The file (created or truncated now).

    Raises
    ------
    Error
        DP_ERR_IO naming the file.

    Examples
    --------
    >>> r.run(src, sinks=[dp.CsvSink("metrics.csv")])
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        super().__init__(capi.dp_sink_csv_create(self.path))

    def __repr__(self):
        return f"CsvSink({self.path!r})"


class JsonlSink(Sink):
    """JSON Lines: one object per completed sample, then ``{"type": "summary", ...}``.

    Parameters
    ----------
    path : str or os.PathLike
        The file (created or truncated now).

    Raises
    ------
    Error
        DP_ERR_IO naming the file.

    Examples
    --------
    >>> r.run(src, sinks=[dp.JsonlSink("records.jsonl")])
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        super().__init__(capi.dp_sink_jsonl_create(self.path))

    def __repr__(self):
        return f"JsonlSink({self.path!r})"


class PrometheusSink(Sink):
    """Serves ``/metrics`` (Prometheus text format 0.0.4) while it lives.

    Parameters
    ----------
    address : str, default "127.0.0.1:0"
        "HOST:PORT"; PORT 0 picks a free port: read it from :attr:`port`.

    Raises
    ------
    Error
        DP_ERR_BUSY for a port in use, DP_ERR_INVALID_ARG for a malformed address,
        DP_ERR_UNSUPPORTED when built without libmicrohttpd.

    Examples
    --------
    >>> sink = dp.PrometheusSink("127.0.0.1:0")
    >>> sink.url
    'http://127.0.0.1:.../metrics'
    """

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

    def __repr__(self):
        return f"PrometheusSink({self.host}:{self.port})" if self._h is not None else "PrometheusSink(closed)"


@document("dashboard")
class DashboardSink(Sink):
    """A live dashboard in the browser while it lives (docs/metrics.md, "Dashboard").

    Serves the page ``/`` (self-contained, no other network access) and its feed ``/api/state``
    (interval rows, per-worker state, the summary once a run ended); it keeps showing the last
    run until the sink is closed. Keywords left at None take the library's default
    (``dp_dashboard_opts_init()``).

    Parameters
    ----------
    address : str, default "127.0.0.1:0"
        "HOST:PORT" (C field ``host_port``); PORT 0 picks a free port: read it from :attr:`port`.
    slo_p99_ms : float, optional
        Drawn as a line on the latency chart; 0: none. Default $slo_p99_ms.
    history_rows : int, optional
        Interval rows kept (oldest dropped first), 16..1000000. Default $history_rows.

    Raises
    ------
    Error
        DP_ERR_BUSY for a port in use, DP_ERR_INVALID_ARG for a malformed address or an option
        out of range, DP_ERR_UNSUPPORTED when built without libmicrohttpd.

    Examples
    --------
    >>> board = dp.DashboardSink(slo_p99_ms=10)
    >>> print("open", board.url)
    >>> r.run(src, sinks=[board])
    """

    def __init__(self, address="127.0.0.1:0", slo_p99_ms=None, history_rows=None):
        opts = c_options("dashboard", slo_p99_ms=slo_p99_ms, history_rows=history_rows)
        super().__init__(capi.pydp_sink_dashboard(opts, str(address)))
        self.host = str(address).rsplit(":", 1)[0]

    @property
    def port(self):
        """The TCP port actually bound."""
        return capi.dp_sink_dashboard_port(self._h.ptr)

    @property
    def url(self):
        """``http://HOST:PORT/``."""
        return f"http://{self.host}:{self.port}/"

    def __repr__(self):
        return f"DashboardSink({self.host}:{self.port})" if self._h is not None else "DashboardSink(closed)"


class CallbackSink(Sink):
    """Calls Python functions with each event, on the runner's metrics thread (never a worker).

    Parameters
    ----------
    on_record : callable, optional
        ``on_record(result)`` per finished sample (a dict: sample_id, index, worker, top1, label,
        batch_size, status, code, intended_ns, start_ns, end_ns, enqueued_ns, taken_ns,
        service_ns, delivered_ns, latency_ms, logits). Records
        are only produced for runs with an ``on_record``.
    on_interval : callable, optional
        ``on_interval(interval)`` every ``Runner(interval_ms=...)``, and once more at the end
        (cumulative counters, throughput, latency_ms, queue depths, cpu_pct, rss_mb).
    on_summary : callable, optional
        ``on_summary(summary)`` once at the end (the dict :meth:`Runner.run` returns, plus
        "info").
    on_start : callable, optional
        ``on_start(info)`` before the first sample (mode, arch, strategy, workers, ...).

    Raises
    ------
    TypeError
        A handler that is not callable.

    Notes
    -----
    An exception in a callback stops the run, which then re-raises it.

    Examples
    --------
    >>> rows = []
    >>> r.run(src, sinks=[dp.CallbackSink(on_interval=rows.append)])
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
        self._handlers = sorted(k for k, fn in handlers.items() if fn is not None)

    def __repr__(self):
        return f"CallbackSink({', '.join('on_' + k for k in self._handlers)})"
