#!/usr/bin/python3
"""ONNX Runtime baseline for libdataparallel: the PyTorch baseline's seeded models exported with
torch.onnx.export and run by onnxruntime-node (CPU execution provider, graph optimisation `all`,
intra-op threads = threads per worker, inter-op 1), the way a user deploying ONNX would.

  available  exit 0 when node and onnxruntime-node (benchmarks/ort/) can run here, else say why
             and exit 3 (`scripts/deps --ort` installs both)
  export     write <model-dir>/<arch>_k<K>_s<seed>_<size>.onnx (dynamic batch axis) and .npz (the
             same weights as a state_dict, for `dp-bench infer --weights`)
  infer      time back-to-back batches (img/s, median of --repeats windows; the fields of
             `dp-bench infer --json`)
  stream, capacity, matrix
             the jobs of pytorch_baseline.py with the same source, partitioners, queues and metric
             definitions (they are that file's code): each worker process drives its own node
             process running one ORT session
  compare    `dp-bench infer` and ORT alternated per cell, ratio ours/ORT (the engine comparison)

Numerics first: before anything is timed, ORT's logits on a seeded batch must agree with
PyTorch's to max-abs-diff <= 1e-4 x max|logit|. A cached model that fails is exported again; if
the fresh export fails too, nothing is timed (exit 1).

The ONNX side needs no `onnx` Python package: PyTorch 1.13's TorchScript-based exporter writes the
protobuf itself. Run with /usr/bin/python3 (it has torch).
"""
import functools
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pytorch_baseline as pb  # noqa: E402  (torch-free at import)

ORT_DIR = os.path.join(HERE, "ort")
WORKER_JS = os.path.join(ORT_DIR, "ort_worker.js")
TOLERANCE = 1e-4        # max-abs-diff / max|logit|, as the fp32 parity tests of our engine
PARITY_BATCH = 2        # > 1, so the dynamic batch axis is exercised
OPSET = 17              # the newest PyTorch 1.13 writes; onnxruntime 1.2x/1.3x reads it


def default_model_dir():
    return os.environ.get("DP_ORT_MODELS") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "libdataparallel", "onnx")


def node_binary():
    return os.environ.get("DP_NODE") or shutil.which("node") or shutil.which("nodejs")


@functools.lru_cache(maxsize=None)
def availability():
    """(True, versions dict) when node can load onnxruntime-node from benchmarks/ort/, else
    (False, one line saying what is missing and how to get it). Asked once per process."""
    node = node_binary()
    if not node or not os.access(node, os.X_OK):
        return False, "node is not installed%s (scripts/deps --ort installs nodejs and npm from Debian)" % (
            " ($DP_NODE is %s)" % node if node else "")
    try:
        r = subprocess.run([node, WORKER_JS, "version"], capture_output=True, text=True, timeout=120)
        info = json.loads(r.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as e:
        return False, "%s cannot run %s: %s" % (node, WORKER_JS, e)
    if r.returncode != 0:
        return False, ("onnxruntime-node is not installed in %s (node %s: %s; scripts/deps --ort runs npm ci "
                       "there)" % (ORT_DIR, info.get("node"), info.get("error")))
    return True, info


def require_ort():
    ok, info = availability()
    if not ok:
        raise RuntimeError(info)
    return info


def run_node(args, **kw):
    """node ort_worker.js ARGS; its stdout, or RuntimeError with its stderr."""
    r = subprocess.run([node_binary(), WORKER_JS] + [str(a) for a in args], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("node ort_worker.js %s failed (exit %d): %s" % (args[0], r.returncode, r.stderr.strip()))
    return r.stdout


# ---- models: export and the parity check ---------------------------------------------------------

def model_files(model_dir, arch, classes, seed, size, weights=None):
    """The cache names: by seed, or by a digest of the --weights file's content."""
    if weights:
        with open(weights, "rb") as f:
            origin = "w" + hashlib.sha256(f.read()).hexdigest()[:16]
    else:
        origin = "s%d" % seed
    base = os.path.join(model_dir, "%s_k%d_%s_%d" % (arch, classes, origin, size))
    return base + ".onnx", base + ".npz"


def uneven_adaptive_pools(model, size):
    """[(parent module, attribute name, replacement)] for the AdaptiveAvgPool2d modules whose input
    at size x size is not a multiple of their output (vgg's and alexnet's below 224x224): PyTorch
    1.13 refuses to export those to ONNX. The replacement computes the same average as a product
    with the averaging matrix (one MatMul), so ORT runs the same model; parity() checks it."""
    import torch

    class AsMatmul(torch.nn.Module):
        def __init__(self, ih, iw, oh, ow):
            super().__init__()
            self.out = (oh, ow)
            self.p = torch.zeros(ih * iw, oh * ow)  # not a buffer: the state_dict stays torchvision's
            for oy in range(oh):
                for ox in range(ow):
                    y0, y1 = oy * ih // oh, -(-(oy + 1) * ih // oh)
                    x0, x1 = ox * iw // ow, -(-(ox + 1) * iw // ow)
                    cell = torch.zeros(ih, iw)
                    cell[y0:y1, x0:x1] = 1.0 / ((y1 - y0) * (x1 - x0))
                    self.p[:, oy * ow + ox] = cell.flatten()

        def forward(self, x):
            return torch.matmul(x.flatten(2), self.p).reshape(x.shape[0], x.shape[1], *self.out)

    seen, hooks = {}, []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.AdaptiveAvgPool2d):
            hooks.append(mod.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, (i[0], o))))
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    swaps = []
    for name, (x, y) in seen.items():
        (ih, iw), (oh, ow) = x.shape[2:], y.shape[2:]
        if ih % oh or iw % ow:
            parent, _, attr = name.rpartition(".")
            swaps.append((model.get_submodule(parent), attr, AsMatmul(ih, iw, oh, ow)))
    return swaps


