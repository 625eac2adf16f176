"""dp-infer's logits against torchvision's for the wave-2 architectures (resnet34, resnet50,
vgg16, vgg16_bn, alexnet): seeded models with random BN statistics and biases, exported as .npz,
on both backends, at a small input (the arch's minimum where it is small) and batch 2, plus
resnet50 at 224x224 and another class count; the `null` arch; the minimum-input error; the
adaptive average pool at a size where its windows are uneven. Tolerance as test_parity.py:
max-abs-diff <= 1e-4 x max |logit| (bf16 3e-2), same top-1.
VGG's classifier alone is 120M parameters (a 480 MB file): one file per model, both backends."""
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
from parity_util import BIN_DIR, TMP, make_model, param_count, rel_err, run_infer, save_npz, torch_logits  # noqa: E402
from test_parity import BF16_TOL, cpu_has_bf16  # noqa: E402
import torch  # noqa: E402

FP32_TOL = 1e-4

# (arch, classes, H, W): 32x32 where the arch allows it, alexnet's minimum 63x63 otherwise.
CASES = [("resnet34", 10, 32, 32), ("resnet50", 10, 32, 32), ("resnet50", 3, 224, 224), ("vgg16", 10, 32, 32),
         ("vgg16_bn", 10, 32, 32), ("alexnet", 10, 63, 63), ("alexnet", 5, 224, 224)]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "%s-K%d-%dx%d" % c)
def case(request):
    arch, k, h, w = request.param
    model = make_model(arch, k, seed=11)
    path = save_npz(model, os.path.join(TMP, f"parity_archs_{arch}_{k}.npz"))
    x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(5)).numpy()
    yield arch, k, model, path, x, torch_logits(model, x)
    os.remove(path)


@pytest.mark.parametrize("backend", ["onednn", "reference"])
def test_fp32(case, backend):
    arch, k, model, path, x, ref = case
    y, params = run_infer(arch, x, k, path, backend=backend)
    assert y.shape == ref.shape
    assert rel_err(y, ref) <= FP32_TOL, f"{arch}: max-abs-diff {rel_err(y, ref):.3g} x max|logit|"
    np.testing.assert_array_equal(y.argmax(1), ref.argmax(1))
    assert params == param_count(model)


def test_null_returns_zero_logits_of_any_input():
    x = np.random.default_rng(0).standard_normal((3, 3, 8, 5)).astype(np.float32)
    for backend in ("onednn", "reference"):
        y, params = run_infer("null", x, 7, backend=backend)
        assert y.shape == (3, 7) and not y.any() and params == 0


def infer_error(arch, h, w, backend="onednn"):
    xin = os.path.join(TMP, f"archs_err_{os.getpid()}.npy")
    np.save(xin, np.zeros((1, 3, h, w), np.float32))
    try:
        r = subprocess.run([os.path.join(BIN_DIR, "dp-infer"), "--arch", arch, "--input", xin, "--output",
                            xin + ".out.npy", "--backend", backend], capture_output=True, text=True)
    finally:
        os.remove(xin)
    assert r.returncode == 1, r.stderr
    return r.stderr


def test_minimum_input_is_named():
    assert "62x62 is smaller than the minimum 63x63 of alexnet" in infer_error("alexnet", 62, 62)
    assert "31x40 is smaller than the minimum 32x32 of resnet50" in infer_error("resnet50", 31, 40)


def test_uneven_adaptive_pool_matches_pytorch():
    """alexnet at 100x140: a 2x3 feature map into AdaptiveAvgPool2d(6), windows of no common
    stride on either axis (oneDNN: a matrix product, not a pool), batch 3, fp32 on both backends
    and bf16 on oneDNN where the CPU has it."""
    model = make_model("alexnet", 7, seed=13)
    path = save_npz(model, os.path.join(TMP, f"parity_uneven_{os.getpid()}.npz"))
    x = torch.randn(3, 3, 100, 140, generator=torch.Generator().manual_seed(9)).numpy()
    ref = torch_logits(model, x)
    runs = [("onednn", "fp32", FP32_TOL), ("reference", "fp32", FP32_TOL)]
    if cpu_has_bf16():
        runs.append(("onednn", "bf16", BF16_TOL))
    try:
        for backend, precision, tol in runs:
            y, _ = run_infer("alexnet", x, 7, path, backend=backend, precision=precision)
            assert rel_err(y, ref) <= tol, f"{backend} {precision}: max-abs-diff {rel_err(y, ref):.3g} x max|logit|"
            np.testing.assert_array_equal(y.argmax(1), ref.argmax(1))
    finally:
        os.remove(path)
