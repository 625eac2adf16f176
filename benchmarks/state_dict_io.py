"""Writing a PyTorch model's state_dict() the two ways libdataparallel loads it (docs/formats.md):
NumPy .npz (np.savez / np.savez_compressed) and .safetensors, written by hand because the
safetensors package is not in Debian; and reading an .npz back into a model. Shared by
benchmarks/train.py, the other benchmarks and the parity tests."""
import json
import struct

import numpy as np

_ST_DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("float16"): "F16",
              np.dtype("int64"): "I64"}


def save_npz(model, path, compressed=False):
    arrays = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def load_npz(model, path):
    """model with the state_dict saved in path by save_npz (returned, for chaining)."""
    import torch
    with np.load(path) as z:
        model.load_state_dict({k: torch.from_numpy(z[k]) for k in z.files})
    return model


def save_safetensors(model, path, dtype=None):
    """dtype: None (as is), torch.float16 or torch.bfloat16 for the floating-point tensors."""
    import torch
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
