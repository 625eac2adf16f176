"""Issue 13: every field of the C options structs is a Python keyword whose default is the C one.

The keywords default to None ("the library's default"); the C side starts from *_opts_init() and
sets only what was given. These tests check the tables in bindings/python/pydp_opts.c against the
struct definitions in include/dataparallel/, that each keyword reaches the struct the library
receives (pydp_debug_last_opts), and a few options by their effect."""
import glob
import inspect
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dataparallel as dp
from dataparallel import _options

# Fields passed as explicit arguments (pointers: arrays, paths, streams, callbacks), aliases and
# the size field: not in the value tables, each covered where noted.
NOT_VALUES = {
    "model": {"calibration"},             # calibration=: test_int8_calibration
    "runner": {"slowdown", "num_slowdown", "on_result", "on_result_user", "handle_sigint"},  # slowdown: test_runner
    "source": {"trace_path"},              # trace=: test_runner
    "partitioner": {"weights", "num_weights"},  # weights=: below
    "console": {"stream"},                 # stream=: below
    "dashboard": {"host_port"},            # address=: below
    "calib": set(),
    "split": {"speeds"},                   # speeds=: test_split
}
STRUCTS = {"model": "dp_model_opts", "runner": "dp_runner_opts", "source": "dp_source_opts",
           "partitioner": "dp_partitioner_opts", "console": "dp_console_opts", "dashboard": "dp_dashboard_opts",
           "calib": "dp_calib_opts", "split": "dp_split_opts"}
PY_NAME = _options.PY_NAMES


