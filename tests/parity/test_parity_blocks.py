"""dp-infer's logits against torchvision for the archs built on block buffers (issue 17):
densenet121 (K=10 at 32x32 batch 3, K=3 at 224x224 batch 1) and inception_v3 (K=10 at its minimum
75x75 batch 3, K=5 at 224x224 batch 1; aux_logits as torchvision builds it, its head unused at
inference; transform_input False, torchvision's default without pretrained weights). Seeded models
with random BN statistics, both backends, bf16 on oneDNN, the same logits from .pth, .npz and
.safetensors; int8 from a calibration file close to torchvision's fp32 on both backends,
inception_v3's inputs below 75x75 refused naming the minimum. Tolerances as test_parity.py: fp32 1e-4, bf16 3e-2 of max |logit|, same top-1.
Batch 3 runs batched primitives with joins by oneDNN concat, batch 1 the copy-free block buffers
(docs/engine.md, "Concatenation")."""
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
from parity_util import BIN_DIR, TMP, make_model, rel_err, run_infer, save_npz, save_safetensors, torch_logits  # noqa: E402
from test_parity import BF16_TOL, FP32_TOL, cpu_has_bf16  # noqa: E402
import torch  # noqa: E402

# arch -> (K, side, batch) cases and the smallest input side it takes
ARCHS = {"densenet121": ([(10, 32, 3), (3, 224, 1)], 32),
         "inception_v3": ([(10, 75, 3), (5, 224, 1)], 75)}
CASES = [(arch, *c) for arch, (cases, _) in ARCHS.items() for c in cases]


def inference_params(model):
    """Parameters used at inference: inception_v3's auxiliary head (AuxLogits.*) is not."""
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith("AuxLogits."))


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "%s-K%d-%dx%d-batch%d" % (c[0], c[1], c[2], c[2], c[3]))
def case(request):
    arch, k, hw, n = request.param
    model = make_model(arch, k, seed=7)
    if arch == "inception_v3":
        assert not model.transform_input
    path = save_npz(model, os.path.join(TMP, f"parity_{arch}_{k}_{os.getpid()}.npz"))
    x = torch.randn(n, 3, hw, hw, generator=torch.Generator().manual_seed(5)).numpy()
    yield arch, k, model, path, x, torch_logits(model, x)
    os.remove(path)


@pytest.mark.parametrize("backend", ["onednn", "reference"])
def test_fp32(case, backend):
    arch, k, model, path, x, ref = case
    y, params = run_infer(arch, x, k, path, backend=backend)
    assert y.shape == ref.shape
    assert rel_err(y, ref) <= FP32_TOL, f"max-abs-diff {rel_err(y, ref):.3g} x max|logit|"
    np.testing.assert_array_equal(y.argmax(1), ref.argmax(1))
    assert params == inference_params(model)


def test_bf16_onednn(case):
    arch, k, model, path, x, ref = case
    if not cpu_has_bf16():
        with pytest.raises(AssertionError, match="DP_ERR_UNSUPPORTED.*bf16"):
            run_infer(arch, x, k, path, backend="onednn", precision="bf16")
        return
    y, _ = run_infer(arch, x, k, path, backend="onednn", precision="bf16")
    assert rel_err(y, ref) <= BF16_TOL, f"max-abs-diff {rel_err(y, ref):.3g} x max|logit|"
    np.testing.assert_array_equal(y.argmax(1), ref.argmax(1))


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_pth_npz_safetensors_give_identical_logits(arch):
    model = make_model(arch, 10, seed=3)
    side = ARCHS[arch][1]
    x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(1)).numpy()
    base = os.path.join(TMP, f"{arch}_{os.getpid()}")
    torch.save(model.state_dict(), base + ".pth")
    files = [base + ".pth", save_npz(model, base + ".npz"), save_safetensors(model, base + ".safetensors")]
    try:
        # the reference backend: oneDNN's timed choice of kernels may differ from run to run
        ys = [run_infer(arch, x, 10, f, backend="reference")[0] for f in files]
    finally:
        for f in files:
            os.remove(f)
    assert np.array_equal(ys[0], ys[1]) and np.array_equal(ys[0], ys[2])
    assert rel_err(ys[0], torch_logits(model, x)) <= FP32_TOL


@pytest.mark.parametrize("backend", ["onednn", "reference"])
def test_inception_below_75x75_is_refused_naming_the_minimum(backend):
    xin = os.path.join(TMP, f"incep_small_{os.getpid()}.npy")
    np.save(xin, np.zeros((1, 3, 74, 80), np.float32))
    try:
        r = subprocess.run([os.path.join(BIN_DIR, "dp-infer"), "--arch", "inception_v3", "--input", xin, "--output",
                            xin + ".out.npy", "--backend", backend], capture_output=True, text=True)
    finally:
        os.remove(xin)
    assert r.returncode == 1 and "74x80 is smaller than the minimum 75x75 of inception_v3" in r.stderr, r.stderr


def cpu_has_vnni():
    with open("/proc/cpuinfo") as f:
        flags = next((line.split() for line in f if line.startswith("flags")), [])
    return "avx512_vnni" in flags or "avx_vnni" in flags


@pytest.mark.parametrize("arch", list(ARCHS))
def test_int8_from_a_calibration_file(arch):
    """int8 of the parity model: dp-bench calibrate on 8 samples, then dp-infer on both backends at
    batch 4: the same classes on both and, with VNNI, the same integers (logits within 1e-5 of their
    range, the fp32 tail's rounding, as test_int8.c; 3 % without: oneDNN's 16-bit int8 sums),
    within 10 % of torchvision's fp32 logits (8-bit activations through ~100 layers). The convs get
    He variance (densenet121's own init): torchvision's inception_v3 init (std 0.1) grows
    activations ~3x a layer, and its int8 logits are then ~20 % from fp32."""
    side = ARCHS[arch][1]
    model = make_model(arch, 10, seed=7)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_((2.0 / m.weight[0].numel()) ** 0.5 / m.weight.std())
    path = save_npz(model, os.path.join(TMP, f"int8_{arch}_{os.getpid()}.npz"))
    xs = np.random.default_rng(3).uniform(-1, 1, (8, 3, side, side)).astype(np.float32)
    data, cal = path + ".x.npy", path + ".cal"
    np.save(data, xs)
    try:
        r = subprocess.run([os.path.join(BIN_DIR, "dp-bench"), "calibrate", "--arch", arch, "--weights", path, "--data",
                            "npy:" + data, "--out", cal], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        x = xs[:4]
        ys = {be: run_infer(arch, x, 10, weights=path, backend=be, precision="int8", calibration=cal)[0]
              for be in ("onednn", "reference")}
    finally:
        for f in (path, data, cal):
            if os.path.exists(f):
                os.remove(f)
    ref = torch_logits(model, x)
    parity = rel_err(ys["onednn"], ys["reference"])
    assert parity < (1e-5 if cpu_has_vnni() else 0.03), parity
    assert np.array_equal(ys["onednn"].argmax(1), ys["reference"].argmax(1))
    assert rel_err(ys["onednn"], ref) < 0.1, rel_err(ys["onednn"], ref)
