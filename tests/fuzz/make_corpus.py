#!/usr/bin/python3
"""Write the seed corpus (corpus/<target>/) and the regression inputs (regress/<target>/) of the
fuzz targets in this directory, from the Python standard library (and torch.save / NumPy's pickling
for the .pth and CIFAR-10 python seeds, which are what users' files come from), so that every
checked-in input can be regenerated and read here. Run after changing a target's input layout:
    /usr/bin/python3 tests/fuzz/make_corpus.py
A new target: write a function returning (seeds, regressions), two dicts name -> bytes, and add it
to TARGETS (docs/fuzzing.md)."""
import gzip
import io
import json
import os
import pickle
import shutil
import struct
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
RECORD = 1 + 3 * 32 * 32  # CIFAR-10: label byte, then the R, G, B planes


def npy(shape, descr="<f4", version=1, fortran=False, data=None):
    """A .npy image; data defaults to a ramp of the dtype's item size."""
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, fortran, "".join("%d," % d for d in shape) if len(shape) == 1 else ",".join(map(str, shape)))
    lenfmt = "<H" if version == 1 else "<I"
    pre = 6 + 2 + struct.calcsize(lenfmt)
    header += " " * ((-(pre + len(header) + 1)) % 64) + "\n"
    if data is None:
        count = 1
        for d in shape:
            count *= d
        data = bytes(i % 251 for i in range(count * int(descr[2:])))
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(lenfmt, len(header)) + header.encode() + data


def npz(members, compressed=False):
    """A zip of .npy members as NumPy's savez writes it (zip64 local headers), fixed timestamps."""
    out = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            with z.open(info, "w", force_zip64=True) as f:
                f.write(data)
    return out.getvalue()


def safetensors(tensors, metadata=None, header_len=None):
    """tensors: name -> (dtype, shape, raw bytes); offsets laid out in order."""
    header, blob = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text) if header_len is None else header_len) + text + blob


def cifar_records(n, first_label=0):
    return b"".join(bytes([(first_label + r) % 10]) + bytes((r * 7 + i) % 256 for i in range(RECORD - 1))
                    for r in range(n))


def tar(members, fmt=tarfile.USTAR_FORMAT):
    """A tar of name -> bytes, deterministic (no times, owners), without the padding to 10 KiB."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            t.addfile(info, io.BytesIO(data))
    return pad512(out.getvalue().rstrip(b"\0")) + bytes(1024)


def tar_header(name, size, typeflag=b"0", size_field=None):
    """One raw ustar header block, for claims tarfile would not write."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = h[116:124] = b"0000000\0"
    h[124:136] = size_field if size_field is not None else b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[156:157] = typeflag
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def pad512(b):
    return b + bytes(-len(b) % 512)


# ---- targets ---------------------------------------------------------------------------------------

def t_npy():
    seeds = {
        "f4-2x3": npy((2, 3)),
        "f8-scalar": npy((), "<f8"),
        "f2-vector": npy((5,), "<f2"),
        "v2-f4": npy((1, 3, 4, 4), version=2),
        "v3-f4": npy((2, 2), version=3),
        "i4-unconvertible": npy((3,), "<i4"),
        "big-endian": npy((2,), ">f4"),
        "fortran": npy((2, 2), fortran=True),
        "empty-0x3": npy((0, 3)),
    }
    regress = {
        # issue 14 defect 4: a batch dimension beyond int, with a zero dimension (no data).
        "issue14-shape-2p33": npy((2 ** 33, 3, 0, 32), data=b""),
        "issue14-shape-2p31": npy((2 ** 31, 3, 0, 32), data=b""),
        "count-overflow": npy((2 ** 40, 2 ** 40, 2 ** 10), data=b""),
        "negative-dim": npy((-2,), data=b""),
        # Found by the CI run: dims whose product overflows before a trailing 0 (0 elements).
        "zero-after-huge": npy((10, 76, 142, 511627776, 1076, 142, 0), "<f2", data=b""),
    }
    return seeds, regress


def weight_files():
    f32 = struct.pack("<6f", *range(6))
    return {
        "npz-stored": npz({"conv1.weight.npy": npy((2, 3)), "bn1.num_batches_tracked.npy": npy((), "<i8")}),
        "npz-deflate": npz({"fc.weight.npy": npy((2, 2), "<f2"), "fc.bias.npy": npy((2,), "<f8"),
                            "notes.txt": b"not a tensor"}, compressed=True),
        "st-f32": safetensors({"conv1.weight": ("F32", [2, 3], f32)}, {"format": "pt"}),
        "st-mixed": safetensors({"a": ("F16", [2], b"\x00\x3c\x00\xc0"), "b": ("BF16", [1, 1], b"\x80\x3f"),
                                 "c": ("F64", [1], struct.pack("<d", 2.5)), "n": ("I64", [], bytes(8))}),
    }


