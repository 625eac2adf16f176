"""dp.Runner: stream mode with every partitioner, batch mode, push mode, callbacks, errors and
interrupts."""
import _thread
import json
import threading
import time

import numpy as np
import pytest

import dataparallel as dp

SUMMARY_KEYS = {"offered", "completed", "dropped", "dropped_newest", "dropped_oldest", "failed", "target_rate",
                "rate_accuracy_pct", "throughput", "efficiency_pct", "latency_ms", "cpu_pct", "rss_mb",
                "elapsed_s", "labelled", "correct", "workers", "per_worker", "arch", "strategy",
                "threads_per_worker", "mode", "status", "cancelled"}
WORKER_KEYS = {"worker", "completed", "failed", "busy_s", "busy_pct", "mean_batch", "mean_service_ms", "queue_hwm",
               "straggler"}


def check_summary(s, offered, workers):
    assert SUMMARY_KEYS <= set(s), SUMMARY_KEYS - set(s)
    assert set(s["latency_ms"]) == {"mean", "p50", "p90", "p99", "p999", "max"}
    assert s["offered"] == offered
    assert s["offered"] == s["completed"] + s["dropped"] + s["failed"]
    assert s["dropped"] == s["dropped_newest"] + s["dropped_oldest"]
    assert s["workers"] == workers and len(s["per_worker"]) == workers
    for k, w in enumerate(s["per_worker"]):
        assert WORKER_KEYS <= set(w) and w["worker"] == k
    assert sum(w["completed"] for w in s["per_worker"]) == s["completed"]
    lat = s["latency_ms"]
    if s["completed"]:
        assert 0 <= lat["p50"] <= lat["p99"] <= lat["max"]
    assert s["elapsed_s"] > 0


