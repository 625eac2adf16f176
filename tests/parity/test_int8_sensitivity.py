"""benchmarks/int8_sensitivity.py: its graph walk of mobilenet_v2 computes what torchvision's
module does (in fp32, with BN folded), so its variants quantize the network the library runs;
quantizing nothing but bf16 rounding stays close; unknown variants are usage errors."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
import cifar_models  # noqa: E402  (imports torch, or fails the test saying so)
import int8_sensitivity as sens  # noqa: E402
import torch  # noqa: E402


def model_and_input():
    torch.manual_seed(1)
    m = cifar_models.build("mobilenet_v2", 10).eval()
    for mod in m.modules():  # BN statistics of a trained net, not the identity of a fresh one
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.0)
    return m, torch.randn(4, 3, 32, 32)


def test_graph_walk_is_the_module():
    m, x = model_and_input()
    with torch.inference_mode():
        ref = m(x).numpy()
        ours = sens.forward(sens.graph(m), m.classifier[1], x).numpy()
    assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()


def test_quantized_variants_differ_from_fp32_by_little():
    m, x = model_and_input()
    nodes, fc = sens.graph(m), m.classifier[1]
    with torch.inference_mode():
        ranges = sens.calibrate(nodes, fc, x)[0]
        ref = sens.forward(nodes, fc, x).numpy()
        q8 = sens.forward(nodes, fc, x, ranges=ranges).numpy()
        b16 = sens.forward(nodes, fc, x, ranges=ranges, bf16=True).numpy()
    span = np.abs(ref).max()
    assert 0 < np.abs(q8 - ref).max() <= 0.2 * span      # quantized, yet the same network
    assert np.abs(b16 - ref).max() < np.abs(q8 - ref).max()  # bf16 keeps more bits than int8


def test_unknown_variant_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        sens.main(["weights.npz", "--variants", "int8,int4"])
    assert e.value.code == 2
    assert "int4" in capsys.readouterr().err