def t_npz():
    w = weight_files()
    seeds = {k: v for k, v in w.items() if k.startswith("npz")}
    claim = bytearray(npz({"x.npy": npy((4,))}, compressed=True))
    cd = claim.rfind(b"PK\1\2")
    claim[cd + 24:cd + 28] = struct.pack("<I", 0xfffffff0)  # uncompressed size: 4 GiB from a few bytes
    regress = {"usize-claim": bytes(claim), "eocd-only": b"PK\5\6" + bytes(18)}
    return seeds, regress


def t_safetensors():
    w = weight_files()
    seeds = {k: v for k, v in w.items() if k.startswith("st")}
    regress = {
        "shape-overflow": safetensors({"x": ("F32", [2 ** 40, 2 ** 40], b"")}),
        "offsets-past-end": safetensors({"x": ("F32", [1], b"")}).replace(b"[0, 0]", b"[0, 4]"),
        "fractional-dim": safetensors({"x": ("F32", [1.5], bytes(4))}),
        "header-len-claim": safetensors({"x": ("F32", [1], bytes(4))}, header_len=2 ** 63),
    }
    return seeds, regress


def t_weights():
    return dict(weight_files(), pth=t_pth()[0]["state-dict"]), {"empty": b"", "pk-only": b"PK\3\4"}


def t_cifar10():
    tar_bin = tar({"cifar-10-batches-bin/data_batch_1.bin": cifar_records(1),
                   "cifar-10-batches-bin/test_batch.bin": cifar_records(1, 5)})
    long = "cifar-10-batches-bin/" + "d" * 110 + "/data_batch_2.bin"
    seeds = {
        "bin-2-records": b"\0" + cifar_records(2),
        "tar": b"\0" + tar_bin,
        "tar-gz": b"\1" + tar_bin,
        "bin-gz": b"\1" + cifar_records(1),
        "tar-pax-path": b"\0" + tar({long: cifar_records(1)}, tarfile.PAX_FORMAT),
        "tar-gnu-longname": b"\0" + tar({long: cifar_records(1)}, tarfile.GNU_FORMAT),
        "dir-3-files": b"\2\2" + cifar_records(3),
        "python-batch": b"\0" + cifar_py_batch(1),
    }
    pax = b"4 a\n-4 x\n"  # issue 14 defect 1: a negative record length sent the walk back forever
    huge = tar_header(b"data_batch_1.bin", 0, size_field=b"777777777777")  # issue 14 defect 3: 64 GiB
    regress = {
        "issue14-pax-negative-length": b"\0" + tar_header(b"pax", len(pax), b"x") + pad512(pax) +
        tar_header(b"data_batch_1.bin", RECORD) + pad512(cifar_records(1)) + bytes(1024),
        "issue14-member-64GiB": b"\0" + huge + cifar_records(1),
        "issue14-member-2GiB": b"\0" + tar_header(b"test_batch.bin", 2 ** 31) + bytes(2048),
        "label-10": b"\0" + bytes([10]) + bytes(RECORD - 1),
        "truncated-record": b"\0" + cifar_records(1)[:-1],
    }
    return seeds, regress


def idx(images, labels, rows=28, cols=28):
    img = struct.pack(">IIII", 0x803, len(images), rows, cols) + b"".join(images)
    lab = struct.pack(">II", 0x801, len(labels)) + bytes(labels)
    return img, lab


def idx_input(mode, img, lab):
    return bytes([mode]) + struct.pack("<H", len(lab)) + lab + img


def t_idx():
    img, lab = idx([bytes((i * 3 + k) % 256 for i in range(784)) for k in range(2)], [3, 9])
    seeds = {"dir": idx_input(0, img, lab), "dir-gz": idx_input(1, img, lab), "file": idx_input(2, img, lab),
             "file-gz": idx_input(3, img, lab), "small-images": idx_input(0, *idx([bytes(4)], [1], 2, 2))}
    bad_label = idx([bytes(784)], [10])
    too_big = idx([bytes(40 * 40)], [0], 40, 40)
    claim = struct.pack(">IIII", 0x803, 0xffffffff, 0xffffffff, 0xffffffff)
    regress = {"label-10": idx_input(0, *bad_label), "image-40x40": idx_input(0, *too_big),
               "count-claim": idx_input(0, claim, lab), "counts-differ": idx_input(0, img, idx([], [1])[1])}
    return seeds, regress


