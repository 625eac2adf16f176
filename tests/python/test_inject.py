"""dp.Runner.inject: faults during a run from Python — every kind keeps the accounting and every id
once, a stop re-routes (retry) or fails what the worker held, the summary's events say what
followed, the schedule survives a change of sinks (a new C runner) and clear_faults() empties it,
and bad arguments raise."""
import threading

import pytest

import dataparallel as dp


def run(r, n, rate=400, sinks=()):
    ids, lock = [], threading.Lock()

    def on_result(res):
        with lock:
            ids.append((res["sample_id"], res["status"], res["worker"]))

    s = r.run(dp.Source.synthetic(rate=rate, samples=n), sinks=sinks, on_result=on_result)
    assert s["offered"] == n == s["completed"] + s["dropped"] + s["failed"]
    assert sorted(i for i, _, _ in ids) == list(range(n))
    return s, ids


@pytest.mark.parametrize("strategy", ["uniform", "sharded", "dynamic", "weighted"])
def test_every_kind(fast_model, strategy):
    r = dp.Runner(fast_model, workers=4, partitioner=strategy, max_batch=2, retry=True)
    r.inject(0, 0, "slowdown", 3)
    r.inject(0, 1, "fail", 2)
    r.inject(0, 2, "stall", 0.05)
    r.inject(0.02, 3, "stop")
    s, _ = run(r, 80)
    ev = s["events"]
    assert [e["kind"] for e in ev] == ["slowdown", "fail", "stall", "stop"]
    assert s["failed"] == ev[1]["failed"] + ev[3]["failed"]
    for e in ev:
        assert {"rerouted", "window_end_s", "window_completed", "p99_after_ms", "recovery_s", "straggler_s",
                "weight_before", "weight_after", "weights_moved_s"} <= set(e)
    assert (ev[0]["weight_before"] is None) == (strategy != "weighted")


@pytest.mark.parametrize("retry", [True, False])
def test_stop(fast_model, retry):
    r = dp.Runner(fast_model, workers=2, partitioner="weighted", max_batch=2, retry=retry)
    r.inject(0, 1, "stall", 0.1)
    r.inject(0, 1, "stop")
    s, ids = run(r, 60)
    stop = s["events"][1]
    assert stop["kind"] == "stop" and stop["applied_s"] >= 0 and s["per_worker"][1]["completed"] == 0
    assert stop["rerouted"] + stop["failed"] >= 1
    if retry:
        assert stop["failed"] == s["failed"] == 0
    else:
        assert stop["rerouted"] == 0 and stop["failed"] == s["failed"]
        assert all(st == "DP_ERR_CLOSED" and w == 1 for _, st, w in ids if st != "DP_OK")
    assert stop["weight_after"] == 0 and stop["weights_moved_s"] >= stop["at_s"]


def test_schedule_survives_new_sinks_and_clears(fast_model, tmp_path):
    r = dp.Runner(fast_model, workers=2)
    r.inject(0, 1, "fail", 1)
    s, _ = run(r, 20, sinks=[dp.CsvSink(str(tmp_path / "m.csv"))])
    assert len(s["events"]) == 1 and s["failed"] >= 1
    r.clear_faults()
    s, _ = run(r, 20)
    assert s["events"] == [] and s["failed"] == 0


def test_bad_arguments(fast_model):
    r = dp.Runner(fast_model, workers=2)
    with pytest.raises(ValueError, match="kind"):
        r.inject(0, 0, "melt", 1)
    with pytest.raises(ValueError, match="needs a value"):
        r.inject(0, 0, "slowdown")
    with pytest.raises(dp.Error, match="worker 2"):
        r.inject(0, 2, "stall", 1)
    with pytest.raises(dp.Error, match="slowdown"):
        r.inject(0, 0, "slowdown", 0.5)
    r.inject(0, 0, "stop")
    r.inject(0, 1, "stop")
    with pytest.raises(dp.Error, match="at least one"):
        r.run(dp.Source.synthetic(rate=100, samples=4))
