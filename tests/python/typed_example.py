"""The whole public API of `dataparallel`, typed: `mypy --strict` must accept this file
(tests/python/test_typing.py), which also runs it: python3 typed_example.py DIR."""
import os
import sys
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

import dataparallel as dp


def fill(i: int) -> tuple[npt.NDArray[np.float32], int]:
    return np.full((3, 32, 32), i / 100, np.float32), i % 10


def route(sample_id: int, key: int, workers: int) -> int:
    return key % workers


def main(tmp: str) -> int:
    names: list[str] = dp.arch_names()
    info: str = dp.build_info()
    version: str = dp.__version__
    print(version, info, len(names))

    m = dp.Model("mobilenet_v2", weights=None, classes=10, precision="fp32", backend="onednn", seed=3, threads=1,
                 allow_nonfinite=False)
    x = np.zeros((2, 3, 32, 32), np.float32)
    out = np.empty((2, m.num_classes), np.float32)
    logits: npt.NDArray[np.float32] = m.infer(x, out=out)
    m.prepare(2, height=32, width=32)
    cal: dp.Calibration = m.calibrate(x, n=2, method="percentile", percentile=99.9)
    cal.save(os.path.join(tmp, "m.calib"))
    print(repr(dp.Calibration.load(os.path.join(tmp, "m.calib"))), cal.arch, cal.samples)
    m8 = dp.Model("mobilenet_v2", seed=3, precision="int8", calibration=cal, backend="reference")
    print(m8.infer(x).shape)
    assert m(x).shape == logits.shape
    print(repr(m), m.arch, m.precision, m.backend, m.param_count, m.threads, m.input_channels, m.min_input_size)

    np.save(os.path.join(tmp, "x.npy"), np.zeros((4, 3, 32, 32), np.float32))
    with open(os.path.join(tmp, "c.bin"), "wb") as f:
        f.write(bytes(4 * (1 + 3 * 32 * 32)))
    datasets = [dp.Dataset.synthetic(8, shape=(3, 32, 32), seed=1), dp.Dataset.npy(os.path.join(tmp, "x.npy")),
                dp.Dataset.cifar10(os.path.join(tmp, "c.bin"), normalize="identity"),
                dp.Dataset.from_array(np.zeros((4, 3, 32, 32), np.float32), labels=np.arange(4)),
                dp.Dataset.callback(fill, 8, shape=(3, 32, 32))]
    if os.path.isdir("/usr/share/datasets/fashion-mnist"):
        datasets.append(dp.Dataset.fashion_mnist(normalize=((0.3, 0.3, 0.3), (0.35, 0.35, 0.35))))
    for ds in datasets:
        sample, label = ds[0]
        print(repr(ds), len(ds), ds.shape, sample.dtype, label)

    sources = [dp.Source(datasets[0], arrival="constant", rate=1000.0, samples=8, seed=1, spin_ns=0),
               dp.Source.constant(datasets[0], 1000.0, samples=8), dp.Source.poisson(x[:, :, :, :], 1000.0, 8, seed=2),
               dp.Source.unlimited(datasets[0], samples=8), dp.Source.synthetic(rate=1000.0, samples=8),
               dp.Source.npy(os.path.join(tmp, "x.npy"), rate=1000.0),
               dp.Source.cifar10(os.path.join(tmp, "c.bin"), rate=1000.0, normalize="cifar10"),
               dp.Source.callback(fill, 8, rate=1000.0)]
    with open(os.path.join(tmp, "trace.txt"), "w") as t:
        t.write("0\n0.001\n0.002\n")
    sources.append(dp.Source.trace(datasets[0], os.path.join(tmp, "trace.txt")))

    records: list[dict[str, Any]] = []
    lock = threading.Lock()

    def keep(record: dict[str, Any]) -> None:
        with lock:
            records.append(record)

    sinks: list[dp.Sink] = [dp.ConsoleSink(live=False, quiet=True, stream="stderr"),
                            dp.CsvSink(os.path.join(tmp, "m.csv")), dp.JsonlSink(os.path.join(tmp, "r.jsonl")),
                            dp.CallbackSink(on_record=keep, on_interval=keep, on_summary=keep, on_start=keep)]
    try:
        prom = dp.PrometheusSink("127.0.0.1:0")
        board = dp.DashboardSink("127.0.0.1:0", slo_p99_ms=10.0, history_rows=100)
        print(prom.port, prom.url, board.port, board.url)
        sinks += [prom, board]
    except dp.Error as e:  # built without libmicrohttpd
        assert e.status == dp.Status.DP_ERR_UNSUPPORTED

    partitioners = [dp.Partitioner("weighted", weights=[1.0, 2.0], ema_alpha=0.3),
                    dp.Partitioner("sharded", num_shards=4, vnodes=16), dp.Partitioner("dynamic", min_chunk=2),
                    dp.Partitioner.custom(route)]
    for p in partitioners:
        print(p.name)
    r = dp.Runner(m, workers=2, threads_per_worker=1, partitioner=partitioners[0], max_batch=4, max_delay_us=100,
                  queue_capacity=64, overflow="block", slowdown=[1.0, 1.0], keep_logits=True, straggler_factor=2.0,
                  pin_workers=False, interval_ms=100, backend="threads", handle_signals=False, worker_timeout_s=5.0,
                  retry=False)
    print(repr(r), r.options["workers"], r.workers, r.threads_per_worker, r.keep_logits, r.is_worker_rank)
    for src in sources:
        summary = r.run(src, sinks=sinks, on_result=keep)
        assert summary["offered"] == summary["completed"] + summary["dropped"] + summary["failed"]
        print(repr(src), src.count, len(src), src.target_rate, src.arrival, src.dataset.shape)
    batch = r.run_batch(x, sinks=sinks[:1], on_result=None)
    top1: npt.NDArray[np.int32] = batch["top1"]
    print(top1.tolist())

    with dp.Runner(m, workers=2, partitioner=route) as pusher:
        pusher.start((3, 32, 32), sinks=(), on_result=keep)
        ids = [pusher.submit(x[0], callback=keep) for _ in range(4)]
        pusher.drain()
        pushed = pusher.stop()
        assert pushed is not None and pushed["completed"] == len(ids)
        pusher.cancel()
    units: list[dp.Unit] = m.units(height=32, width=32)
    profiled = m.profile(batch=2, threads=1, height=32, width=32, iters=1)
    plan: dp.Plan = dp.split_plan(profiled, stages=2, speeds=[1.0, 0.5], link_bytes_per_s=1e9, link_latency_s=0.0,
                                  batch=2, method="greedy")
    stages: list[dp.Stage] = m.split(plan)
    act: npt.NDArray[np.float32] = stages[0].infer(x)
    chained = stages[1](act, height=32, width=32, out=None)
    shapes = stages[1].io_shape(32, 32)
    print(len(units), plan.cuts, plan.stage_ms, plan.names, units[0].name, units[0].flops, units[0].param_bytes,
          units[0].out_bytes, units[0].ms, shapes, chained.shape, stages[0].units, stages[0].param_count,
          stages[0].index, stages[0].cuts, stages[0].model.arch, len(m.split(["features.7"])), len(m.split(9)))
    with dp.Runner(m, workers=2, stages=2, cuts="auto", depth=2) as piped:
        piped.start((3, 32, 32))
        piped.submit(x[0])
        piped.drain()
        piped.stop()
    r.close()
    for s in sinks:
        s.close()
    m.close()

    try:
        dp.Model("no-such-arch")
    except dp.Error as e:
        code: int = e.code
        status = dp.Status(e.status)
        print(code, status.name, e.message)
    print("TYPED-EXAMPLE-OK", len(records))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