def export(model, size, onnx_path, npz_path):
    """ONNX with a dynamic batch axis and fixed H = W = size (what a deployed model has; ORT plans
    its memory and layouts for the known shape), and the state_dict as .npz. Written to temporary
    names and renamed, so concurrent runs never read half a file."""
    import torch
    os.makedirs(os.path.dirname(onnx_path), exist_ok=True)
    tmp = "%s.%d.tmp" % (onnx_path, os.getpid())
    swaps = uneven_adaptive_pools(model, size)
    kept = [getattr(parent, attr) for parent, attr, _ in swaps]
    try:
        for parent, attr, new in swaps:
            setattr(parent, attr, new)
        with torch.no_grad():
            torch.onnx.export(model, torch.zeros(1, 3, size, size), tmp, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=OPSET, do_constant_folding=True)
    finally:
        for (parent, attr, _), old in zip(swaps, kept):
            setattr(parent, attr, old)
    os.replace(tmp, onnx_path)
    tmp = "%s.%d.tmp.npz" % (npz_path[:-4], os.getpid())
    np.savez(tmp, **{k: v.detach().numpy() for k, v in model.state_dict().items()})
    os.replace(tmp, npz_path)


def parity(model, onnx_path, size, work_dir):
    """max |ORT - PyTorch| / max |PyTorch| on a seeded batch of PARITY_BATCH images."""
    import torch
    x = torch.randn(PARITY_BATCH, 3, size, size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ref = model(x).numpy()
    fd, xin = tempfile.mkstemp(suffix=".bin", dir=work_dir)
    os.close(fd)
    yout = xin[:-4] + "_logits.bin"
    try:
        x.numpy().astype(np.float32).tofile(xin)
        run_node(["check", "--model", onnx_path, "--input", xin, "--shape", "%d,3,%d,%d" % (PARITY_BATCH, size, size),
                  "--output", yout], timeout=600)
        y = np.fromfile(yout, np.float32)
    finally:
        for p in (xin, yout):
            if os.path.exists(p):
                os.remove(p)
    if y.size != ref.size:
        raise RuntimeError("%s: ORT returned %d logits, PyTorch %d" % (onnx_path, y.size, ref.size))
    return float(np.abs(y.reshape(ref.shape) - ref).max() / np.abs(ref).max())


def checked_model(arch, classes, seed, size, model_dir, weights=None, log=None):
    """The ONNX and .npz files of the model (seeded, or with the state_dict of the .npz
    `weights`), with ORT's logits checked against PyTorch's (exported when missing or when a cached
    file fails the check). Imports torch."""
    log = log or sys.stderr
    onnx_path, npz_path = model_files(model_dir, arch, classes, seed, size, weights)
    model = pb.build_model(arch, classes, seed, weights)
    err = None
    if os.path.exists(onnx_path) and os.path.exists(npz_path):
        err = parity(model, onnx_path, size, model_dir)
    if err is None or err > TOLERANCE:
        if err is not None:
            print("%s: cached model is off by %.3g x max|logit|; exporting it again" % (onnx_path, err), file=log)
        export(model, size, onnx_path, npz_path)
        err = parity(model, onnx_path, size, model_dir)
    if err > TOLERANCE:
        raise RuntimeError("%s: ORT's logits differ from PyTorch's by %.3g x max|logit| (> %g): not timing it"
                           % (onnx_path, err, TOLERANCE))
    report_agreement(arch, classes, seed, size, weights, err, "", log)
    return {"onnx": onnx_path, "npz": npz_path, "max_abs_diff_rel": err, "tolerance": TOLERANCE}


def report_agreement(arch, classes, seed, size, weights, err, how, log=None):
    print("onnxruntime %s k=%d %s %dx%d: logits agree with PyTorch (max-abs-diff %.2g x max|logit|%s)"
          % (arch, classes, weights or "seed %d" % seed, size, size, err, how), file=log or sys.stderr)


def _checked_model_child(conn, args):
    try:
        conn.send(("ok", checked_model(*args)))
    except Exception as e:  # report any failure to the parent, which raises it
        conn.send(("error", "%s: %s" % (type(e).__name__, e)))


def check_key(onnx_path, arch, classes, seed, size, weights):
    """What a passed check vouches for: the ONNX file's bytes, the PyTorch model's code, its
    weights (seed or file), and the versions of torch, torchvision and onnxruntime-node."""
    from importlib.metadata import version
    h = hashlib.sha256(repr((arch, classes, seed, size, version("torch"), version("torchvision"),
                             require_ort()["onnxruntime"])).encode())
    for path in (onnx_path, os.path.join(HERE, "cifar_models.py"), weights):
        if path:
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def checked_model_isolated(arch, classes, seed, size, model_dir, weights=None):
    """checked_model() in a forked child, so that the caller never imports torch (a stream source
    stays a source; worker processes are forked from a torch-free parent). A passed check is
    remembered next to the model (<model>.onnx.checked, by check_key()), so that the runs of a
    matrix do not build the PyTorch model again for the same bytes; any change checks again."""
    onnx_path, npz_path = model_files(model_dir, arch, classes, seed, size, weights)
    stamp = onnx_path + ".checked"
    try:
        with open(stamp) as f:
            known = json.load(f)
        if known["key"] == check_key(onnx_path, arch, classes, seed, size, weights):
            report_agreement(arch, classes, seed, size, weights, known["max_abs_diff_rel"],
                             "; checked before for these bytes")
            return {"onnx": onnx_path, "npz": npz_path, "max_abs_diff_rel": known["max_abs_diff_rel"],
                    "tolerance": TOLERANCE}
    except (OSError, ValueError, KeyError):
        pass
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_checked_model_child, args=(child, (arch, classes, seed, size, model_dir, weights)))
    p.start()
    child.close()
    try:
        status, value = parent.recv()
    except EOFError:
        status, value = "error", "the export process died (exit %s)" % p.exitcode
    p.join()
    if status != "ok":
        raise RuntimeError(value)
    tmp = "%s.%d.tmp" % (stamp, os.getpid())
    with open(tmp, "w") as f:
        json.dump({"key": check_key(onnx_path, arch, classes, seed, size, weights),
                   "max_abs_diff_rel": value["max_abs_diff_rel"]}, f)
    os.replace(tmp, stamp)
    return value


