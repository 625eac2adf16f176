"""dataparallel — real-time, data-parallel CNN inference on CPU workers (libdataparallel).

    import dataparallel as dp
    m = dp.Model("resnet18", weights="w.npz", classes=10, precision="fp32")
    logits = m.infer(x)                 # float32 (N,3,H,W) -> (N,K), x is not copied
    r = dp.Runner(m, workers=2, partitioner="dynamic", max_batch=8)
    res = r.run(dp.Source.synthetic(rate=500, samples=2000, shape=(3, 32, 32)),
                sinks=[dp.CsvSink("m.csv")])   # dict: offered, completed, latency_ms, ...

Classes: Model, Calibration, Runner, Partitioner, Dataset, Source, ConsoleSink, CsvSink, JsonlSink,
PrometheusSink, DashboardSink, CallbackSink; pipeline stages: Model.units/profile/split, Stage, Unit,
split_plan, Plan (docs/pipeline.md); the best configuration for a p99 objective: tune (docs/tune.md); errors: Error (a RuntimeError with .status, .code, .message) and
Status. See docs/python.md. The low-level SWIG module is dataparallel.capi.
"""
from . import capi
from ._data import Dataset, Source
from ._errors import Error, Status
from ._model import Calibration, Model, arch_names
from ._runner import Partitioner, Runner
from ._split import Plan, Stage, Unit, split_plan
from ._sinks import CallbackSink, ConsoleSink, CsvSink, DashboardSink, JsonlSink, PrometheusSink, Sink
from ._tune import tune

__version__ = capi.dp_version_string()

# help() and tracebacks show the public names.
for _cls in (Model, Calibration, Runner, Partitioner, Dataset, Source, Sink, ConsoleSink, CsvSink, JsonlSink,
             PrometheusSink, DashboardSink, CallbackSink, Error, Stage, Unit, Plan, split_plan, tune):
    _cls.__module__ = __name__
del _cls


def build_info():
    """What the library was built with (``dp_build_info()``).

    Returns
    -------
    str
        e.g. ``"backends=onednn,reference precisions=fp32,bf16 runner=threads sinks=..."``.

    Examples
    --------
    >>> "fp32" in dp.build_info()
    True
    """
    return capi.dp_build_info()


__all__ = ["Model", "Calibration", "Runner", "Partitioner", "Dataset", "Source", "Sink", "ConsoleSink", "CsvSink",
           "JsonlSink", "PrometheusSink", "DashboardSink", "CallbackSink", "Error", "Status", "arch_names",
           "build_info", "Stage", "Unit", "Plan", "split_plan", "tune", "__version__"]