def t_trace():
    seeds = {
        "plain": b"0\n0.001\n0.0025\n0.0025\n1.5\n",
        "csv": b"id,time,size\n1,10.0,3\n2,10.5,4\n3,11,5\n",
        "csv-quoted-crlf-bom": b'\xef\xbb\xbf"time","x"\r\n"0.0","a,b"\r\n"1e-3","c""d"\r\n',
        "comments": b"# arrivals\n\n  0\n# gap\n2e-3\n",
    }
    regress = {
        # issue 14 defect 2: offsets beyond int64 ns went negative and the source slept forever.
        "issue14-offset-5e10": b"5\n55555555555\n",
        "issue14-offset-1e10": b"0\n1e10\n",
        "infinite-span": b"-1e308\n1e308\n",
        "nan": b"0\nnan\n",
        "decreasing": b"1\n0\n",
        "unterminated-quote": b'time\n"0.5\n',
    }
    return seeds, regress


def t_pth():
    import torch  # only here: the other targets need nothing beyond the standard library
    torch.manual_seed(0)
    base = torch.arange(8, dtype=torch.float32)
    sd = {"conv1.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3),
          "t": base[1:7].reshape(3, 2).t(),  # a strided view at an offset
          "shared": base,                      # the same storage again
          "h": torch.tensor([1, -2, 0.5], dtype=torch.float16), "b": torch.tensor([1, 3], dtype=torch.bfloat16),
          "d": torch.tensor([0.25], dtype=torch.float64), "bn1.num_batches_tracked": torch.tensor(7)}
    seeds = {}
    for name, obj in (("state-dict", sd), ("checkpoint", {"epoch": 3, "state_dict": {"fc.bias": base[:2]}})):
        buf = io.BytesIO()
        torch.save(obj, buf)
        seeds[name] = buf.getvalue()
    return seeds, {}


def cifar_py_batch(n, protocol=2):
    import numpy as np  # only here, as above
    pixels = np.frombuffer(cifar_records(n), np.uint8).reshape(n, RECORD)
    return pickle.dumps({b"batch_label": b"fuzz seed", b"labels": [int(x) for x in pixels[:, 0]],
                         b"data": np.ascontiguousarray(pixels[:, 1:])}, protocol=protocol)


def t_cifar10_py():
    seeds = {"batch-2": cifar_py_batch(2), "batch-1-protocol-4": cifar_py_batch(1, 4)}
    # Found by this target: a MARK before anything was pushed took NULL + 0 (undefined behaviour).
    return seeds, {"mark-before-any-push": b"\x80\x04(d."}


def calibration_file(nodes, method=b"minmax", samples=b"64", end=b"end\n", newline=b"\n"):
    lines = [b"dp-calibration 1", b"arch resnet18_cifar", b"classes 10", b"weights 0123456789abcdef",
             b"method " + method, b"samples " + samples, b"input 2.75"]
    lines += [b"node %s %s" % (name, value) for name, value in nodes]
    return newline.join(lines) + newline + end


def t_calibration():
    nodes = [(b"conv1", b"3.5"), (b"layer1.0.conv1", b"1.25e-3"), (b"layer1.0.conv2", b"0")]
    seeds = {
        "minmax": calibration_file(nodes),
        "percentile": calibration_file(nodes[:1], method=b"percentile 99.99"),
        "no-nodes": calibration_file([]),
        "crlf": calibration_file(nodes, newline=b"\r\n", end=b"end\r\n\r\n"),
    }
    regress = {
        "cut-off": calibration_file(nodes, end=b""),
        "text-after-end": calibration_file(nodes, end=b"end\nnode x 1\n"),
        "nul-in-line": calibration_file([(b"conv1", b"1\x002")]),
        "long-line": calibration_file([(b"a" * 300, b"1")]),
        "negative-range": calibration_file([(b"conv1", b"-1")]),
        "nan-range": calibration_file([(b"conv1", b"nan")]),
        "huge-range": calibration_file([(b"conv1", b"1e39")]),
        "fractional-samples": calibration_file(nodes, samples=b"1.5"),
        "percentile-below-50": calibration_file(nodes, method=b"percentile 10"),
        "bad-name": calibration_file([(b"conv/1", b"1")]),
        "only-magic": b"dp-calibration 1",
    }
    return seeds, regress


TARGETS = {
    "npy": t_npy,
    "npz": t_npz,
    "safetensors": t_safetensors,
    "weights": t_weights,
    "cifar10": t_cifar10,
    "idx": t_idx,
    "trace": t_trace,
    "pth": t_pth,
    "cifar10_py": t_cifar10_py,
    "calibration": t_calibration,
}


def main():
    for target, make in TARGETS.items():
        for kind, files in zip(("corpus", "regress"), make()):
            d = os.path.join(HERE, kind, target)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            for name, data in files.items():
                with open(os.path.join(d, name), "wb") as f:
                    f.write(data)
    print("wrote %s/{corpus,regress}/{%s}" % (HERE, ",".join(TARGETS)))


if __name__ == "__main__":
    main()