# ---- the engine seam of pytorch_baseline.py ----------------------------------------------------------

def read_exact(fd, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise RuntimeError("the node worker exited (see its messages above)")
        buf += chunk
    return bytes(buf)


class OrtEngine:
    """pytorch_baseline.TorchEngine's seam for ONNX Runtime: worker k runs `node ort_worker.js
    serve` (one ORT session) and hands it each micro-batch over a pipe; node times the batch itself
    (gather, run, top-1) on CLOCK_MONOTONIC, so the service time is ORT's. The pipe hop before it
    is part of the latency, as the queue hop is for PyTorch's worker processes."""
    name = "onnxruntime"

    @staticmethod
    def add_options(sp, cmd):
        sp.add_argument("--model-dir", default=default_model_dir(),
                        help="exported models (default $DP_ORT_MODELS or ~/.cache/libdataparallel/onnx)")
        if cmd == "infer":
            sp.add_argument("--repeats", type=pb.positive_int, default=5,
                            help="timed windows of seconds/repeats each; img_per_s is their median")

    @staticmethod
    def options(args):
        return {"model_dir": args.model_dir}

    @staticmethod
    def infer_command(args):
        return cmd_infer(args)

    @staticmethod
    def add_commands(sub, model_opts):
        add_commands(sub, model_opts)

    @staticmethod
    def pool_setup(cfg, images):
        require_ort()
        cfg.update(checked_model_isolated(cfg["arch"], cfg["classes"], cfg["seed"], cfg["size"], cfg["model_dir"],
                                          cfg["weights"]))
        fd, cfg["data_file"] = tempfile.mkstemp(prefix="ort_data_", suffix=".bin", dir=cfg["model_dir"])
        with os.fdopen(fd, "wb") as f:
            np.ascontiguousarray(images, np.float32).tofile(f)
        return lambda: os.remove(cfg["data_file"])

    def __init__(self, k, cfg, images):
        warm = ",".join(str(b) for b in pb.warm_sizes(cfg["max_batch"]))
        self.proc = subprocess.Popen([node_binary(), WORKER_JS, "serve", "--model", cfg["onnx"], "--data",
                                      cfg["data_file"], "--size", str(cfg["size"]), "--threads", str(cfg["threads"]),
                                      "--warm", warm], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.w, self.r = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        if read_exact(self.r, 4) != b"RDY\n":
            raise RuntimeError("worker %d: unexpected start of the node worker's replies" % k)

    def infer(self, idx):
        os.write(self.w, struct.pack("<%di" % (len(idx) + 1), len(idx), *idx))
        t_start, t_end, status, n = struct.unpack("<qqii", read_exact(self.r, 24))
        top = struct.unpack("<%di" % n, read_exact(self.r, 4 * n)) if n else ()
        if status:
            raise RuntimeError("ORT inference failed (see the node worker's message)")
        return list(top), t_start, t_end

    def usage(self):
        """The node process's CPU time and peak RSS: the Python worker in front of it is the
        harness's queue, so its memory (mostly shared with the source process) is not counted;
        its CPU time is, as every engine's dequeueing is."""
        os.write(self.w, struct.pack("<i", 0))
        return struct.unpack("<dd", read_exact(self.r, 16))

    def close(self):
        try:
            os.write(self.w, struct.pack("<i", -1))
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- commands of its own ---------------------------------------------------------------------

def ort_infer(model, batch, size, threads, seconds, warmup, repeats, seed=0):
    """node ort_worker.js infer: its JSON plus img_per_s (median of the windows), img_per_s_mean
    (all windows together, the definition of `dp-bench infer`) and per-batch times."""
    out = json.loads(run_node(["infer", "--model", model, "--batch", batch, "--size", size, "--threads", threads,
                               "--seconds", seconds, "--warmup", warmup, "--repeats", repeats, "--seed", seed]))
    win = out["windows"]
    iters, secs, cpu = (sum(w[k] for w in win) for k in ("iterations", "seconds", "cpu_seconds"))
    out.update(iterations=iters, seconds=secs, img_per_s=statistics.median(w["img_per_s"] for w in win),
               img_per_s_mean=iters * batch / secs, ms_per_batch=statistics.median(
                   1000.0 * w["seconds"] / w["iterations"] for w in win),
               cpu_ms_per_batch=statistics.median(1000.0 * w["cpu_seconds"] / w["iterations"] for w in win))
    return out


def cmd_infer(args):
    require_ort()
    m = checked_model_isolated(args.arch, args.classes, args.seed, args.size, args.model_dir, args.weights)
    r = ort_infer(m["onnx"], args.batch, args.size, args.threads, args.seconds, args.warmup, args.repeats, args.seed)
    res = dict(pb.provenance(), engine=OrtEngine.name, arch=args.arch, batch=args.batch, threads=args.threads,
               precision="fp32", size=args.size, classes=args.classes, repeats=args.repeats,
               load_avg=os.getloadavg()[0], parity={k: m[k] for k in ("max_abs_diff_rel", "tolerance")},
               model=m["onnx"], **r)
    print("onnxruntime %s batch %d %dx%d threads %d: %.1f img/s (median of %d; %.3f ms/batch, CPU %.3f ms/batch)" % (
        args.arch, args.batch, args.size, args.size, args.threads, res["img_per_s"], args.repeats,
        res["ms_per_batch"], res["cpu_ms_per_batch"]))
    if args.json:
        pb.write_json(args.json, res)
    return 0


def cmd_available(args):
    """One line: the versions, or why not (what `dp-bench matrix` prints when it skips ORT)."""
    ok, info = availability()
    print("onnxruntime-node %s on node %s" % (info["onnxruntime"], info["node"]) if ok else info)
    return 0 if ok else 3


def cmd_export(args):
    require_ort()
    m = checked_model_isolated(args.arch, args.classes, args.seed, args.size, args.model_dir, args.weights)
    print(json.dumps(m, indent=2))
    return 0


ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16")


def cpu_isa():
    """The instruction-set flags that decide which kernels oneDNN and ORT's MLAS pick."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    return [x for x in ISA_FLAGS if x in flags]


def dp_bench_path(given):
    path = given or os.path.join(os.environ.get("DP_BIN_DIR") or os.path.join(HERE, "..", "build", "bin"), "dp-bench")
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s is not an executable (build it, or pass --dp-bench PATH)" % path)
    return path


def ours_infer(bench, arch, batch, args, weights):
    """One `dp-bench infer` run with the same weights file as ORT's model; its --json."""
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    cmd = [bench, "infer", "--arch", arch, "--batch", str(batch), "--threads", str(args.threads), "--size",
           str(args.size), "--classes", str(args.classes), "--precision", args.precision, "--seconds",
           str(args.seconds), "--warmup", str(args.warmup), "--weights", weights, "--json", out]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("%s failed (exit %d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
        with open(out) as f:
            return json.load(f)
    finally:
        os.remove(out)


def cmd_compare(args):
    """Ours and ORT alternately, cell by cell, --rounds times (the order flips every round, so a
    drift of the machine's load hits both alike); ratios are taken per round, from the pair
    measured together. Both img/s figures are batches x batch size / timed seconds of one
    --seconds run after --warmup: the definition of `dp-bench infer`."""
    info = require_ort()
    bench = dp_bench_path(args.dp_bench)
    models = {a: checked_model_isolated(a, args.classes, args.seed, args.size, args.model_dir) for a in args.arch}
    cells = [{"arch": a, "batch": b, "size": args.size, "threads": args.threads, "precision": args.precision,
              "rounds": []} for a in args.arch for b in args.batch]
    library = None
    for r in range(args.rounds):
        for c in cells:
            m, got = models[c["arch"]], {}
            for side in (("ours", "ort") if r % 2 == 0 else ("ort", "ours")):
                load = os.getloadavg()[0]
                if side == "ours":
                    j = ours_infer(bench, c["arch"], c["batch"], args, m["npz"])
                    library = j.get("library")
                    rate = j["img_per_s"]
                else:
                    j = ort_infer(m["onnx"], c["batch"], args.size, args.threads, args.seconds, args.warmup, 1, args.seed)
                    rate = j["img_per_s_mean"]
                got[side] = {"img_per_s": rate, "cpu_ms_per_batch": j["cpu_ms_per_batch"], "load": load}
            got["ratio"] = got["ours"]["img_per_s"] / got["ort"]["img_per_s"]
            got["cpu_ratio"] = got["ort"]["cpu_ms_per_batch"] / got["ours"]["cpu_ms_per_batch"]
            c["rounds"].append(got)
            print("round %d/%d %s batch %d: ours %.1f img/s, ORT %.1f img/s, ours/ORT %.2f (CPU time %.2f), load %.1f"
                  % (r + 1, args.rounds, c["arch"], c["batch"], got["ours"]["img_per_s"], got["ort"]["img_per_s"],
                     got["ratio"], got["cpu_ratio"], got["ours"]["load"]), file=sys.stderr)
    for c in cells:
        for k in ("ratio", "cpu_ratio"):
            v = [g[k] for g in c["rounds"]]
            c[k] = {"median": statistics.median(v), "min": min(v), "max": max(v)}
        for side in ("ours", "ort"):
            c[side + "_img_per_s"] = statistics.median(g[side]["img_per_s"] for g in c["rounds"])
            c[side + "_cpu_ms_per_batch"] = statistics.median(g[side]["cpu_ms_per_batch"] for g in c["rounds"])
    loads = [g[s]["load"] for c in cells for g in c["rounds"] for s in ("ours", "ort")]
    res = dict(pb.provenance(), isa=cpu_isa(), library=library, onnxruntime=info["onnxruntime"], node=info["node"],
               load_avg={"min": min(loads), "median": statistics.median(loads), "max": max(loads)}, cells=cells)
    lines = ["%s, %d cores, ISA %s; onnxruntime-node %s (node %s); %d thread(s), %dx%d, ours %s vs ORT fp32; "
             "%d rounds of %g s after %g s warm-up; load average %.1f (%.1f-%.1f)." % (
                 res["machine"]["cpu"], res["machine"]["cores"], " ".join(res["isa"]) or "-", info["onnxruntime"],
                 info["node"], args.threads, args.size, args.size, args.precision, args.rounds, args.seconds,
                 args.warmup, res["load_avg"]["median"], res["load_avg"]["min"], res["load_avg"]["max"]), "",
             "| arch | batch | ours img/s | ORT img/s | ours/ORT (median, min-max) | ORT/ours CPU ms per batch |",
             "|---|---:|---:|---:|---:|---:|"]
    for c in cells:
        lines.append("| %s | %d | %.1f | %.1f | %.2f (%.2f-%.2f) | %.2f |" % (
            c["arch"], c["batch"], c["ours_img_per_s"], c["ort_img_per_s"], c["ratio"]["median"], c["ratio"]["min"],
            c["ratio"]["max"], c["cpu_ratio"]["median"]))
    print("\n".join(lines))
    if args.json:
        pb.write_json(args.json, res)
    return 0


def add_commands(sub, model_opts):
    pa = sub.add_parser("available", help="can ONNX Runtime run here? (exit 0 yes, 3 no, with the reason)")
    pa.set_defaults(func=cmd_available)
    pe = sub.add_parser("export", help="export (if needed) and check one model; prints its files")
    model_opts(pe, "export")
    pe.add_argument("--seed", type=int, default=0)
    pe.set_defaults(func=cmd_export)
    pc = sub.add_parser("compare", help="dp-bench infer and ORT alternated; ratio ours/ORT per cell")
    pc.add_argument("--arch", type=pb.list_of(str, pb.MODEL_ARCHS), default=list(pb.ARCHS))
    pc.add_argument("--batch", type=pb.list_of(pb.positive_int), default=[1, 64])
    pc.add_argument("--size", type=int, default=32, help="input height and width (>= 32)")
    pc.add_argument("--threads", type=pb.positive_int, default=1)
    pc.add_argument("--classes", type=pb.positive_int, default=10)
    pc.add_argument("--seed", type=int, default=0)
    pc.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="ours (ORT runs fp32)")
    pc.add_argument("--seconds", type=pb.positive_float, default=3.0, help="timed seconds per run")
    pc.add_argument("--warmup", type=pb.nonneg_float, default=1.0)
    pc.add_argument("--rounds", type=pb.positive_int, default=3)
    pc.add_argument("--dp-bench", help="default $DP_BIN_DIR/dp-bench, else build/bin/dp-bench")
    pc.add_argument("--model-dir", default=default_model_dir())
    pc.add_argument("--json", help="write every measurement as JSON here ('-' = stdout)")
    pc.set_defaults(func=cmd_compare)


def main(argv=None):
    return pb.main(argv, engine=OrtEngine, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
