"""Issue 18: a Runner split into pipeline stages (stages=, cuts=, depth=, link_gbps=; docs/pipeline.md)."""
import threading

import numpy as np
import pytest

import dataparallel as dp


def test_pipeline_push_and_stream(fast_model):
    x = np.random.default_rng(8).random((16, 3, 32, 32), dtype=np.float32)
    expected = fast_model.infer(x).argmax(1)
    got, lock = {}, threading.Lock()

    def done(res):
        with lock:
            got[res["sample_id"]] = res

    with dp.Runner(fast_model, workers=2, stages=2, cuts=["features.7"], depth=1, max_batch=4) as r:
        ids = [r.submit(x[i], done) for i in range(16)]
        r.drain()
        assert sorted(got) == ids == list(range(16))
        assert all(got[i]["top1"] == expected[i] for i in ids)
        s = r.stop()
    assert s["completed"] == 16
    assert [(w["replica"], w["stage"]) for w in s["per_worker"]] == [(0, 0), (0, 1)]
    # Planned cuts, 2 replicas x 2 stages, stream mode.
    r = dp.Runner(fast_model, workers=4, stages=2, cuts="auto", partitioner="dynamic")
    s = r.run(dp.Source.synthetic(rate=400, samples=40))
    assert s["completed"] == 40 and [w["stage"] for w in s["per_worker"]] == [0, 1, 0, 1]


def test_pipeline_refusals(fast_model):
    with pytest.raises(dp.Error) as e:
        dp.Runner(fast_model, workers=2, stages=3)
    assert e.value.status == dp.Status.DP_ERR_INVALID_ARG and "do not divide" in str(e.value)
    with pytest.raises(dp.Error) as e:
        dp.Runner(fast_model, workers=2, stages=2, cuts="features.99")
    assert e.value.status == dp.Status.DP_ERR_NOT_FOUND and "features.7" in str(e.value)
    # Batch mode runs a pipeline; only weighted's profiling pass (whole models) is refused.
    s = dp.Runner(fast_model, workers=2, stages=2).run_batch(dp.Dataset.synthetic(4))
    assert s["completed"] == 4 and s["pipeline"]["stages"] == 2
    r = dp.Runner(fast_model, workers=2, stages=2, partitioner="weighted")
    with pytest.raises(dp.Error) as e:
        r.run_batch(dp.Dataset.synthetic(4))
    assert e.value.status == dp.Status.DP_ERR_UNSUPPORTED and "one per replica" in str(e.value)


def test_pipeline_planned_over_a_slow_link(fast_model):
    # At 1e-8 Gbit/s sending an activation costs hours, compute milliseconds: the planner must cut
    # where the activation is smallest, which is what stage 0 then hands on per sample.
    least = min(u.out_bytes for u in fast_model.units()[:-1])
    r = dp.Runner(fast_model, workers=2, stages=2, cuts="auto", link_gbps=1e-8, max_batch=1)
    s = r.run(dp.Source.synthetic(rate=400, samples=8))
    assert s["completed"] == 8
    assert s["pipeline"]["per_stage"][0]["bytes_sent"] == 8 * least, (s["pipeline"]["per_stage"], least)
    with pytest.raises(dp.Error) as e:
        dp.Runner(fast_model, workers=2, stages=2, link_gbps=-1)
    assert e.value.status == dp.Status.DP_ERR_INVALID_ARG and "link_bytes_per_s" in str(e.value)
