"""dp-infer's logits against PyTorch's for the four architectures: seeded models with random
BN statistics exported as .npz (savez, savez_compressed) and .safetensors, both backends, other
class counts and input sizes; bf16 on oneDNN. Tolerances relative to max |logit|:
fp32 1e-4, bf16 3e-2 with identical top-1."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
from parity_util import (TMP, make_model, param_count, rel_err, run_infer, save_npz,  # noqa: E402
                         save_safetensors, torch_logits)
import torch  # noqa: E402

ARCHS = ["resnet18", "mobilenet_v2", "resnet18_cifar", "mobilenetv2_cifar"]
BACKENDS = ["reference", "onednn"]
FP32_TOL = 1e-4
BF16_TOL = 3e-2

_cache = {}


@pytest.fixture(scope="module", autouse=True)
def _remove_weight_files():
    """The exported weights total hundreds of MB: delete them when the module is done."""
    yield
    for _, files, _, _ in _cache.values():
        for path in files.values():
            if os.path.exists(path):
                os.remove(path)
    _cache.clear()


def fixture(arch, k, h, w, n=2):
    """(model, weight files, input, PyTorch logits), built once per configuration."""
    key = (arch, k, h, w, n)
    if key not in _cache:
        model = make_model(arch, k, seed=len(_cache))
        base = os.path.join(TMP, f"parity_{arch}_{k}_{h}x{w}_{n}")
        files = {"npz": save_npz(model, base + ".npz"),
                 "npz_compressed": save_npz(model, base + "_c.npz", compressed=True),
                 "safetensors": save_safetensors(model, base + ".safetensors")}
        x = torch.randn(n, 3, h, w, generator=torch.Generator().manual_seed(7)).numpy()
        _cache[key] = (model, files, x, torch_logits(model, x))
    return _cache[key]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fmt", ["npz", "npz_compressed", "safetensors"])
@pytest.mark.parametrize("arch", ARCHS)
def test_fp32_32x32(arch, fmt, backend):
    model, files, x, ref = fixture(arch, 10, 32, 32)
    y, params = run_infer(arch, x, 10, files[fmt], backend=backend)
    assert y.shape == ref.shape
    assert rel_err(y, ref) <= FP32_TOL, f"max-abs-diff {rel_err(y, ref):.3g} x max|logit|"
    assert params == param_count(model)


# Other class counts and input sizes (including non-square and sizes not divisible by 32).
SHAPES = [("resnet18", 7, 40, 48), ("mobilenet_v2", 7, 64, 64), ("resnet18_cifar", 1, 40, 48),
          ("mobilenetv2_cifar", 3, 64, 64), ("mobilenet_v2", 1000, 33, 45), ("resnet18", 1000, 224, 224)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("arch,k,h,w", SHAPES)
def test_fp32_other_shapes(arch, k, h, w, backend):
    model, files, x, ref = fixture(arch, k, h, w)
    y, params = run_infer(arch, x, k, files["npz"], backend=backend)
    assert y.shape == (x.shape[0], k)
    assert rel_err(y, ref) <= FP32_TOL, f"max-abs-diff {rel_err(y, ref):.3g} x max|logit|"
    assert params == param_count(model)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_weight_files(dtype):
    """F16/BF16 safetensors: compared with the PyTorch model whose weights are rounded the same."""
    arch, k = "resnet18", 10
    model = make_model(arch, k, seed=99)
    tdt = getattr(torch, dtype)
    path = save_safetensors(model, os.path.join(TMP, f"parity_{dtype}.safetensors"), dtype=tdt)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.to(tdt).float())
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3)).numpy()
    try:
        y, _ = run_infer(arch, x, k, path, backend="reference")
    finally:
        os.remove(path)
    ref = torch_logits(model, x)
    assert rel_err(y, ref) <= FP32_TOL, f"max-abs-diff {rel_err(y, ref):.3g} x max|logit|"


def cpu_has_bf16():
    with open("/proc/cpuinfo") as f:
        flags = next((line.split() for line in f if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


@pytest.mark.parametrize("arch", ARCHS)
def test_bf16_onednn(arch):
    model, files, x, ref = fixture(arch, 10, 32, 32, n=4)
    if not cpu_has_bf16():
        # The contract on such CPUs: a clear DP_ERR_UNSUPPORTED, checked here instead of skipping.
        with pytest.raises(AssertionError, match="DP_ERR_UNSUPPORTED.*bf16"):
            run_infer(arch, x, 10, files["npz"], backend="onednn", precision="bf16")
        return
    y, _ = run_infer(arch, x, 10, files["npz"], backend="onednn", precision="bf16")
    assert rel_err(y, ref) <= BF16_TOL, f"max-abs-diff {rel_err(y, ref):.3g} x max|logit|"
    np.testing.assert_array_equal(y.argmax(1), ref.argmax(1))


@pytest.mark.parametrize("algo", ["chain", "free", "winograd", "inner_product", "next"])
@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2"])
def test_forced_conv_algo(arch, algo, monkeypatch):
    """Every convolution kind the timed choice can pick, forced (docs/engine.md, "Choosing each
    convolution"), against PyTorch. At 32x32 both archs end on 1x1 maps, where inner_product
    runs those convs as inner products over the batch (n=4); bf16 with it where the CPU has it.
    next runs mobilenet_v2's depthwise convs on oneDNN's second implementation."""
    monkeypatch.setenv("DP_CONV_ALGO", algo)
    model, files, x, ref = fixture(arch, 10, 32, 32, n=4)
    y, _ = run_infer(arch, x, 10, files["npz"], backend="onednn")
    assert rel_err(y, ref) <= FP32_TOL, f"max-abs-diff {rel_err(y, ref):.3g} x max|logit|"
    if algo == "inner_product" and cpu_has_bf16():
        y, _ = run_infer(arch, x, 10, files["npz"], backend="onednn", precision="bf16")
        assert rel_err(y, ref) <= BF16_TOL, f"bf16 max-abs-diff {rel_err(y, ref):.3g} x max|logit|"
        np.testing.assert_array_equal(y.argmax(1), ref.argmax(1))


def test_onednn_two_threads():
    model, files, x, ref = fixture("resnet18", 10, 32, 32)
    y, _ = run_infer("resnet18", x, 10, files["safetensors"], backend="onednn", threads=2)
    assert rel_err(y, ref) <= FP32_TOL, f"max-abs-diff {rel_err(y, ref):.3g} x max|logit|"


def test_reference_rejects_bf16():
    model, files, x, ref = fixture("mobilenetv2_cifar", 10, 32, 32)
    with pytest.raises(AssertionError, match="DP_ERR_UNSUPPORTED"):
        run_infer("mobilenetv2_cifar", x, 10, files["npz"], backend="reference", precision="bf16")