@pytest.mark.parametrize("strategy", ["uniform", "sharded", "dynamic", "weighted", "custom"])
def test_stream_every_partitioner_exactly_once(fast_model, strategy):
    n = 120
    part = (lambda sample_id, key, workers: key % workers) if strategy == "custom" else strategy
    r = dp.Runner(fast_model, workers=2, partitioner=part, max_batch=4, max_delay_us=500)
    ids, lock = [], threading.Lock()

    def on_result(res):
        with lock:
            ids.append((res["sample_id"], res["status"], res["worker"]))

    s = r.run(dp.Source.synthetic(rate=400, samples=n), on_result=on_result)
    check_summary(s, n, 2)
    assert s["completed"] == n and s["status"] == "DP_OK" and not s["cancelled"]
    assert sorted(i for i, _, _ in ids) == list(range(n))
    assert all(st == "DP_OK" and w in (0, 1) for _, st, w in ids)
    assert s["strategy"] == strategy and s["mode"] == "stream" and s["target_rate"] == pytest.approx(400)
    if strategy in ("uniform", "custom"):
        # round-robin / key % 2 split the stream evenly
        assert [w["completed"] for w in s["per_worker"]] == [n // 2, n // 2]


def test_warmup_samples_reported_apart(fast_model):
    """The first warmup_samples complete but are counted apart (docs/metrics.md, "Warm-up")."""
    r = dp.Runner(fast_model, workers=2, warmup_samples=15)
    assert r.options["warmup_samples"] == 15 and r.options["warmup_s"] == 0
    s = r.run(dp.Source.synthetic(rate=500, samples=40))
    assert s["completed"] == 40 and s["warmup_completed"] == 15
    assert s["warmup_latency_ms"]["p50"] > 0 and s["latency_ms"]["p50"] > 0
    assert dp.Runner(fast_model).run(dp.Source.synthetic(rate=500, samples=10))["warmup_completed"] == 0


def test_summary_dict_matches_library_json(fast_model):
    r = dp.Runner(fast_model, workers=2)
    s = r.run(dp.Source.synthetic(rate=500, samples=40))
    lib = json.loads(dp.capi.pydp_runner_summary_json(r._ptr()))
    assert {k: s[k] for k in lib} == lib
    assert set(s) - set(lib) <= {"arch", "strategy", "threads_per_worker", "mode", "status", "cancelled"}


PHASES = ("dispatch", "queue", "batching", "service", "delivery")


def test_latency_breakdown_ms(fast_model):
    # Each part of the latency (docs/metrics.md, "Latency breakdown"), overall and per worker; the
    # parts of every result dict add up to its latency exactly (integer ns).
    r = dp.Runner(fast_model, workers=2, max_batch=4, max_delay_us=2000)
    results, lock = [], threading.Lock()

    def on_result(res):
        with lock:
            results.append(res)

    s = r.run(dp.Source.synthetic(rate=300, samples=60), on_result=on_result)
    b = s["latency_breakdown_ms"]
    assert set(b) == set(PHASES)
    for part in b.values():
        assert set(part) == {"p50", "p90", "p99", "max", "mean"}
        assert 0 <= part["p50"] <= part["p90"] <= part["p99"] <= part["max"]
    assert sum(b[p]["mean"] for p in PHASES) == pytest.approx(s["latency_ms"]["mean"], rel=1e-9)
    assert b["service"]["p50"] > 0
    for w in s["per_worker"]:
        assert set(w["latency_breakdown_ms"]) == set(PHASES)
    assert len(results) == 60
    for res in results:
        steps = [res[k] for k in ("intended_ns", "enqueued_ns", "taken_ns", "start_ns", "end_ns", "delivered_ns")]
        assert steps == sorted(steps)
        parts = [res["enqueued_ns"] - res["intended_ns"], res["taken_ns"] - res["enqueued_ns"],
                 res["start_ns"] - res["taken_ns"], res["service_ns"], res["delivered_ns"] - res["end_ns"]]
        assert sum(parts) == res["delivered_ns"] - res["intended_ns"]
        assert res["latency_ms"] == pytest.approx((res["delivered_ns"] - res["intended_ns"]) / 1e6)
    # The largest batching is a micro-batch held open for max_delay_us (2 ms) at 300 samples/s.
    assert b["batching"]["max"] >= 2.0


def test_batch_mode_matches_infer(fast_model):
    x = np.random.default_rng(1).random((30, 3, 32, 32), dtype=np.float32)
    expected = fast_model.infer(x)
    for strategy in ("uniform", "dynamic", "sharded", "weighted"):
        r = dp.Runner(fast_model, workers=3, partitioner=strategy, max_batch=4, keep_logits=True)
        s = r.run_batch(x)
        check_summary(s, 30, 3)
        assert s["completed"] == 30 and s["mode"] == "batch"
        np.testing.assert_array_equal(s["top1"], expected.argmax(1))
        np.testing.assert_allclose(s["logits"], expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


def test_batch_mode_dataset_labels_and_on_result(fast_model):
    ds = dp.Dataset.synthetic(25, (3, 32, 32), seed=4)
    assert len(ds) == 25 and ds.shape == (3, 32, 32)
    img, label = ds[3]
    assert img.shape == (3, 32, 32) and label == 3
    seen = []
    r = dp.Runner(fast_model, workers=2, partitioner="dynamic")
    s = r.run_batch(ds, on_result=lambda res: seen.append(res["index"]))
    assert sorted(seen) == list(range(25))
    assert s["labelled"] == 25 and 0 <= s["correct"] <= 25
    np.testing.assert_array_equal(s["top1"], fast_model.infer(np.stack([ds[i][0] for i in range(25)])).argmax(1))
    # the runner is reusable
    assert r.run_batch(ds)["completed"] == 25


def test_callback_source_and_callback_sink(fast_model):
    rng = np.random.default_rng(5)
    images = rng.random((10, 3, 32, 32), dtype=np.float32)
    calls = []

    def make(i):
        calls.append(i)
        return images[i % 10], i % 3

    records, intervals, summaries, starts = [], [], [], []
    sink = dp.CallbackSink(on_record=records.append, on_interval=intervals.append, on_summary=summaries.append,
                           on_start=starts.append)
    r = dp.Runner(fast_model, workers=2, partitioner="dynamic", keep_logits=True, interval_ms=100)
    s = r.run(dp.Source.callback(make, samples=40, rate=300), sinks=[sink])
    check_summary(s, 40, 2)
    assert s["completed"] == 40 and s["labelled"] == 40
    assert sorted(calls) == list(range(40))
    assert sorted(rec["sample_id"] for rec in records) == list(range(40))
    expected = fast_model.infer(images)
    for rec in records:
        assert rec["label"] == rec["sample_id"] % 3 and rec["latency_ms"] > 0
        assert rec["top1"] == expected[rec["index"] % 10].argmax()
        assert rec["logits"].shape == (10,)
    assert len(starts) == 1 and starts[0]["mode"] == "stream" and starts[0]["workers"] == 2
    assert intervals and intervals[-1]["completed"] == 40
    assert len(summaries) == 1 and summaries[0]["completed"] == 40 and summaries[0]["offered"] == 40


def test_file_sinks_and_console(fast_model, tmp_path):
    csv, jsonl = tmp_path / "m.csv", tmp_path / "m.jsonl"
    sinks = [dp.CsvSink(csv), dp.JsonlSink(jsonl), dp.ConsoleSink(quiet=True)]
    r = dp.Runner(fast_model, workers=2, interval_ms=100)
    s = r.run(dp.Source.synthetic(rate=500, samples=50), sinks=sinks)
    assert s["completed"] == 50
    del sinks, r   # the C sinks are freed with the runner: files flushed and closed
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert lines[-1]["type"] == "summary" and lines[-1]["completed"] == 50
    assert len([x for x in lines if x.get("type") == "sample"]) == 50
    rows = csv.read_text().splitlines()
    assert len(rows) >= 2 and "completed" in rows[0]


def test_prometheus_sink(fast_model):
    import urllib.request

    sink = dp.PrometheusSink("127.0.0.1:0")
    assert sink.port > 0
    r = dp.Runner(fast_model, workers=1)
    r.run(dp.Source.synthetic(rate=500, samples=20), sinks=[sink])
    body = urllib.request.urlopen(sink.url, timeout=10).read().decode()
    assert "dp_samples_completed_total" in body
    with pytest.raises(dp.Error) as e:
        dp.PrometheusSink(f"127.0.0.1:{sink.port}")
    assert e.value.status == dp.Status.DP_ERR_BUSY
    with pytest.raises(dp.Error) as e:
        dp.PrometheusSink("nonsense")
    assert e.value.status == dp.Status.DP_ERR_INVALID_ARG


class Boom(Exception):
    pass


def test_exception_in_dataset_callback_stops_the_run(fast_model):
    def make(i):
        if i == 7:
            raise Boom("sample 7")
        return np.zeros((3, 32, 32), np.float32)

    r = dp.Runner(fast_model, workers=2)
    src = dp.Source.callback(make, samples=2000, rate=400)
    seen = []
    with pytest.raises(Boom, match="sample 7"):
        r.run(src, sinks=[dp.CallbackSink(on_record=lambda rec: seen.append(rec["sample_id"]))])
    assert len(seen) < 2000   # stopped, not run to the end with failing samples
    # the runner still works afterwards
    assert r.run(dp.Source.synthetic(rate=500, samples=10))["completed"] == 10


def test_exception_in_sink_partitioner_and_result_callbacks(fast_model):
    r = dp.Runner(fast_model, workers=2)

    def bad_record(rec):
        raise Boom("record")

    with pytest.raises(Boom, match="record"):
        r.run(dp.Source.synthetic(rate=500, samples=50), sinks=[dp.CallbackSink(on_record=bad_record)])

    def bad_result(res):
        if res["sample_id"] == 3:
            raise Boom("result")

    with pytest.raises(Boom, match="result"):
        r.run(dp.Source.synthetic(rate=500, samples=50), sinks=[], on_result=bad_result)

    def bad_route(sample_id, key, workers):
        if sample_id == 5:
            raise Boom("route")
        return 0

    rp = dp.Runner(fast_model, workers=2, partitioner=bad_route)
    with pytest.raises(Boom, match="route"):
        rp.run(dp.Source.synthetic(rate=500, samples=50))


def test_partitioner_returning_out_of_range_is_an_error_not_a_crash(fast_model):
    r = dp.Runner(fast_model, workers=2, partitioner=lambda sample_id, key, workers: 7)
    try:
        s = r.run(dp.Source.synthetic(rate=500, samples=20))
    except dp.Error as e:
        assert e.status == dp.Status.DP_ERR_INVALID_ARG
    else:
        check_summary(s, s["offered"], 2)
        assert s["completed"] < 20


def test_keyboard_interrupt_stops_a_run(fast_model):
    r = dp.Runner(fast_model, workers=2)
    src = dp.Source.synthetic(rate=200, samples=4000)      # 20 s if not stopped
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        s = r.run(src)
    finally:
        timer.cancel()
    assert s["cancelled"] and s["interrupted"] and s["status"] == "DP_ERR_CANCELLED"
    assert 0 < s["offered"] < 4000
    check_summary(s, s["offered"], 2)
    assert r.run(dp.Source.synthetic(rate=500, samples=10))["completed"] == 10


def test_cancel_from_another_thread(fast_model):
    r = dp.Runner(fast_model, workers=1)
    timer = threading.Timer(0.3, r.cancel)
    timer.start()
    s = r.run_batch(dp.Dataset.callback(lambda i: (time.sleep(0.002), np.zeros((3, 32, 32), np.float32))[1], 5000))
    timer.join()
    assert s["cancelled"] and s["completed"] < 5000
    assert (s["top1"] >= 0).sum() == s["completed"]


def test_cancel_from_a_callback(fast_model):
    r = dp.Runner(fast_model, workers=2)
    done = []

    def on_result(res):
        done.append(res["sample_id"])
        if len(done) == 20:
            r.cancel()

    s = r.run(dp.Source.synthetic(rate=300, samples=3000), on_result=on_result)
    assert s["cancelled"] and "interrupted" not in s
    assert 20 <= s["completed"] < 3000 and s["offered"] < 3000
    check_summary(s, s["offered"], 2)


def test_push_mode(fast_model):
    x = np.random.default_rng(6).random((20, 3, 32, 32), dtype=np.float32)
    expected = fast_model.infer(x).argmax(1)
    got, lock = {}, threading.Lock()

    def done(res):
        with lock:
            got[res["sample_id"]] = res

    with dp.Runner(fast_model, workers=2, partitioner="dynamic", max_batch=4) as r:
        ids = [r.submit(x[i], done) for i in range(20)]
        r.drain()
        assert sorted(got) == ids == list(range(20))
        for i in ids:
            assert got[i]["status"] == "DP_OK" and got[i]["top1"] == expected[i]
        with pytest.raises(ValueError, match="shape"):
            r.submit(np.zeros((3, 64, 64), np.float32))
        with pytest.raises(dp.Error) as e:
            r.run(dp.Source.synthetic(samples=5))
        assert e.value.status == dp.Status.DP_ERR_BUSY
        s = r.stop()
    check_summary(s, 20, 2)
    assert s["completed"] == 20 and s["mode"] == "push"


def test_push_mode_from_threads_and_callback_error(fast_model):
    r = dp.Runner(fast_model, workers=2)
    r.start((3, 32, 32))
    done = []
    sample = np.zeros((3, 32, 32), np.float32)

    def submitter():
        for _ in range(10):
            r.submit(sample, lambda res: done.append(res["sample_id"]))

    threads = [threading.Thread(target=submitter) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r.drain()
    assert sorted(done) == list(range(30))
    assert r.stop()["completed"] == 30

    def bad(res):
        raise Boom("push callback")

    r.submit(sample, bad)
    with pytest.raises(Boom, match="push callback"):
        r.drain()
    assert r.stop() is None   # push mode was ended by the error
    r.close()


def test_runner_argument_errors(fast_model):
    with pytest.raises(TypeError):
        dp.Runner("not a model")
    with pytest.raises(ValueError, match="overflow"):
        dp.Runner(fast_model, overflow="spill")
    with pytest.raises(dp.Error) as e:
        dp.Runner(fast_model, partitioner="no_such_strategy")
    assert e.value.status == dp.Status.DP_ERR_INVALID_ARG and "no_such_strategy" in e.value.message
    with pytest.raises(dp.Error):
        dp.Runner(fast_model, workers=0)
    with pytest.raises(TypeError):
        dp.Runner(fast_model, partitioner=3)
    r = dp.Runner(fast_model)
    with pytest.raises(TypeError):
        r.run([1, 2, 3])
    with pytest.raises(TypeError):
        r.run(dp.Source.synthetic(samples=5), sinks=["x.csv"])
    for shape in ((1, 32, 32), (3, 16, 32)):
        with pytest.raises(ValueError, match="do not fit"):
            r.run_batch(np.zeros((2,) + shape, np.float32))
        with pytest.raises(ValueError, match="do not fit"):
            r.run(dp.Source.synthetic(samples=4, shape=shape))
        with pytest.raises(ValueError, match="do not fit"):
            r.submit(np.zeros(shape, np.float32))
    with pytest.raises(dp.Error) as e:
        dp.CsvSink("/nonexistent-dir/x.csv")
    assert e.value.status == dp.Status.DP_ERR_IO and "/nonexistent-dir/x.csv" in e.value.message
    with pytest.raises(dp.Error):
        dp.Source.synthetic(rate=-1, samples=5)
    with pytest.raises(ValueError, match="arrival"):
        dp.Source.synthetic(arrival="bursty")


def test_sources(fast_model, tmp_path):
    x = np.random.default_rng(7).random((8, 3, 32, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    trace = tmp_path / "trace.txt"
    trace.write_text("".join(f"{i * 0.004:.6f}\n" for i in range(30)))
    srcs = {
        "npy": dp.Source.npy(tmp_path / "x.npy", rate=500, samples=16),
        "array": dp.Source.constant(x, rate=500, samples=16),
        "poisson": dp.Source.poisson(x, rate=500, samples=16, seed=3),
        "trace": dp.Source.trace(x, trace),
        "unlimited": dp.Source.unlimited(x, samples=16),
    }
    r = dp.Runner(fast_model, workers=2)
    for name, src in srcs.items():
        s = r.run(src)
        assert s["completed"] == src.count, name
    assert srcs["trace"].count == 30 and srcs["unlimited"].target_rate == 0
    assert "poisson" in repr(srcs["poisson"])


@pytest.mark.parametrize("overflow", ["drop-newest", "drop-oldest"])
def test_overload_drops_are_accounted(fast_model, overflow):
    results = []
    r = dp.Runner(fast_model, workers=1, queue_capacity=2, overflow=overflow)
    s = r.run(dp.Source.unlimited(dp.Dataset.synthetic(8), samples=300), on_result=results.append)
    check_summary(s, 300, 1)
    assert s["dropped"] > 0 and s["completed"] + s["dropped"] == 300
    assert s["dropped_newest" if overflow == "drop-newest" else "dropped_oldest"] == s["dropped"]
    dropped = [x for x in results if x["status"] == "DP_ERR_CANCELLED"]
    assert all(x["top1"] == -1 and x["latency_ms"] is None for x in dropped)
    assert sorted(x["sample_id"] for x in results) == list(range(300))


def test_slowdown_and_straggler_options(fast_model):
    r = dp.Runner(fast_model, workers=2, partitioner="uniform", slowdown=[1, 4], straggler_factor=1.5)
    s = r.run_batch(dp.Dataset.synthetic(40))
    assert s["completed"] == 40
    assert s["per_worker"][1]["mean_service_ms"] > s["per_worker"][0]["mean_service_ms"]
    with pytest.raises(dp.Error) as e:
        dp.Runner(fast_model, workers=2, slowdown=[1, 0.5])
    assert e.value.status == dp.Status.DP_ERR_INVALID_ARG


def test_cifar10_and_array_datasets(fast_model, tmp_path):
    rng = np.random.default_rng(8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    pixels = rng.integers(0, 256, (5, 3072), dtype=np.uint8)
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(np.concatenate([labels[:, None], pixels], axis=1).tobytes())
    ds = dp.Dataset.cifar10(path, normalize="identity")
    assert len(ds) == 5 and ds.shape == (3, 32, 32)
    img, label = ds[2]
    assert label == 4
    np.testing.assert_allclose(img.ravel(), pixels[2] / 255.0, rtol=1e-6)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    np.testing.assert_allclose(dp.Dataset.cifar10(path, normalize=(mean, std))[2][0].ravel(),
                               (pixels[2] / 255.0 - 0.5) / 0.25, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="normalize"):
        dp.Dataset.cifar10(path, normalize="imagenet")
    with pytest.raises(IndexError):
        ds[5]
    s = dp.Runner(fast_model, workers=2).run(dp.Source.cifar10(path, rate=500, samples=12))
    assert s["completed"] == 12 and s["labelled"] == 12

    x = rng.random((6, 3, 32, 32), dtype=np.float32)
    arr = dp.Dataset.from_array(x, labels=[0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(arr[4][0], x[4])
    assert arr[4][1] == 4
    with pytest.raises(ValueError, match="labels"):
        dp.Dataset.from_array(x, labels=[1, 2])
    with pytest.raises(dp.Error) as e:
        dp.Dataset.npy(tmp_path / "missing.npy")
    assert "missing.npy" in e.value.message


def test_partitioner_objects_and_options(fast_model):
    p = dp.Partitioner("weighted", weights=[1, 3])
    assert p.name == "weighted" and "weighted" in repr(p)
    s = dp.Runner(fast_model, workers=2, partitioner=p).run_batch(dp.Dataset.synthetic(40))
    assert [w["completed"] for w in s["per_worker"]] == [10, 30]      # ranges proportional to weights
    s = dp.Runner(fast_model, workers=2, partitioner=dp.Partitioner("sharded", num_shards=4)).run_batch(
        dp.Dataset.synthetic(40))
    assert s["completed"] == 40 and s["strategy"] == "sharded"
    custom = dp.Partitioner.custom(lambda sample_id, key, workers: 1)
    assert custom.name == "custom"
    s = dp.Runner(fast_model, workers=2, partitioner=custom).run(dp.Source.synthetic(rate=500, samples=20))
    assert [w["completed"] for w in s["per_worker"]] == [0, 20]
    with pytest.raises(dp.Error) as e:
        dp.Partitioner("weighted", weights=[1, -3])
    assert e.value.status == dp.Status.DP_ERR_INVALID_ARG and "-3" in e.value.message
