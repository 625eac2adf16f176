"""dp.Model: parity with PyTorch, zero-copy inference, input validation, errors, threads."""
import threading

import numpy as np
import pytest

import dataparallel as dp
from conftest import FAST_ARCH, export_torchvision, rss_kb


@pytest.mark.parametrize("arch,size", [("resnet18", 64), ("mobilenet_v2", 64)])
def test_parity_with_pytorch(tmp_path, arch, size):
    import torch

    torch.set_num_threads(1)
    net = export_torchvision(arch, tmp_path / "w.npz", classes=10, seed=7)
    x = np.random.default_rng(1).standard_normal((3, 3, size, size), dtype=np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    m = dp.Model(arch, weights=tmp_path / "w.npz", classes=10)
    got = m.infer(x)
    assert got.shape == (3, 10) and got.dtype == np.float32
    scale = float(np.abs(ref).max())
    assert scale > 0
    assert float(np.abs(got - ref).max()) <= 1e-4 * scale, (got, ref)


def test_infer_reads_input_in_place(fast_model):
    x = np.random.default_rng(2).random((4, 3, 32, 32), dtype=np.float32)
    fast_model.infer(x)
    assert dp.capi.pydp_debug_last_input() == x.ctypes.data
    # a view at an offset is still read in place
    big = np.random.default_rng(3).random((6, 3, 32, 32), dtype=np.float32)
    fast_model.infer(big[2:5])
    assert dp.capi.pydp_debug_last_input() == big[2:5].ctypes.data


def test_infer_does_not_copy_large_input(fast_model):
    n = 1024                                       # 12 MiB of input
    x = np.random.default_rng(4).random((n, 3, 32, 32), dtype=np.float32)
    fast_model.infer(x[:8])                        # warm up this batch path's allocations
    small = fast_model.infer(x[:n // 2])           # primitives for a big batch, arenas, etc.
    before = rss_kb()
    out = fast_model.infer(x[n // 2:])             # same batch size: nothing new but the output
    grown = rss_kb() - before
    assert out.shape == (n // 2, 10) and small.shape == (n // 2, 10)
    assert grown * 1024 < x[n // 2:].nbytes, f"RSS grew {grown} KiB for a {x[n // 2:].nbytes >> 10} KiB input"


def test_infer_matches_batch_of_one_and_is_deterministic(fast_model):
    x = np.random.default_rng(5).random((3, 3, 32, 32), dtype=np.float32)
    full = fast_model.infer(x)
    one = np.concatenate([fast_model.infer(x[i:i + 1]) for i in range(3)])
    np.testing.assert_allclose(full, one, rtol=1e-4, atol=1e-5 * float(np.abs(full).max()))
    np.testing.assert_array_equal(fast_model.infer(x), full)


def test_dtype_and_contiguity_rules(fast_model):
    x32 = np.random.default_rng(6).random((2, 3, 32, 32), dtype=np.float32)
    ref = fast_model.infer(x32)
    # float64, float16 and nested lists are converted with one copy
    np.testing.assert_allclose(fast_model.infer(x32.astype(np.float64)), ref, rtol=1e-6)
    assert fast_model.infer(x32.astype(np.float16)).shape == (2, 10)
    np.testing.assert_allclose(fast_model.infer(x32.tolist()), ref, rtol=1e-6)
    # non-contiguous float32 is rejected rather than silently copied
    with pytest.raises(ValueError, match="C-contiguous"):
        fast_model.infer(np.asfortranarray(x32))
    with pytest.raises(ValueError, match="C-contiguous"):
        fast_model.infer(np.random.random((2, 3, 64, 32)).astype(np.float32)[:, :, ::2, :])
    # read-only input is fine (nothing writes to it)
    ro = x32.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(fast_model.infer(ro), ref)
    with pytest.raises(TypeError, match="floating-point"):
        fast_model.infer(np.zeros((2, 3, 32, 32), dtype=np.uint8))
    with pytest.raises(TypeError):
        fast_model.infer("not an array")


def test_shape_errors_never_crash(fast_model):
    with pytest.raises(ValueError, match="4 dimensions"):
        fast_model.infer(np.zeros((3, 32, 32), np.float32))
    with pytest.raises(ValueError, match="3 channels"):
        fast_model.infer(np.zeros((1, 1, 32, 32), np.float32))
    with pytest.raises(ValueError, match=">= 32"):
        fast_model.infer(np.zeros((1, 3, 16, 32), np.float32))
    assert fast_model.infer(np.zeros((0, 3, 32, 32), np.float32)).shape == (0, 10)
    # non-square inputs are fine
    assert fast_model.infer(np.zeros((1, 3, 32, 48), np.float32)).shape == (1, 10)
    # the low-level call checks too
    out = np.empty((1, 10), np.float32)
    ptrs = (fast_model._ptr(), fast_model._exec())
    for x, o, exc in [(np.zeros((1, 3, 32), np.float32), out, ValueError),
                      (np.zeros((1, 3, 32, 32), np.float64), out, TypeError),
                      (np.zeros((2, 3, 32, 32), np.float32), out, ValueError),
                      (np.zeros((1, 1, 32, 32), np.float32), out, ValueError),
                      (np.zeros((1, 3, 32, 32), np.float32), np.empty((1, 5), np.float32), ValueError),
                      (np.zeros((1, 3, 32, 32), np.float32), np.empty((1, 10), np.float32)[:, ::2], ValueError)]:
        with pytest.raises(exc):
            dp.capi.pydp_infer(*ptrs, x, o)


def test_errors_carry_status_and_message(tmp_path):
    with pytest.raises(dp.Error) as e:
        dp.Model("no_such_arch")
    assert isinstance(e.value, RuntimeError)
    assert e.value.status == dp.Status.DP_ERR_NOT_FOUND and e.value.status.name == "DP_ERR_NOT_FOUND"
    assert e.value.code == 5 and "no_such_arch" in e.value.message and "DP_ERR_NOT_FOUND" in str(e.value)

    with pytest.raises(dp.Error) as e:
        dp.Model("resnet18", weights=tmp_path / "missing.npz")
    assert e.value.status == dp.Status.DP_ERR_IO and "missing.npz" in e.value.message

    bad = tmp_path / "bad.npz"
    np.savez(bad, **{"conv1.weight": np.zeros((1, 1), np.float32)})
    with pytest.raises(dp.Error) as e:
        dp.Model("resnet18", weights=bad)
    assert e.value.status in (dp.Status.DP_ERR_SHAPE, dp.Status.DP_ERR_NOT_FOUND)
    assert "conv1.weight" in e.value.message or "bad.npz" in e.value.message

    with pytest.raises(ValueError, match="precision"):
        dp.Model("resnet18", precision="fp64")
    with pytest.raises(ValueError, match="backend"):
        dp.Model("resnet18", backend="cuda")
    with pytest.raises(dp.Error) as e:
        dp.Model("resnet18", classes=0)
    assert e.value.status == dp.Status.DP_ERR_INVALID_ARG


def test_model_properties_and_seeds():
    m = dp.Model(FAST_ARCH, classes=7, seed=11, threads=1)
    assert (m.arch, m.num_classes, m.precision, m.backend, m.threads) == (FAST_ARCH, 7, "fp32", "onednn", 1)
    assert m.input_channels == 3 and m.min_input_size == 32 and m.param_count > 1_000_000
    x = np.ones((1, 3, 32, 32), np.float32)
    same = dp.Model(FAST_ARCH, classes=7, seed=11)
    other = dp.Model(FAST_ARCH, classes=7, seed=12)
    # Same seed, same weights; each model times its own kernel choice (docs/engine.md), and two
    # close kernels round differently, so the logits agree to float rounding, not bit for bit.
    np.testing.assert_allclose(m.infer(x), same.infer(x), rtol=0, atol=1e-5 * float(np.abs(m.infer(x)).max()))
    assert not np.allclose(m.infer(x), other.infer(x), rtol=0, atol=1e-2 * float(np.abs(m.infer(x)).max()))
    assert "mobilenet_v2" in repr(m)
    m.close()
    with pytest.raises(ValueError, match="closed"):
        m.infer(x)


def test_reference_backend_agrees():
    x = np.random.default_rng(8).random((2, 3, 32, 32), dtype=np.float32)
    a = dp.Model(FAST_ARCH, seed=1).infer(x)
    b = dp.Model(FAST_ARCH, seed=1, backend="reference").infer(x)
    assert float(np.abs(a - b).max()) <= 1e-4 * float(np.abs(b).max())


def test_two_threads_infer_concurrently_on_separate_models():
    models = [dp.Model(FAST_ARCH, seed=s) for s in (21, 22)]
    xs = [np.random.default_rng(s).random((2, 3, 32, 32), dtype=np.float32) for s in (1, 2)]
    expected = [m.infer(x) for m, x in zip(models, xs)]
    results = [[], []]
    errors = []
    barrier = threading.Barrier(2)

    def work(k):
        try:
            barrier.wait()
            for _ in range(10):
                results[k].append(models[k].infer(xs[k]))
        except BaseException as exc:  # noqa: B902
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(2):
        assert len(results[k]) == 10
        for r in results[k]:
            np.testing.assert_array_equal(r, expected[k])


def test_one_model_shared_by_threads_gets_a_context_per_thread(fast_model):
    x = np.random.default_rng(9).random((1, 3, 32, 32), dtype=np.float32)
    ref = fast_model.infer(x)
    out = [None] * 3

    def work(k):
        out[k] = fast_model.infer(x)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in out:
        np.testing.assert_array_equal(o, ref)


def test_help_is_useful():
    for obj in (dp.Model, dp.Model.infer, dp.Runner, dp.Runner.run, dp.Runner.run_batch, dp.Runner.submit,
                dp.Source, dp.Source.synthetic, dp.Dataset, dp.Partitioner, dp.CsvSink, dp.CallbackSink,
                dp.PrometheusSink, dp.Error):
        assert obj.__doc__ and len(obj.__doc__) > 40, obj
    assert "zero-copy" in dp.Model.infer.__doc__ or "no copy" in dp.Model.infer.__doc__
    assert dp.__version__.count(".") == 2


def test_infer_releases_the_gil(fast_model):
    x = np.random.default_rng(10).random((256, 3, 32, 32), dtype=np.float32)
    fast_model.infer(x[:1])
    other = dp.Model(FAST_ARCH, seed=3)
    t = threading.Thread(target=lambda: other.infer(x))
    spins = 0
    t.start()
    while t.is_alive():     # only runs while the other thread is inside C without the GIL
        spins += 1
    t.join()
    assert spins > 1000, spins


def test_infer_into_preallocated_output(fast_model):
    x = np.random.default_rng(11).random((3, 3, 32, 32), dtype=np.float32)
    out = np.full((3, 10), np.nan, np.float32)
    assert fast_model.infer(x, out=out) is out
    np.testing.assert_array_equal(out, fast_model.infer(x))
    for bad in (np.empty((3, 9), np.float32), np.empty((3, 10), np.float64), np.empty((10, 3), np.float32).T):
        with pytest.raises(ValueError, match="out must be"):
            fast_model.infer(x, out=bad)


def test_bf16_runs_or_is_cleanly_unsupported():
    x = np.random.default_rng(12).random((4, 3, 32, 32), dtype=np.float32)
    ref = dp.Model(FAST_ARCH, seed=2).infer(x)
    try:
        m = dp.Model(FAST_ARCH, seed=2, precision="bf16")
    except dp.Error as e:
        assert e.status == dp.Status.DP_ERR_UNSUPPORTED and "bf16" in e.message
        return
    assert m.precision == "bf16"
    got = m.infer(x)
    assert float(np.abs(got - ref).max()) <= 0.1 * float(np.abs(ref).max())
