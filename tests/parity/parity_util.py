"""Helpers of the parity tests: seeded PyTorch models with random BN statistics, state_dict
export to .npz and .safetensors (benchmarks/state_dict_io.py), and running $DP_BIN_DIR/dp-infer
on a batch."""
import json
import os
import re
import subprocess

import numpy as np

import cifar_models  # imports torch or fails saying so
import torch
from state_dict_io import load_npz, save_npz, save_safetensors  # noqa: F401  (re-exported to the tests)

BIN_DIR = os.environ.get("DP_BIN_DIR", "build/bin")
TMP = os.environ.get("DP_TEST_TMP", ".")


# Seeded PyTorch model in eval mode with every BN's statistics and affine terms randomised.
make_model = cifar_models.seeded


def param_count(model):
    return sum(p.numel() for p in model.parameters())


def run_infer(arch, x, num_classes, weights=None, backend="reference", precision="fp32", threads=1, calibration=None):
    """Logits from dp-infer and the parameter count it reports. Fails with dp-infer's stderr."""
    xin = os.path.join(TMP, f"parity_in_{os.getpid()}.npy")
    yout = os.path.join(TMP, f"parity_out_{os.getpid()}.npy")
    np.save(xin, np.ascontiguousarray(x, dtype=np.float32))
    cmd = [os.path.join(BIN_DIR, "dp-infer"), "--arch", arch, "--classes", str(num_classes), "--input", xin,
           "--output", yout, "--backend", backend, "--precision", precision, "--threads", str(threads)]
    if weights:
        cmd += ["--weights", weights]
    if calibration:
        cmd += ["--calibration", calibration]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr}"
        m = re.search(r"(\d+) params", r.stderr)
        assert m, f"no parameter count in dp-infer's summary: {r.stderr}"
        return np.load(yout), int(m.group(1))
    finally:
        for path in (xin, yout):
            if os.path.exists(path):
                os.remove(path)


def torch_logits(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def rel_err(y, ref):
    return float(np.abs(y - ref).max() / np.abs(ref).max())


def trained_weights(arch="resnet18", steps=20, batch=32):
    """A model trained for a few seconds by benchmarks/train.py (cached under $DP_TEST_TMP, so
    reruns reuse it): (path of its .npz, its JSON record)."""
    import train
    out = os.path.join(TMP, "trained")
    assert train.main(["--arch", arch, "--steps", str(steps), "--batch", str(batch), "--eval-samples", "2000",
                       "--out", out, "--cache-dir", os.path.join(TMP, "train-cache")]) == 0
    with open(os.path.join(out, arch + ".json")) as f:
        return os.path.join(out, arch + ".npz"), json.load(f)


def torch_from_npz(arch, path, num_classes=10):
    """The PyTorch model of arch with the state_dict saved in path, in eval mode."""
    return load_npz(cifar_models.build(arch, num_classes), path).eval()
