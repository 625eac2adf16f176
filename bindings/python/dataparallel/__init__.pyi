# Type stubs of the public API of `dataparallel` (the implementation is untyped Python over the
# SWIG module). tests/python/test_typing.py checks them against the runtime with mypy's stubtest
# and type-checks tests/python/typed_example.py with `mypy --strict`. Keep them in step with
# bindings/python/dataparallel/*.py; option defaults are None = the library's (docs/python.md).
import enum
import os
from types import TracebackType
from typing import Any, Callable, Iterable, Literal, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import capi as capi

__version__: str
__all__ = ["Model", "Calibration", "Runner", "Partitioner", "Dataset", "Source", "Sink", "ConsoleSink", "CsvSink",
           "JsonlSink", "PrometheusSink", "DashboardSink", "CallbackSink", "Error", "Status", "arch_names",
           "build_info", "Stage", "Unit", "Plan", "split_plan", "tune", "__version__"]

_Path = Union[str, "os.PathLike[str]"]
_Floats = npt.NDArray[np.float32]
_Shape = Tuple[int, int, int]
# Per-sample results, summaries, interval rows and run info are dicts (docs/python.md, docs/metrics.md).
_Record = dict[str, Any]
_OnRecord = Callable[[_Record], object]
_PartitionFn = Callable[[int, int, int], int]
_Data = Union["Dataset", npt.ArrayLike]
_Sinks = Union["Sink", Iterable["Sink"]]
_Normalize = Union[Literal["cifar10", "fashion-mnist", "identity"], Tuple[Sequence[float], Sequence[float]], None]
_Arrival = Literal["constant", "poisson", "trace", "unlimited"]

def arch_names() -> list[str]: ...
def build_info() -> str: ...

class Status(enum.IntEnum):
    DP_OK = 0
    DP_ERR_INVALID_ARG = 1
    DP_ERR_IO = 2
    DP_ERR_FORMAT = 3
    DP_ERR_SHAPE = 4
    DP_ERR_NOT_FOUND = 5
    DP_ERR_UNSUPPORTED = 6
    DP_ERR_NOMEM = 7
    DP_ERR_BUSY = 8
    DP_ERR_CLOSED = 9
    DP_ERR_TIMEOUT = 10
    DP_ERR_CANCELLED = 11
    DP_ERR_BACKEND = 12
    DP_ERR_INTERNAL = 13

class Error(RuntimeError):
    status: Union[Status, int]
    code: int
    message: str
    def __init__(self, status: int, message: str = "") -> None: ...

class Calibration:
    def __init__(self, ptr: Any) -> None: ...
    @classmethod
    def load(cls, path: _Path) -> Calibration: ...
    def save(self, path: _Path) -> None: ...
    @property
    def arch(self) -> str: ...
    @property
    def samples(self) -> int: ...

