"""Issue 18/22: the split API from Python (Model.units/profile/split, split_plan, Stage; docs/pipeline.md).

Planned cuts, cuts next to the first and last legal points, and cuts by name, each chained stage
by stage, give the unsplit model's logits bit for bit (fp32, same kernels)."""
import numpy as np
import pytest

import dataparallel as dp


@pytest.fixture(scope="module")
def cifar_models():
    return [dp.Model(arch, classes=10, seed=5) for arch in ("resnet18_cifar", "mobilenetv2_cifar")]


def chain(stages, x):
    for s in stages:
        x = s.infer(x, height=32, width=32)
    return x.reshape(len(x), -1)


@pytest.mark.parametrize("index", [0, 1])
def test_plan_split_chain_equals_unsplit(cifar_models, index):
    m = cifar_models[index]
    x = np.random.default_rng(index).standard_normal((3, 3, 32, 32), dtype=np.float32)
    ref = m.infer(x)
    units = m.profile(batch=3, iters=1)
    assert [u.name for u in units] == [u.name for u in m.units()] and all(u.ms > 0 for u in units)
    n = len(units)
    for plan_stages in (2, 3):
        plan = dp.split_plan(units, stages=plan_stages)
        assert len(plan.cuts) == plan_stages - 1 and len(plan.stage_ms) == plan_stages
        assert plan.names == [units[c].name for c in plan.cuts]
        stages = m.split(plan)
        assert [s.index for s in stages] == list(range(plan_stages))
        assert np.array_equal(chain(stages, x), ref)
    for cuts in ([1], [n - 1], [1, n - 1], [units[n // 2].name]):
        stages = m.split(cuts)
        assert stages[0].io_shape()[0] == (3, 32, 32) and stages[-1].io_shape()[1] == (10, 1, 1)
        assert sum(s.param_count for s in stages) == m.param_count
        assert np.array_equal(chain(stages, x), ref), cuts


def test_planner_follows_speeds_and_links():
    units = [dp.Unit(f"u{i}", 0.0, 0, 4096, 1.0) for i in range(8)]
    assert dp.split_plan(units, stages=2).cuts == [4]
    # A second worker half as fast gets a third of the work, with either method.
    assert dp.split_plan(units, stages=2, speeds=[1.0, 0.5]).cuts == [5]
    assert dp.split_plan(units, stages=2, speeds=[1.0, 0.5], method="greedy").cuts == [5]
    # A costly link moves the cut after a unit with a small output.
    small = units[:2] + [dp.Unit("u2", 0.0, 0, 16, 1.0)] + units[3:]
    assert dp.split_plan(small, stages=2, link_bytes_per_s=4096e3 / 8).cuts == [3]
    assert dp.split_plan(units, stages=1).cuts == []


def test_refusals_name_the_problem(cifar_models):
    m = cifar_models[1]
    with pytest.raises(ValueError, match="no unit 'nope'.*layers.1"):
        m.split(["nope"])
    with pytest.raises(dp.Error, match="cuts must increase") as e:
        m.split([5, 3])
    assert e.value.status == dp.Status.DP_ERR_INVALID_ARG
    with pytest.raises(dp.Error, match="stages over"):
        dp.split_plan(m.units(), stages=100)
    with pytest.raises(ValueError, match="1 speeds for 2 stages"):
        dp.split_plan(m.units(), stages=2, speeds=[1.0])
    with pytest.raises(TypeError, match="ms and out_bytes"):
        dp.split_plan([1.0, 2.0])
    first, second = m.split([4])
    with pytest.raises(ValueError, match=r"takes \[N,%d,%d,%d\]" % first.io_shape()[1]):
        second.infer(np.zeros((1, 3, 32, 32), np.float32))


def test_reference_backend_stages():
    m = dp.Model("mobilenetv2_cifar", classes=10, seed=5, backend="reference")
    x = np.random.default_rng(7).standard_normal((2, 3, 32, 32), dtype=np.float32)
    assert np.array_equal(chain(m.split(["layers.4", "layers.12"]), x), m.infer(x))