def header_fields(struct):
    src = os.environ.get("DP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    text = "".join(open(p).read() for p in sorted(glob.glob(os.path.join(src, "include", "dataparallel", "*.h"))))
    m = re.search(r"typedef struct %s \{(.*?)\} %s;" % (struct, struct), text, re.S)
    assert m, f"{struct} not found in the headers"
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    body = body.replace("union {", "").replace("}", "")
    fields = {re.findall(r"[A-Za-z_]\w*", stmt)[-1] for stmt in body.split(";") if stmt.strip()}
    return fields - {"size"}


@pytest.mark.parametrize("kind", sorted(STRUCTS))
def test_tables_cover_every_field_of_the_header(kind):
    assert set(_options.DEFAULTS[kind]) | NOT_VALUES[kind] == header_fields(STRUCTS[kind])


def model(**kw):
    return dp.Model("mobilenet_v2", **kw)


def runner(**kw):
    return dp.Runner(dp.Model("mobilenet_v2"), **kw)


def source(**kw):
    return dp.Source(dp.Dataset.synthetic(4), **kw)


def dashboard(**kw):
    try:
        return dp.DashboardSink(**kw)
    except dp.Error as e:  # built without libmicrohttpd: the struct was still handed over
        assert e.status == dp.Status.DP_ERR_UNSUPPORTED, e


def calibrate(**kw):
    return dp.Model("mobilenet_v2").calibrate(dp.Dataset.synthetic(2), **kw)


def split_plan(**kw):
    return dp.split_plan([dp.Unit(f"u{i}", 0.0, 0, 1000, 1.0 + i) for i in range(6)], **kw)


MAKERS = {"model": model, "runner": runner, "source": source, "partitioner": dp.Partitioner,
          "console": dp.ConsoleSink, "dashboard": dashboard, "calib": calibrate, "split": split_plan}
SIGNATURES = {"model": dp.Model, "runner": dp.Runner, "source": dp.Source, "partitioner": dp.Partitioner,
              "console": dp.ConsoleSink, "dashboard": dp.DashboardSink, "calib": dp.Model.calibrate,
              "split": dp.split_plan}


def other_value(kind, field, default):
    names = _options.ENUMS.get((kind, field))
    if names is not None:
        return names[(names.index(default) + 1) % len(names)]
    if isinstance(default, bool):
        return not default
    if isinstance(default, float):  # stays in every option's range: [0, 1], >= 1, (50, 100], > 0
        return default + 0.25 if default <= 0.75 else default - 0.25
    return default + 1


CASES = [(kind, field) for kind in sorted(STRUCTS) for field in _options.DEFAULTS[kind]
         # another backend would start MPI in this process: test_mpi covers it
         if (kind, field) != ("runner", "backend")]


@pytest.mark.parametrize("kind,field", CASES)
def test_each_option_reaches_c(kind, field):
    defaults = _options.DEFAULTS[kind]
    value = other_value(kind, field, defaults[field])
    kw = PY_NAME.get((kind, field), field)
    py_value = int(value) if (kind, field) == ("console", "live") else value
    try:
        MAKERS[kind](**{kw: value})
    except dp.Error as e:  # bf16 where the CPU lacks it: the struct was still handed over
        assert e.status == dp.Status.DP_ERR_UNSUPPORTED, e
    got = _options.named(kind, dp.capi.pydp_debug_last_opts(kind))
    assert got == dict(defaults, **{field: py_value})


@pytest.mark.parametrize("kind", sorted(STRUCTS))
def test_keywords_default_to_the_library(kind):
    """Every option keyword is None by default, and nothing else is given to C by default."""
    params = inspect.signature(SIGNATURES[kind]).parameters
    for field in _options.DEFAULTS[kind]:
        assert params[PY_NAME.get((kind, field), field)].default is None, field
    MAKERS[kind]()
    assert _options.named(kind, dp.capi.pydp_debug_last_opts(kind)) == _options.DEFAULTS[kind]


def test_zero_is_a_value_not_the_default():
    dp.Partitioner("weighted", ema_alpha=0.0, weights=[1, 2])
    assert dp.capi.pydp_debug_last_opts("partitioner")["ema_alpha"] == 0.0
    with pytest.raises(dp.Error, match="interval_ms"):
        runner(interval_ms=0)


def test_defaults_are_documented():
    assert "Default 1.5." in dp.Runner.__doc__ and "Default 10.0." in dp.Runner.__doc__
    assert "$" not in dp.Runner.__doc__ + dp.Model.__doc__ + dp.Source.__doc__ + dp.Partitioner.__doc__


def test_runner_reports_its_options():
    r = runner(workers=2, worker_timeout_s=3.5, retry=True, overflow="drop_oldest")
    assert r.options == dict(_options.DEFAULTS["runner"], workers=2, worker_timeout_s=3.5, retry=True,
                             overflow="drop-oldest")


def test_bad_options_name_the_option():
    with pytest.raises(dp.Error, match="worker_timeout_s"):
        runner(worker_timeout_s=-1.0)
    with pytest.raises(TypeError, match="workers must be an integer"):
        runner(workers=2.5)
    with pytest.raises(OverflowError, match="max_batch"):
        runner(max_batch=2**40)
    with pytest.raises(ValueError, match="overflow must be one of"):
        runner(overflow="sometimes")
    with pytest.raises(ValueError, match="old name"):
        runner(handle_signals=True, handle_sigint=False)


def test_console_stream_and_handle_sigint_alias():
    dp.ConsoleSink(stream="stdout", quiet=True)
    assert dp.capi.pydp_debug_last_opts("console")["quiet"] is True
    runner(handle_sigint=True)
    assert dp.capi.pydp_debug_last_opts("runner")["handle_signals"] is True


def test_int8_calibration(fast_model, tmp_path):
    """int8 through Python: calibrate, save, load by path, and a model that needs it."""
    cal = fast_model.calibrate(dp.Dataset.synthetic(4), method="percentile", percentile=99.9)
    assert dp.capi.pydp_debug_last_opts("calib") == {"method": 1, "percentile": 99.9}
    assert repr(cal) == "Calibration('mobilenet_v2', samples=4)"
    cal.save(tmp_path / "m.calib")
    assert repr(dp.Calibration.load(tmp_path / "m.calib")) == repr(cal)
    with pytest.raises(dp.Error, match="calibration"):
        dp.Model("mobilenet_v2", seed=3, precision="int8")
    try:
        m8 = dp.Model("mobilenet_v2", seed=3, precision="int8", calibration=tmp_path / "m.calib")
    except dp.Error as e:  # the onednn int8 path is not built everywhere: the reference one is
        assert e.status == dp.Status.DP_ERR_UNSUPPORTED, e
        m8 = dp.Model("mobilenet_v2", seed=3, precision="int8", calibration=cal, backend="reference")
    assert m8.precision == "int8"
    x = dp.Dataset.synthetic(4)[0][0][None]
    assert np.isfinite(m8.infer(x)).all() and m8.infer(x).shape == (1, 10)
    with pytest.raises(dp.Error, match="n"):
        fast_model.calibrate(dp.Dataset.synthetic(2), n=3)


def test_dashboard_address_reaches_the_library():
    import urllib.request

    try:
        board = dp.DashboardSink("127.0.0.1:0", slo_p99_ms=5.0)
    except dp.Error as e:
        assert e.status == dp.Status.DP_ERR_UNSUPPORTED
        pytest.skip("built without libmicrohttpd")
    assert board.port > 0 and repr(board) == f"DashboardSink(127.0.0.1:{board.port})"
    with urllib.request.urlopen(board.url, timeout=10) as page:
        assert page.status == 200
    with pytest.raises(dp.Error, match="history_rows"):
        dp.DashboardSink(history_rows=1)


SIGNAL_CHILD = textwrap.dedent("""
    import os, signal, sys
    import dataparallel as dp
    r = dp.Runner(dp.Model("mobilenet_v2"), handle_signals=sys.argv[1] == "1")
    seen = []
    def on_result(res):
        seen.append(res)
        if len(seen) == 10:
            os.kill(os.getpid(), signal.SIGTERM)
    s = r.run(dp.Source.synthetic(rate=500, samples=5000), on_result=on_result)
    print("SUMMARY", s["status"], s["offered"] == s["completed"] + s["dropped"] + s["failed"], s["offered"] < 5000)
""")


@pytest.mark.parametrize("handle", [True, False])
def test_handle_signals_reaches_the_library(handle):
    """With handle_signals the library ends the run on SIGTERM with a complete summary; without,
    SIGTERM ends the process as usual."""
    proc = subprocess.run([sys.executable, "-c", SIGNAL_CHILD, "1" if handle else "0"], capture_output=True,
                          text=True, timeout=120)
    if handle:
        assert proc.returncode == 0, proc.stderr
        assert "SUMMARY DP_ERR_CANCELLED True True" in proc.stdout
    else:
        assert proc.returncode == -15, (proc.returncode, proc.stdout, proc.stderr)
