"""Weights from PyTorch's own torch.save(state_dict) files (.pth, docs/formats.md): for each
architecture, a .pth saved by the installed PyTorch gives exactly the logits of the same weights
as .npz and .safetensors (and PyTorch's within 1e-4 of max |logit|); float16/bfloat16/float64
state dicts match safetensors of the same dtype; Parameters (keep_vars), a training checkpoint,
strided views, shared storages, a whole torch.save(model) and pytorch-cifar's checkpoints of a
DataParallel model load; missing, mis-shaped, legacy
files and a pickle that would call os.system fail naming what is wrong."""
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
from parity_util import BIN_DIR, TMP, make_model, rel_err, run_infer, save_npz, save_safetensors, torch_logits  # noqa: E402
import torch  # noqa: E402

ARCHS = ["resnet18", "mobilenet_v2", "resnet18_cifar", "mobilenetv2_cifar"]


def path(name):
    return os.path.join(TMP, f"pth_{os.getpid()}_{name}")


@pytest.fixture
def files():
    made = []
    yield made
    for f in made:
        if os.path.exists(f):
            os.remove(f)


def saved(files, name, obj, **kw):
    p = path(name)
    torch.save(obj, p, **kw)
    files.append(p)
    return p


def x_input(n=2):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(3)).numpy()


@pytest.mark.parametrize("arch", ARCHS)
def test_pth_equals_npz_and_safetensors(arch, files):
    model = make_model(arch, 10, seed=11)
    x = x_input()
    pth = saved(files, arch + ".pth", model.state_dict())
    npz = save_npz(model, path(arch + ".npz"))
    st = save_safetensors(model, path(arch + ".safetensors"))
    files += [npz, st]
    y_pth, _ = run_infer(arch, x, 10, pth)
    y_npz, _ = run_infer(arch, x, 10, npz)
    y_st, _ = run_infer(arch, x, 10, st)
    assert np.array_equal(y_pth, y_npz) and np.array_equal(y_pth, y_st)
    ref = torch_logits(model, x)
    assert rel_err(y_pth, ref) <= 1e-4
    assert (y_pth.argmax(1) == ref.argmax(1)).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_storages_match_safetensors(dtype, files):
    model = make_model("resnet18_cifar", 10, seed=12)
    x = x_input()
    sd = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    pth = saved(files, "half.pth", sd)
    st = save_safetensors(model, path("half.safetensors"), dtype=dtype)
    files.append(st)
    y_pth, _ = run_infer("resnet18_cifar", x, 10, pth)
    y_st, _ = run_infer("resnet18_cifar", x, 10, st)
    assert np.array_equal(y_pth, y_st)


def test_variants_give_the_same_logits(files):
    """float64, Parameters, a checkpoint dict, strided views and shared storages: all the same
    function as the plain state_dict (float64 rounds to the same float32 values)."""
    model = make_model("resnet18_cifar", 10, seed=13)
    x = x_input()
    sd = model.state_dict()
    ref, _ = run_infer("resnet18_cifar", x, 10, saved(files, "plain.pth", sd))
    # 4-D tensors through a channels-last storage (a permuted view); every 1-D float tensor a
    # slice (an offset) of one shared storage.
    views = {k: v.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) if v.dim() == 4 else v for k, v in sd.items()}
    flat_keys = [k for k, v in sd.items() if v.dim() == 1 and v.is_floating_point()]
    flat = torch.cat([sd[k] for k in flat_keys])
    at = 0
    for k in flat_keys:
        views[k] = flat[at:at + sd[k].numel()]
        at += sd[k].numel()
    assert not views["conv1.weight"].is_contiguous()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    variants = {
        "f64.pth": {k: (v.double() if v.is_floating_point() else v) for k, v in sd.items()},
        "params.pth": model.state_dict(keep_vars=True),
        "checkpoint.pth": {"epoch": 3, "state_dict": sd, "optimizer": opt.state_dict(), "best": 0.5},
        "views.pth": views,
        "whole.pth": model,
        # pytorch-cifar's checkpoint: a DataParallel model's state_dict ("module." names) under "net"
        "cifar_ckpt.pth": {"net": torch.nn.DataParallel(model).state_dict(), "acc": 91.5, "epoch": 7},
        "whole_dp.pth": torch.nn.DataParallel(model),
    }
    for name, obj in variants.items():
        y, _ = run_infer("resnet18_cifar", x, 10, saved(files, name, obj))
        assert np.array_equal(y, ref), name


class Evil:
    """Unpickled by Python, this would run a shell command."""
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(TMP, "pwned"),))


def infer_fails(weights, arch="resnet18_cifar"):
    xin = path("x.npy")
    np.save(xin, x_input(1))
    r = subprocess.run([os.path.join(BIN_DIR, "dp-infer"), "--arch", arch, "--classes", "10", "--weights", weights,
                        "--input", xin, "--output", path("y.npy")], capture_output=True, text=True)
    os.remove(xin)
    assert r.returncode == 1, r.stderr
    return r.stderr


def test_bad_files_are_named(files):
    model = make_model("resnet18_cifar", 10, seed=14)
    sd = model.state_dict()
    missing = {k: v for k, v in sd.items() if k != "layer2.0.conv1.weight"}
    assert "tensor layer2.0.conv1.weight is missing" in infer_fails(saved(files, "missing.pth", missing))
    shaped = dict(sd, **{"linear.weight": torch.zeros(10, 256)})
    assert "tensor linear.weight has shape [10,256], expected [10,512]" in infer_fails(saved(files, "shape.pth", shaped))
    evil = infer_fails(saved(files, "evil.pth", {"conv1.weight": Evil()}))
    assert "evil.pth" in evil and "global posix.system is not allowed" in evil
    assert not os.path.exists(os.path.join(TMP, "pwned"))
    legacy = infer_fails(saved(files, "legacy.pth", sd, _use_new_zipfile_serialization=False))
    assert "legacy format" in legacy and "DP_ERR_UNSUPPORTED" in legacy
