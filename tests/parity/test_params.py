"""Every parameter name and shape of the graphs equals PyTorch's state_dict() (minus
num_batches_tracked), in order: the graph is dumped by the C test program test_graph --dump."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
import cifar_models  # noqa: E402  (imports torch, or fails the test saying so)

ARCHS = [("resnet18", 1000), ("mobilenet_v2", 1000), ("resnet18_cifar", 10), ("mobilenetv2_cifar", 10),
         ("resnet18", 7), ("mobilenet_v2", 3), ("mobilenetv2_cifar", 1), ("resnet34", 10), ("resnet50", 1000),
         ("vgg16", 10), ("vgg16_bn", 10), ("alexnet", 1000)]


def dump(arch, k):
    exe = os.path.join(os.environ.get("DP_BUILD_DIR", "build"), "tests", "model_test_graph")
    out = subprocess.run([exe, "--dump", arch, str(k)], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        name, *dims = line.split()
        rows.append((name, tuple(int(d) for d in dims)))
    return rows


@pytest.mark.parametrize("arch,k", ARCHS)
def test_names_and_shapes(arch, k):
    model = cifar_models.build(arch, k)
    expected = [(n, tuple(t.shape)) for n, t in model.state_dict().items() if not n.endswith("num_batches_tracked")]
    assert dump(arch, k) == expected