class Model:
    def __init__(
        self,
        arch: str,
        weights: Optional[_Path] = None,
        classes: Optional[int] = None,
        precision: Optional[Literal["fp32", "bf16", "int8"]] = None,
        backend: Optional[Literal["onednn", "reference"]] = None,
        seed: Optional[int] = None,
        threads: int = 1,
        allow_nonfinite: Optional[bool] = None,
        calibration: Union[Calibration, _Path, None] = None,
    ) -> None: ...
    @property
    def arch(self) -> str: ...
    @property
    def num_classes(self) -> int: ...
    @property
    def precision(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def param_count(self) -> int: ...
    @property
    def threads(self) -> int: ...
    @property
    def input_channels(self) -> int: ...
    @property
    def min_input_size(self) -> int: ...
    def infer(self, x: npt.ArrayLike, out: Optional[_Floats] = None) -> _Floats: ...
    def __call__(self, x: npt.ArrayLike, out: Optional[_Floats] = None) -> _Floats: ...
    def prepare(self, batch: int, height: int = 32, width: int = 32) -> None: ...
    def calibrate(
        self,
        data: _Data,
        n: Optional[int] = None,
        method: Optional[Literal["minmax", "percentile"]] = None,
        percentile: Optional[float] = None,
    ) -> Calibration: ...
    def units(self, height: int = 32, width: int = 32) -> list[Unit]: ...
    def profile(
        self, batch: int = 1, threads: Optional[int] = None, height: int = 32, width: int = 32, iters: int = 3
    ) -> list[Unit]: ...
    def split(self, cuts: Union[Plan, int, str, Sequence[Union[int, str]]]) -> list[Stage]: ...
    def close(self) -> None: ...

# ---- pipeline stages (docs/pipeline.md) ----

class Unit(NamedTuple):
    name: str
    flops: float
    param_bytes: int
    out_bytes: int
    ms: float

class Plan(NamedTuple):
    cuts: list[int]
    stage_ms: list[float]
    names: list[str]

def split_plan(
    units: Sequence[Unit],
    stages: Optional[int] = None,
    speeds: Optional[Sequence[float]] = None,
    link_bytes_per_s: Optional[float] = None,
    link_latency_s: Optional[float] = None,
    batch: Optional[int] = None,
    method: Optional[Literal["optimal", "greedy"]] = None,
) -> Plan: ...

def tune(
    arch: str,
    slo_p99_ms: Optional[float] = None,
    budget_s: Optional[float] = None,
    workers: Optional[Sequence[int]] = None,
    threads: Optional[Sequence[int]] = None,
    max_batch: Optional[Sequence[int]] = None,
    max_delay_us: Optional[Sequence[int]] = None,
    strategies: Optional[Sequence[Literal["uniform", "sharded", "dynamic", "weighted"]]] = None,
    precisions: Optional[Sequence[Literal["fp32", "bf16", "int8"]]] = None,
    cores: Optional[int] = None,
    oversubscribe: Optional[bool] = None,
    confidence: Optional[float] = None,
    min_samples: Optional[int] = None,
    probe_seconds: Optional[float] = None,
    start_rate: Optional[float] = None,
    weights: Optional[_Path] = None,
    classes: Optional[int] = None,
    seed: Optional[int] = None,
    calibration: Union[Calibration, _Path, None] = None,
    data: Optional[Dataset] = None,
    dashboard: Optional[DashboardSink] = None,
) -> dict[str, Any]: ...

class Stage:
    model: Model
    index: int
    cuts: list[int]
    def __init__(self, model: Model, cuts: Sequence[int], index: int) -> None: ...
    @property
    def units(self) -> list[str]: ...
    @property
    def param_count(self) -> int: ...
    def io_shape(self, height: int = 32, width: int = 32) -> Tuple[_Shape, _Shape]: ...
    def infer(
        self, x: npt.ArrayLike, height: Optional[int] = None, width: Optional[int] = None, out: Optional[_Floats] = None
    ) -> _Floats: ...
    def __call__(
        self, x: npt.ArrayLike, height: Optional[int] = None, width: Optional[int] = None, out: Optional[_Floats] = None
    ) -> _Floats: ...

class Partitioner:
    def __init__(
        self,
        name: Literal["uniform", "sharded", "dynamic", "weighted"] = "uniform",
        weights: Optional[Sequence[float]] = None,
        num_shards: Optional[int] = None,
        vnodes: Optional[int] = None,
        ema_alpha: Optional[float] = None,
        min_chunk: Optional[int] = None,
    ) -> None: ...
    @classmethod
    def custom(cls, fn: _PartitionFn) -> Partitioner: ...
    @property
    def name(self) -> str: ...

class Dataset:
    def __init__(self, ptr: Any, keep: Iterable[Any] = (), callbacks: Iterable[Any] = ()) -> None: ...
    @classmethod
    def synthetic(cls, n: int, shape: Sequence[int] = (3, 32, 32), seed: int = 0) -> Dataset: ...
    @classmethod
    def npy(cls, path: _Path) -> Dataset: ...
    @classmethod
    def cifar10(cls, path: _Path, normalize: _Normalize = "cifar10") -> Dataset: ...
    @classmethod
    def fashion_mnist(cls, path: _Path = ..., normalize: _Normalize = "fashion-mnist") -> Dataset: ...
    @classmethod
    def from_array(cls, x: npt.ArrayLike, labels: Optional[npt.ArrayLike] = None) -> Dataset: ...
    @classmethod
    def callback(cls, fn: Callable[[int], Any], n: int, shape: Sequence[int] = (3, 32, 32)) -> Dataset: ...
    def __len__(self) -> int: ...
    @property
    def shape(self) -> _Shape: ...
    def __getitem__(self, i: int) -> Tuple[_Floats, int]: ...

class Source:
    dataset: Dataset
    arrival: str
    def __init__(
        self,
        dataset: _Data,
        arrival: Optional[_Arrival] = None,
        rate: Optional[float] = None,
        samples: Optional[int] = None,
        seed: Optional[int] = None,
        trace: Optional[_Path] = None,
        spin_ns: Optional[int] = None,
    ) -> None: ...
    @classmethod
    def constant(cls, data: _Data, rate: float, samples: Optional[int] = None) -> Source: ...
    @classmethod
    def poisson(cls, data: _Data, rate: float, samples: Optional[int] = None, seed: Optional[int] = None) -> Source: ...
    @classmethod
    def trace(cls, data: _Data, path: _Path, samples: Optional[int] = None) -> Source: ...
    @classmethod
    def unlimited(cls, data: _Data, samples: Optional[int] = None) -> Source: ...
    @classmethod
    def synthetic(
        cls,
        rate: Optional[float] = None,
        samples: int = 2000,
        shape: Sequence[int] = (3, 32, 32),
        arrival: Optional[_Arrival] = None,
        seed: int = 0,
        trace: Optional[_Path] = None,
    ) -> Source: ...
    @classmethod
    def cifar10(
        cls,
        path: _Path,
        rate: Optional[float] = None,
        samples: Optional[int] = None,
        arrival: Optional[_Arrival] = None,
        normalize: _Normalize = "cifar10",
        seed: Optional[int] = None,
        trace: Optional[_Path] = None,
    ) -> Source: ...
    @classmethod
    def npy(
        cls,
        path: _Path,
        rate: Optional[float] = None,
        samples: Optional[int] = None,
        arrival: Optional[_Arrival] = None,
        seed: Optional[int] = None,
        trace: Optional[_Path] = None,
    ) -> Source: ...
    @classmethod
    def callback(
        cls,
        fn: Callable[[int], Any],
        samples: int,
        shape: Sequence[int] = (3, 32, 32),
        rate: Optional[float] = None,
        arrival: Optional[_Arrival] = None,
        seed: Optional[int] = None,
        trace: Optional[_Path] = None,
    ) -> Source: ...
    @property
    def count(self) -> int: ...
    def __len__(self) -> int: ...
    @property
    def target_rate(self) -> float: ...

class Sink:
    def __init__(self, ptr: Any, keep: Iterable[Any] = (), callbacks: Iterable[Any] = ()) -> None: ...
    def close(self) -> None: ...

class ConsoleSink(Sink):
    stream: str
    def __init__(
        self,
        live: Optional[bool] = None,
        quiet: Optional[bool] = None,
        stream: Optional[Literal["stdout", "stderr"]] = None,
    ) -> None: ...

class CsvSink(Sink):
    path: str
    def __init__(self, path: _Path) -> None: ...

class JsonlSink(Sink):
    path: str
    def __init__(self, path: _Path) -> None: ...

class PrometheusSink(Sink):
    host: str
    def __init__(self, address: str = "127.0.0.1:0") -> None: ...
    @property
    def port(self) -> int: ...
    @property
    def url(self) -> str: ...

class DashboardSink(Sink):
    host: str
    def __init__(
        self, address: str = "127.0.0.1:0", slo_p99_ms: Optional[float] = None, history_rows: Optional[int] = None
    ) -> None: ...
    @property
    def port(self) -> int: ...
    @property
    def url(self) -> str: ...

class CallbackSink(Sink):
    def __init__(
        self,
        on_record: Optional[_OnRecord] = None,
        on_interval: Optional[_OnRecord] = None,
        on_summary: Optional[_OnRecord] = None,
        on_start: Optional[_OnRecord] = None,
    ) -> None: ...

class Runner:
    model: Model
    partitioner: Partitioner
    options: dict[str, Any]
    workers: int
    threads_per_worker: int
    keep_logits: bool
    def __init__(
        self,
        model: Model,
        workers: Optional[int] = None,
        threads_per_worker: Optional[int] = None,
        partitioner: Union[Literal["uniform", "sharded", "dynamic", "weighted"], Partitioner, _PartitionFn] = "uniform",
        max_batch: Optional[int] = None,
        max_delay_us: Optional[int] = None,
        queue_capacity: Optional[int] = None,
        overflow: Optional[Literal["block", "drop-newest", "drop-oldest", "drop_newest", "drop_oldest"]] = None,
        slowdown: Optional[Sequence[float]] = None,
        keep_logits: Optional[bool] = None,
        straggler_factor: Optional[float] = None,
        pin_workers: Optional[bool] = None,
        interval_ms: Optional[int] = None,
        backend: Optional[Literal["threads", "mpi"]] = None,
        handle_signals: Optional[bool] = None,
        worker_timeout_s: Optional[float] = None,
        retry: Optional[bool] = None,
        handle_sigint: Optional[bool] = None,
        stages: Optional[int] = None,
        cuts: Union[None, str, Sequence[str]] = None,
        depth: Optional[int] = None,
        rank_concurrency: Optional[int] = None,
        warmup_s: Optional[float] = None,
        warmup_samples: Optional[int] = None,
        link_gbps: Optional[float] = None,
    ) -> None: ...
    def run(self, source: Source, sinks: _Sinks = (), on_result: Optional[_OnRecord] = None) -> dict[str, Any]: ...
    def run_batch(self, data: _Data, sinks: _Sinks = (), on_result: Optional[_OnRecord] = None) -> dict[str, Any]: ...
    @property
    def is_worker_rank(self) -> bool: ...
    def cancel(self) -> None: ...
    def inject(
        self,
        at: float,
        worker: int,
        kind: Literal["slowdown", "stall", "fail", "stop"],
        value: Optional[float] = None,
    ) -> None: ...
    def clear_faults(self) -> None: ...
    def start(
        self, shape: Sequence[int] = (3, 32, 32), sinks: _Sinks = (), on_result: Optional[_OnRecord] = None
    ) -> None: ...
    def submit(self, x: npt.ArrayLike, callback: Optional[_OnRecord] = None) -> int: ...
    def drain(self) -> None: ...
    def stop(self) -> Optional[dict[str, Any]]: ...
    def __enter__(self) -> Runner: ...
    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None: ...
    def close(self) -> None: ...
