"""dp.tune(): the library's tuning search from Python returns the result docs/tune.md defines.
Short searches on the null model check the shape of the result and the options reaching C, never
its figures (the policy is tested without timing in tests/tune/test_tune_search.c)."""
import pytest

import dataparallel as dp


def test_tune_returns_the_search():
    r = dp.tune("null", slo_p99_ms=500, budget_s=5, workers=[1, 2], threads=[1, 2], max_batch=[1, 4],
                max_delay_us=[0, 200], strategies=["dynamic", "uniform"], cores=2, min_samples=30, probe_seconds=0,
                data=dp.Dataset.synthetic(8))
    assert r["arch"] == "null" and r["slo_p99_ms"] == 500 and r["budget_s"] == 5 and r["cores"] == 2
    assert r["min_samples"] == 30 and r["start_rate"] == 100
    assert len(r["configs"]) == 2 * 2 * 2 * 2 * 2
    for c in r["configs"]:
        if c["workers"] * c["threads_per_worker"] > 2:
            assert c["verdict"] == "pruned: oversubscribed cores"
        if c["workers"] == 1 and c["strategy"] == "uniform":
            assert c["verdict"] == "pruned: same as another"
    best = r["best"]
    assert best["capacity"] > 0 and best["precision"] == "fp32" and best["strategy"] in ("dynamic", "uniform")
    assert r["probes"] and all(p["samples"] >= 30 for p in r["probes"])
    assert {p["phase"] for p in r["probes"]} <= {"coarse", "fine", "confirm"}


def test_tune_precisions_and_dashboard():
    dash = dp.DashboardSink("127.0.0.1:0")
    r = dp.tune("null", slo_p99_ms=500, budget_s=3, workers=[1], threads=[1], max_batch=[1],
                precisions=["fp32", "bf16"], min_samples=20, probe_seconds=0.05, dashboard=dash)
    assert {c["precision"] for c in r["configs"]} == {"fp32", "bf16"}
    dash.close()


def test_tune_bad_options():
    with pytest.raises(dp.Error, match="start_rate"):
        dp.tune("null", start_rate=0)
    with pytest.raises(dp.Error, match="slo_p99_ms"):
        dp.tune("null", slo_p99_ms=0)
    with pytest.raises(dp.Error, match=r"workers\[0\]"):
        dp.tune("null", workers=[0])
    with pytest.raises(ValueError, match="precisions"):
        dp.tune("null", precisions=["fp64"])
    with pytest.raises(dp.Error):
        dp.tune("no_such_arch", budget_s=1)
