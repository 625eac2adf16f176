"""Helpers of the parity tests: seeded PyTorch models with random BN statistics, state_dict
export to .npz and .safetensors, and running $DP_BIN_DIR/dp-infer on a batch."""
import json
import os
import re
import struct
import subprocess

import numpy as np

import cifar_models  # imports torch or fails saying so
import torch

BIN_DIR = os.environ.get("DP_BIN_DIR", "build/bin")
TMP = os.environ.get("DP_TEST_TMP", ".")


# Seeded PyTorch model in eval mode with every BN's statistics and affine terms randomised.
make_model = cifar_models.seeded


def param_count(model):
    return sum(p.numel() for p in model.parameters())


def save_npz(model, path, compressed=False):
    arrays = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


_ST_DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("float16"): "F16",
              np.dtype("int64"): "I64"}


def save_safetensors(model, path, dtype=None):
    """Write state_dict() as .safetensors by hand (the safetensors package is not installed).
    dtype: None (as is), torch.float16 or torch.bfloat16 for the floating-point tensors."""
    header, blobs, offset = {}, [], 0
    for name, t in model.state_dict().items():
        t = t.detach().contiguous()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: take the raw 16-bit patterns
            raw, code = t.view(torch.int16).numpy().tobytes(), "BF16"
        else:
            a = t.numpy()
            raw, code = a.tobytes(), _ST_DTYPES[a.dtype]
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return path


def run_infer(arch, x, num_classes, weights=None, backend="reference", precision="fp32", threads=1):
    """Logits from dp-infer and the parameter count it reports. Fails with dp-infer's stderr."""
    xin = os.path.join(TMP, f"parity_in_{os.getpid()}.npy")
    yout = os.path.join(TMP, f"parity_out_{os.getpid()}.npy")
    np.save(xin, np.ascontiguousarray(x, dtype=np.float32))
    cmd = [os.path.join(BIN_DIR, "dp-infer"), "--arch", arch, "--classes", str(num_classes), "--input", xin,
           "--output", yout, "--backend", backend, "--precision", precision, "--threads", str(threads)]
    if weights:
        cmd += ["--weights", weights]
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
