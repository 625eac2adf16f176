"""Shared fixtures of the Python binding tests (run by ctest with PYTHONPATH=build/python)."""
import os

import numpy as np
import pytest

# The cheapest network at 32x32 (torchvision stem: stride 2 + pooling), for runner tests.
FAST_ARCH = "mobilenet_v2"


@pytest.fixture(scope="session")
def fast_model():
    import dataparallel as dp   # imported here: other tests in this directory may not need it

    return dp.Model(FAST_ARCH, classes=10, seed=3)


def export_torchvision(arch, path, classes=10, seed=0):
    """A seeded torchvision model (BN statistics randomised too, so folding is exercised) in eval
    mode, with its state_dict saved to path as .npz. Returns the torch model."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    net = getattr(torchvision.models, arch)(num_classes=classes).eval()
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    np.savez(path, **{k: v.detach().numpy() for k, v in net.state_dict().items()})
    return net


def rss_kb():
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")
