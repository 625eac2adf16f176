#!/usr/bin/python3
"""PyTorch baseline for libdataparallel: the same models and the same jobs, done the way a PyTorch
user would, so every number of ours has a side-by-side PyTorch number measured on the same machine.

  infer     time back-to-back batches of one model (img/s), eager or jit-frozen
            (the fields of `dp-bench infer --json`).
  stream    serve a rate-limited stream over W worker processes with a partitioning strategy
            (the fields of `dp-bench stream --json`; definitions of docs/metrics.md).
  capacity  the highest constant rate whose p99 latency meets an SLO with nothing dropped.
  matrix    stream over archs x strategies x workers x rates; rows appended to a results.csv
            shared with `dp-bench matrix` (engine=pytorch).

Models: torchvision resnet18 / mobilenet_v2 (num_classes=K) and the pytorch-cifar ResNet18 /
MobileNetV2 of cifar_models.py (same state_dict() names as libdataparallel expects), with seeded
random weights and BN statistics (cifar_models.seeded) or a state_dict() from --weights. Run with
/usr/bin/python3 (it has torch).

torch is imported lazily: the stream source (the parent process) never loads it, so its CPU and
memory are those of a source, and worker processes are forked from a torch-free parent.
"""
import argparse
import csv
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import resource
import signal
import sys
import time

import numpy as np

ARCHS = ("resnet18", "mobilenet_v2", "resnet18_cifar", "mobilenetv2_cifar")
# Every arch with a PyTorch model (docs/models.md; null has none): `infer` and the ONNX Runtime
# engine take any; ARCHS are the defaults of the matrices.
MODEL_ARCHS = ARCHS + ("resnet34", "resnet50", "vgg16", "vgg16_bn", "alexnet", "densenet121", "inception_v3")
STRATEGIES = ("uniform", "sharded", "dynamic", "weighted")
OVERFLOWS = ("block", "drop-newest", "drop-oldest")
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CIFAR_RECORD = 1 + 3 * 32 * 32
STRAGGLER_FACTOR = 1.5      # a worker slower than the median by this factor is flagged
EMA_ALPHA = 0.2             # weighted: EMA factor for service times (as dp_partitioner_opts)
VNODES = 64                 # sharded: virtual nodes per worker on the hash ring
SPIN_NS = 200_000           # the source sleeps to deadline - SPIN_NS, then spins

# Columns of results.csv, shared with `dp-bench matrix` (tools/dp-bench/matrix.c): the run's
# identity, then every summary field of `dp-bench stream --json`, latency_ms flattened.
CSV_FIELDS = ("engine", "arch", "strategy", "workers", "threads", "rate", "samples", "offered",
              "completed", "dropped", "failed", "rate_accuracy_pct", "throughput", "efficiency_pct",
              "latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
              "latency_p999_ms", "latency_max_ms", "cpu_pct", "rss_mb", "elapsed_s", "accuracy_pct", "layout", "stages")
LATENCY_KEYS = ("mean", "p50", "p90", "p99", "p999", "max")


# ---- models ------------------------------------------------------------------------------------

def sibling(name):
    """The module `name`.py beside this file (cifar_models, fashion_mnist), imported on first use
    so that importing this module does not import torch."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import importlib
    return importlib.import_module(name)


def build_model(arch, classes=10, seed=0, weights=None):
    """A model in eval mode: the seeded one of cifar_models.seeded() (random weights and BN
    statistics; shared with the parity tests and the ONNX export), or with a state_dict() saved
    as .npz (weights)."""
    if arch not in MODEL_ARCHS:
        raise ValueError("unknown arch %r (expected one of %s)" % (arch, ", ".join(MODEL_ARCHS)))
    model = sibling("cifar_models").seeded(arch, classes, seed)
    if weights:
        sibling("state_dict_io").load_npz(model, weights)
    return model


def prepare(model, mode, example):
    """eager: the module as is; jit: scripted (traced if scripting fails) and frozen."""
    import torch
    if mode == "eager":
        return model
    with torch.no_grad():
        try:
            scripted = torch.jit.script(model)
        except Exception:  # torchvision models script; tracing is the fallback
            scripted = torch.jit.trace(model, example)
        return torch.jit.freeze(scripted.eval())


# ---- data --------------------------------------------------------------------------------------

def load_data(spec, size=32, synthetic_n=1024, seed=1):
    """(images float32 [N,3,S,S], labels int32 [N]) from 'synthetic', 'cifar10:FILE' (CIFAR-10
    binary records: label byte + 3072 bytes, normalised with CIFAR-10's mean/std) or
    'fashion-mnist:PATH' (a directory: its test set; or a *-images-idx3-ubyte.gz file)."""
    if spec == "synthetic":
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1.0, 1.0, size=(synthetic_n, 3, size, size)).astype(np.float32)
        return x, (np.arange(synthetic_n) % 10).astype(np.int32)
    if spec.startswith("fashion-mnist:"):
        if size != 32:
            raise ValueError("--size must be 32 with Fashion-MNIST data")
        path = spec[len("fashion-mnist:"):]
        split, source = "test", path
        if not os.path.isdir(path):
            split, source = os.path.basename(path).split("-")[0], os.path.dirname(path)
        split = "train" if split == "train" else "test"
        x, labels = sibling("fashion_mnist").tensors(split, source)
        return x, labels.astype(np.int32)
    if not spec.startswith("cifar10:"):
        raise ValueError("--data: expected cifar10:FILE, fashion-mnist:PATH or synthetic, got %r" % spec)
    path = spec[len("cifar10:"):]
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % CIFAR_RECORD:
        raise ValueError("%s: %d bytes is not a whole number of %d-byte CIFAR-10 records"
                         % (path, raw.size, CIFAR_RECORD))
    if size != 32:
        raise ValueError("--size must be 32 with CIFAR-10 data")
    rec = raw.reshape(-1, CIFAR_RECORD)
    x = rec[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    x = (x - np.array(CIFAR_MEAN, np.float32)[:, None, None]) / np.array(CIFAR_STD, np.float32)[:, None, None]
    return np.ascontiguousarray(x, dtype=np.float32), rec[:, 0].astype(np.int32)


# ---- partitioners (stream mode, as docs/partitioners.md) --------------------------------------------

def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


class Router:
    """Routes sample (id, key) to a worker index, or None for the shared queue (dynamic)."""

    def __init__(self, strategy, workers, ema):
        self.strategy, self.workers, self.ema = strategy, workers, ema
        self.rr = 0
        if strategy == "sharded":  # consistent hash ring: stable as W changes
            pts = sorted((splitmix64((w << 32) | v), w) for w in range(workers) for v in range(VNODES))
            self.ring_h = np.array([h for h, _ in pts], dtype=np.uint64)
            self.ring_w = [w for _, w in pts]
        self.current = [0.0] * workers

    def route(self, sample_id, key):
        if self.strategy == "uniform":
            w = self.rr
            self.rr = (self.rr + 1) % self.workers
            return w
        if self.strategy == "sharded":
            i = int(np.searchsorted(self.ring_h, np.uint64(splitmix64(key)), side="left"))
            return self.ring_w[i % len(self.ring_w)]
        if self.strategy == "dynamic":
            return None
        # weighted: smooth weighted round-robin on speed = 1 / EMA(service time per sample);
        # unmeasured workers get the mean speed of the measured ones (equal when none is).
        ema = [self.ema[w] for w in range(self.workers)]
        speeds = [1.0 / e if e > 0 else 0.0 for e in ema]
        known = [s for s in speeds if s > 0]
        fill = sum(known) / len(known) if known else 1.0
        speeds = [s if s > 0 else fill for s in speeds]
        # Normalised to sum W, so the SWRR credits keep one scale as estimates arrive.
        total = float(self.workers)
        norm = total / sum(speeds)
        speeds = [s * norm for s in speeds]
        best = 0
        for w in range(self.workers):
            self.current[w] += speeds[w]
            if self.current[w] > self.current[best]:
                best = w
        self.current[best] -= total
        return best


# ---- workers -----------------------------------------------------------------------------------

def limit_threads(threads):
    """Must run before torch is imported: otherwise the OpenMP pool starts with one thread per
    core, and the extra threads burn CPU spinning even after torch.set_num_threads(1)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)  # system-wide: comparable across processes


def die_with_parent(parent_pid):
    """A worker blocked on its queue would outlive a killed parent: ask Linux to send SIGTERM when
    the parent goes (PR_SET_PDEATHSIG), and exit if it already has."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:
        os._exit(1)


def warm_sizes(max_batch):
    """Every micro-batch size a worker can get (up to 16, and max_batch): workers run each a few
    times before serving, as libdataparallel's workers prepare theirs (the jit profiling executor
    specialises on the first calls of each shape; ORT sizes its buffers on the first run)."""
    return sorted(set(range(1, min(max_batch, 16) + 1)) | {max_batch})


class TorchEngine:
    """The engine seam of Pool and of the commands: how one worker process runs the model.
    ort_baseline.py plugs ONNX Runtime in through the same five members, so that both baselines
    share the source, partitioners, queues, metrics and command line of this file.

      name                    the `engine` of every JSON summary and CSV row
      add_options(subparser, cmd)  the engine's own options of command cmd; options(args)
                              picks them out as a dict for cfg
      infer_command(args)     the `infer` command
      add_commands(sub, model_opts)  commands of its own (argparse subparsers)
      pool_setup(cfg, images) in the parent before the workers fork; may add to cfg; returns a
                              cleanup callable or None
      Engine(k, cfg, images)  in worker k: build, warm up
      .infer(idx)             run the batch images[idx]: (top-1 list, t_start_ns, t_end_ns)
      .usage()                (CPU seconds of processes the engine runs besides the worker so far,
                              peak RSS in MB of the worker as counted in rss_mb)
      .close()
    """
    name = "pytorch"

    @staticmethod
    def add_options(sp, cmd):
        sp.add_argument("--mode", choices=("eager", "jit"), default="jit")

    @staticmethod
    def options(args):
        return {"mode": args.mode}

    @staticmethod
    def infer_command(args):
        return torch_infer(args)

    @staticmethod
    def add_commands(sub, model_opts):
        pass

    @staticmethod
    def pool_setup(cfg, images):
        return None

    def __init__(self, k, cfg, images):
        limit_threads(cfg["threads"])
        import torch
        torch.set_num_threads(cfg["threads"])
        self.torch = torch
        self.x = torch.from_numpy(images)
        self.model = prepare(build_model(cfg["arch"], cfg["classes"], cfg["seed"], cfg["weights"]), cfg["mode"],
                             self.x[:1])
        with torch.inference_mode():
            for b in warm_sizes(cfg["max_batch"]):
                for _ in range(3):
                    self.model(self.x[:b])

    def infer(self, idx):
        t_start = now_ns()
        with self.torch.inference_mode():
            top = self.model(self.x[idx]).argmax(1).tolist()
        return top, t_start, now_ns()

    def usage(self):
        return 0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    def close(self):
        pass


def worker_main(k, cfg, data, own_q, shared_q, ema, conn):
    """One worker process: sets up its engine, then serves runs until told to stop."""
    die_with_parent(cfg["parent"])
    try:
        engine = cfg["engine"](k, cfg, data)
    except Exception as e:  # the parent reports it instead of waiting for a worker that never comes
        conn.send(("error", "worker %d: %s: %s" % (k, type(e).__name__, e)))
        return
    conn.send(("ready", k))
    while True:
        cmd = conn.recv()
        if cmd is None:
            break
        q = shared_q if cmd["shared"] else own_q
        factor = cmd["slowdown"]
        max_batch, max_delay = cmd["max_batch"], cmd["max_delay_us"] / 1e6
        ids, top1s, sizes, intended, starts, ends = [], [], [], [], [], []
        busy_ns = 0
        batches = 0
        failed = 0
        hwm = 0
        ema[k] = 0.0
        cpu0 = time.process_time()
        helper_cpu0 = engine.usage()[0]
        conn.send(("go", k))
        stop = False
        while not stop:
            item = q.get()
            if item is None:
                break
            try:
                hwm = max(hwm, q.qsize() + 1)
            except NotImplementedError:
                pass
            batch = [item]
            deadline = time.monotonic() + max_delay
            while len(batch) < max_batch:
                try:
                    wait = deadline - time.monotonic()
                    nxt = q.get(timeout=wait) if wait > 0 else q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            try:
                top, t_start, t_end = engine.infer([it[1] for it in batch])
            except Exception as e:
                print("worker %d: inference failed: %s" % (k, e), file=sys.stderr)
                failed += len(batch)
                continue
            if factor > 1.0:  # simulated straggler: busy-wait the extra (f-1) x service time
                t_target = t_start + int((t_end - t_start) * factor)
                while now_ns() < t_target:
                    pass
                t_end = now_ns()
            service = t_end - t_start
            busy_ns += service
            batches += 1
            per_sample = service / len(batch)
            ema[k] = per_sample if ema[k] == 0.0 else EMA_ALPHA * per_sample + (1 - EMA_ALPHA) * ema[k]
            for it, t in zip(batch, top):
                ids.append(it[0])
                top1s.append(t)
                intended.append(it[2])
                sizes.append(len(batch))
                starts.append(t_start)
                ends.append(t_end)
        helper_cpu, rss_mb = engine.usage()
        cpu_s = time.process_time() - cpu0 + helper_cpu - helper_cpu0
        conn.send({
            "worker": k, "ids": np.array(ids, np.int64), "top1": np.array(top1s, np.int32),
            "batch": np.array(sizes, np.int32), "intended_ns": np.array(intended, np.int64),
            "start_ns": np.array(starts, np.int64), "end_ns": np.array(ends, np.int64),
            "busy_ns": busy_ns, "batches": batches, "failed": failed, "queue_hwm": hwm,
            "cpu_s": cpu_s, "rss_mb": rss_mb,
        })
    engine.close()


class Pool:
    """W worker processes with one model each; serves any number of stream runs (strategies,
    rates) so the model is built and jit-compiled once per (arch, workers, threads)."""

    def __init__(self, arch, workers, threads=1, classes=10, data="synthetic", size=32, max_batch=1,
                 queue_capacity=1024, seed=0, weights=None, engine=TorchEngine, engine_opts=None):
        # fork: the parent has not imported torch, so there is no OpenMP pool to break, and the
        # data set is shared copy-on-write instead of pickled to every worker.
        ctx = mp.get_context("fork")
        self.arch, self.workers, self.threads, self.engine = arch, workers, threads, engine
        self.data_spec = data
        self.images, self.labels = load_data(data, size)
        self.ema = ctx.Array("d", workers, lock=False)
        self.own = [ctx.Queue(queue_capacity) for _ in range(workers)]
        self.shared = ctx.Queue(queue_capacity)
        self.max_batch = max_batch
        cfg = dict(engine_opts or {}, arch=arch, threads=threads, classes=classes, seed=seed, weights=weights,
                   size=size, max_batch=max_batch, parent=os.getpid(), engine=engine)
        self.conns, self.procs = [], []
        self.cleanup = engine.pool_setup(cfg, self.images)
        for k in range(workers):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=worker_main, args=(k, cfg, self.images, self.own[k], self.shared,
                                                      self.ema, child), daemon=True)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)
        for c in self.conns:
            self._expect(c, "ready")

    def _expect(self, conn, what):
        if not conn.poll(600):
            raise RuntimeError("worker did not become %s within 600 s" % what)
        msg = conn.recv()
        if isinstance(msg, tuple) and msg[0] == "error":
            raise RuntimeError(msg[1])
        if not (isinstance(msg, tuple) and msg[0] == what):
            raise RuntimeError("worker: expected %s, got %r" % (what, msg))

    def close(self):
        for c in self.conns:
            try:
                c.send(None)
            except OSError:
                pass
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
        if self.cleanup:
            self.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, strategy, rate, samples, slowdown=None, max_delay_us=0, overflow="block"):
        """One stream run; returns (summary dict with the dp-bench stream --json fields, per-sample
        records as a dict of numpy arrays)."""
        if strategy not in STRATEGIES:
            raise ValueError("unknown strategy %r" % strategy)
        W = self.workers
        slow = list(slowdown or [])
        slow = [slow[k] if k < len(slow) else 1.0 for k in range(W)]
        shared = strategy == "dynamic"
        for k, c in enumerate(self.conns):
            c.send({"shared": shared, "slowdown": slow[k], "max_batch": self.max_batch,
                    "max_delay_us": max_delay_us})
        for c in self.conns:
            self._expect(c, "go")
        router = Router(strategy, W, self.ema)
        n_data = len(self.images)
        period = 1e9 / rate
        cpu0 = time.process_time()
        dropped = 0
        t0 = now_ns() + 1_000_000
        t_first = t_last = None
        for i in range(samples):
            t_i = t0 + int(i * period)  # absolute deadlines: pacing errors never accumulate
            wait = t_i - SPIN_NS - now_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
            while now_ns() < t_i:
                pass
            key = i % n_data
            w = router.route(i, key)
            q = self.shared if w is None else self.own[w]
            item = (i, key, t_i)
            t_emit = now_ns()
            if t_first is None:
                t_first = t_emit
            t_last = t_emit
            if overflow == "block":
                q.put(item)
            else:
                try:
                    q.put_nowait(item)
                except queue.Full:
                    if overflow == "drop-newest":
                        dropped += 1
                        continue
                    try:  # drop-oldest: make room by discarding the head
                        q.get_nowait()
                        dropped += 1
                    except queue.Empty:
                        pass
                    q.put(item)
        for k in range(W):
            (self.shared if shared else self.own[k]).put(None)
        parts = [c.recv() for c in self.conns]
        src_cpu = time.process_time() - cpu0
        s, rec = summarise(self, strategy, rate, samples, parts, dropped, overflow, t0, t_first, t_last,
                           src_cpu)
        if slowdown:
            s["slowdown"] = slow
        rec["t0"] = t0
        return s, rec


def summarise(pool, strategy, rate, offered, parts, dropped, overflow, t0, t_first, t_last, src_cpu):
    rec = {key: np.concatenate([p[key] for p in parts]) for key in
           ("ids", "top1", "batch", "intended_ns", "start_ns", "end_ns")}
    rec["worker"] = np.concatenate([np.full(len(p["ids"]), p["worker"], np.int32) for p in parts])
    order = np.argsort(rec["ids"], kind="stable")
    rec = {k: v[order] for k, v in rec.items()}
    completed = len(rec["ids"])
    failed = sum(p["failed"] for p in parts)
    t_end = int(rec["end_ns"].max()) if completed else t_last
    elapsed = max(t_end - t0, 1) / 1e9
    lat = (rec["end_ns"] - rec["intended_ns"]) / 1e6
    if completed:
        srt = np.sort(lat)  # nearest rank (the ceil(q*n)-th smallest), as libdataparallel's histogram
        q = [srt[max(int(np.ceil(p * completed - 1e-9)) - 1, 0)] for p in (0.5, 0.9, 0.99, 0.999)]
        latency = {"mean": float(lat.mean()), "p50": float(q[0]), "p90": float(q[1]),
                   "p99": float(q[2]), "p999": float(q[3]), "max": float(lat.max())}
    else:
        latency = {k: 0.0 for k in LATENCY_KEYS}
    span = (t_last - t_first) / 1e9 if offered > 1 else 0.0
    rate_acc = 100.0 * ((offered - 1) / span) / rate if span > 0 else 100.0
    throughput = completed / ((t_end - t_first) / 1e9) if completed and t_end > t_first else 0.0
    per_worker = []
    for p in sorted(parts, key=lambda p: p["worker"]):
        n = len(p["ids"])
        per_worker.append({
            "worker": p["worker"], "completed": n, "failed": p["failed"], "samples": n + p["failed"],
            "busy_s": p["busy_ns"] / 1e9, "busy_pct": 100.0 * p["busy_ns"] / 1e9 / elapsed,
            "mean_batch": n / p["batches"] if p["batches"] else 0.0,
            "mean_service_ms": p["busy_ns"] / 1e6 / n if n else 0.0,
            "queue_hwm": p["queue_hwm"], "straggler": False})
    services = sorted(w["mean_service_ms"] for w in per_worker if w["completed"])
    if len(services) >= 2:
        median = services[len(services) // 2] if len(services) % 2 else \
            0.5 * (services[len(services) // 2 - 1] + services[len(services) // 2])
        for w in per_worker:
            w["straggler"] = w["completed"] > 0 and w["mean_service_ms"] > STRAGGLER_FACTOR * median
    labels = pool.labels[rec["ids"] % len(pool.labels)]
    summary = {
        "engine": pool.engine.name, "arch": pool.arch, "strategy": strategy, "workers": pool.workers,
        "threads_per_worker": pool.threads, "target_rate": float(rate), "data": pool.data_spec,
        "offered": offered, "completed": completed, "dropped": dropped,
        "dropped_newest": dropped if overflow == "drop-newest" else 0,
        "dropped_oldest": dropped if overflow == "drop-oldest" else 0, "failed": failed,
        "rate_accuracy_pct": rate_acc, "throughput": throughput,
        "efficiency_pct": 100.0 * throughput / rate, "latency_ms": latency,
        # CPU of the source plus every worker over the run; memory: peak RSS summed over the
        # processes (the PyTorch job is W+1 processes, ours is one).
        "cpu_pct": 100.0 * (src_cpu + sum(p["cpu_s"] for p in parts)) / elapsed,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 + sum(p["rss_mb"] for p in parts),
        "elapsed_s": elapsed, "labelled": completed, "correct": int((rec["top1"] == labels).sum()),
        **({"accuracy_pct": 100.0 * float((rec["top1"] == labels).mean())} if completed else {}),
        "per_worker": per_worker,
    }
    rec["label"] = labels
    return summary, rec


def print_summary(s, out=sys.stderr):
    l = s["latency_ms"]
    print("%s %s %s W=%d T=%d rate %.0f/s: offered %d completed %d dropped %d | %.1f/s "
          "(%.1f%% efficiency) | latency ms p50 %.2f p99 %.2f max %.2f | cpu %.0f%% rss %.0f MB" % (
              s["engine"], s["arch"], s["strategy"], s["workers"], s["threads_per_worker"], s["target_rate"],
              s["offered"], s["completed"], s["dropped"], s["throughput"], s["efficiency_pct"],
              l["p50"], l["p99"], l["max"], s["cpu_pct"], s["rss_mb"]), file=out)


def write_jsonl(path, summary, rec, t0):
    """The format of libdataparallel's JSONL sink: one object per completed sample (times in
    seconds since t0, the run's start; latency from intended arrival), then the summary."""
    with open(path, "w") as f:
        rel = {k: (rec[k + "_ns"] - t0) / 1e9 for k in ("intended", "start", "end")}
        lat = (rec["end_ns"] - rec["intended_ns"]) / 1e6
        for i in range(len(rec["ids"])):
            f.write(json.dumps({
                "type": "sample", "sample_id": int(rec["ids"][i]), "worker": int(rec["worker"][i]),
                "intended_s": float(rel["intended"][i]), "start_s": float(rel["start"][i]),
                "end_s": float(rel["end"][i]), "latency_ms": float(lat[i]),
                "batch_size": int(rec["batch"][i]), "top1": int(rec["top1"][i]),
                "label": int(rec["label"][i])}) + "\n")
        f.write(json.dumps(dict(type="summary", **summary)) + "\n")


def csv_row(s):
    row = {"engine": s["engine"], "arch": s["arch"], "strategy": s["strategy"], "workers": s["workers"],
           "threads": s["threads_per_worker"], "rate": s["target_rate"], "samples": s["offered"]}
    for k in ("offered", "completed", "dropped", "failed", "rate_accuracy_pct", "throughput",
              "efficiency_pct", "cpu_pct", "rss_mb", "elapsed_s"):
        row[k] = s[k]
    for k in LATENCY_KEYS:
        row["latency_%s_ms" % k] = s["latency_ms"][k]
    row["accuracy_pct"] = s.get("accuracy_pct", "")
    row["layout"], row["stages"] = "data-parallel", 1  # the matrix's other layouts are libdataparallel's
    return row


def append_csv(path, rows):
    """Append rows to a results.csv (header written when the file is new or empty)."""
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    if not new:
        with open(path) as f:
            header = f.readline().strip().split(",")
        if tuple(header) != CSV_FIELDS:
            raise ValueError("%s: header %s differs from %s" % (path, header, ",".join(CSV_FIELDS)))
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, lineterminator="\n")
        if new:
            w.writeheader()
        for r in rows:
            w.writerow({k: ("%.6g" % v if isinstance(v, float) else v) for k, v in r.items()})


# ---- commands ----------------------------------------------------------------------------------

def machine():
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def provenance():
    return {"machine": machine(), "command": " ".join([sys.executable] + sys.argv),
            "commit": os.environ.get("DP_GIT_COMMIT", "unknown")}


def write_json(path, obj):
    text = json.dumps(obj, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w") as f:
            f.write(text)


def torch_infer(args):
    limit_threads(args.threads)
    import torch
    torch.set_num_threads(args.threads)
    model = build_model(args.arch, args.classes, args.seed, args.weights)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    model = prepare(model, args.mode, x)
    with torch.inference_mode():
        t_end = time.perf_counter() + args.warmup
        while True:  # at least one warm-up call (jit specialises on the first runs)
            model(x)
            if time.perf_counter() >= t_end:
                break
        iters = 0
        t0, cpu0 = time.perf_counter(), time.process_time()
        t_end = t0 + args.seconds
        while True:
            model(x)
            iters += 1
            now = time.perf_counter()
            if now >= t_end:
                break
        elapsed, cpu = now - t0, time.process_time() - cpu0
    # cpu_ms_per_batch as dp-bench's and ORT's: on shared cores CPU time is the steadier figure
    res = dict(provenance(), engine="pytorch", torch=torch.__version__, arch=args.arch, batch=args.batch,
               threads=args.threads, mode=args.mode, classes=args.classes, size=args.size,
               iterations=iters, seconds=elapsed, img_per_s=iters * args.batch / elapsed,
               ms_per_batch=1000.0 * elapsed / iters, cpu_ms_per_batch=1000.0 * cpu / iters)
    print("pytorch %s %s batch %d threads %d: %.1f img/s (%.3f ms/batch, %d iterations)" % (
        args.arch, args.mode, args.batch, args.threads, res["img_per_s"], res["ms_per_batch"], iters))
    if args.json:
        write_json(args.json, res)
    return 0


def pool_from(args, arch, workers):
    return Pool(arch, workers, args.threads, args.classes, args.data, args.size, args.max_batch,
                args.queue_capacity, weights=getattr(args, "weights", None), engine=args.engine,
                engine_opts=args.engine.options(args))


def cmd_stream(args):
    with pool_from(args, args.arch, args.workers) as pool:
        s, rec = pool.run(args.strategy, args.rate, args.samples, args.slowdown, args.max_delay_us,
                          args.overflow)
    s.update(provenance())
    print_summary(s)
    if args.json:
        write_json(args.json, s)
    if args.jsonl:
        write_jsonl(args.jsonl, s, rec, rec["t0"])
    if args.append_csv:
        append_csv(args.append_csv, [csv_row(s)])
    return 0


def search_capacity(pool, strategy, slo_ms, probe_s, min_samples, start_rate, min_rate, slowdown=None,
                    tolerance=0.02, max_probes=16, log=sys.stderr):
    """Highest constant rate with p99 <= slo_ms and nothing dropped, searched as `dp-bench capacity`
    does: double from start_rate until a probe fails, then bisect until the bracket is within
    `tolerance` (halving instead when even start_rate fails, down to min_rate: 0 if that fails)."""
    probes = []

    def ok(rate):
        n = max(min_samples, int(rate * probe_s))
        s, _ = pool.run(strategy, rate, n, slowdown)
        good = s["latency_ms"]["p99"] <= slo_ms and s["dropped"] == 0 and s["failed"] == 0
        probes.append({"rate": rate, "samples": n, "p99_ms": s["latency_ms"]["p99"],
                       "dropped": s["dropped"], "failed": s["failed"], "throughput": s["throughput"],
                       "efficiency_pct": s["efficiency_pct"], "ok": good})
        print("  capacity probe %.1f/s: p99 %.2f ms -> %s" % (rate, s["latency_ms"]["p99"],
                                                             "ok" if good else "over"), file=log)
        return good

    lo, hi = 0.0, None
    rate = start_rate
    while len(probes) < max_probes and rate >= min_rate:
        if ok(rate):
            lo = rate
        else:
            hi = rate
        if hi is None:
            rate = lo * 2
        elif lo == 0.0:
            rate = hi / 2
        elif hi / lo > 1 + tolerance:
            rate = (lo + hi) / 2
        else:
            break
    return lo, probes


def min_samples_for(q, confidence):
    """The fewest samples for which the q-quantile's order-statistic interval at `confidence` has
    an upper bound: q^n <= (1 - confidence) / 2 (dataparallel/stats.h, dp_min_samples_for)."""
    return max(1, math.ceil(math.log((1 - confidence) / 2) / math.log(q) - 1e-9))


def cmd_capacity(args):
    if not 0.5 <= args.confidence < 1:
        raise SystemExit("capacity: --confidence must be in [0.5, 1)")
    if args.min_samples is None:
        args.min_samples = min_samples_for(0.99, args.confidence)
    with pool_from(args, args.arch, args.workers) as pool:
        rate, probes = search_capacity(pool, args.strategy, args.slo_p99_ms, args.seconds,
                                       args.min_samples, args.start_rate, args.min_rate or args.start_rate / 16,
                                       args.slowdown)
    # The fields of `dp-bench capacity --json`.
    res = dict(provenance(), engine=args.engine.name, capacity=rate, slo_p99_ms=args.slo_p99_ms, arch=args.arch,
               strategy=args.strategy, workers=args.workers, threads_per_worker=args.threads,
               max_batch=args.max_batch, max_delay_us=0, probe_seconds=args.seconds, min_samples=args.min_samples,
               confidence=args.confidence, probes=probes)
    print("%s %s %s W=%d: capacity %.1f samples/s at p99 <= %g ms" % (
        args.engine.name, args.arch, args.strategy, args.workers, rate, args.slo_p99_ms))
    if args.json:
        write_json(args.json, res)
    return 0


def cmd_matrix(args):
    cells = [(a, w, s, r) for a in args.arch for w in args.workers for s in args.strategies for r in args.rates]
    done, t_start = 0, time.monotonic()
    results = []
    for arch in args.arch:
        for workers in args.workers:
            with pool_from(args, arch, workers) as pool:
                for strategy in args.strategies:
                    for rate in args.rates:
                        n = args.samples or int(rate * 10)
                        s, _ = pool.run(strategy, rate, n)
                        results.append(s)
                        done += 1
                        elapsed = time.monotonic() - t_start
                        eta = elapsed / done * (len(cells) - done)
                        print("[%s matrix %d/%d, %.0f s, ETA %.0f s] " % (
                            args.engine.name, done, len(cells), elapsed, eta), end="", file=sys.stderr)
                        print_summary(s)
                        if args.append_csv:
                            append_csv(args.append_csv, [csv_row(s)])
    if args.json:
        write_json(args.json, dict(provenance(), engine=args.engine.name, cells=results))
    return 0


# ---- command line ------------------------------------------------------------------------------

def positive_int(s):
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1, got %s" % s)
    return v


def nonneg_float(s):
    v = float(s)
    if not v >= 0:
        raise argparse.ArgumentTypeError("must be >= 0, got %s" % s)
    return v


def positive_float(s):
    v = float(s)
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError("must be > 0 and finite, got %s" % s)
    return v


def list_of(kind, choices=None):
    def parse(s):
        items = [kind(x) for x in s.split(",") if x]
        if not items:
            raise argparse.ArgumentTypeError("empty list")
        for x in items:
            if choices and x not in choices:
                raise argparse.ArgumentTypeError("%r is not one of %s" % (x, ",".join(choices)))
        return items
    return parse


def slowdowns(s):
    v = list_of(float)(s)
    if any(not f >= 1 for f in v):
        raise argparse.ArgumentTypeError("slowdown factors must be >= 1, got %s" % s)
    return v


def parser(engine=TorchEngine, description=__doc__):
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(engine=engine)
    sub = p.add_subparsers(dest="cmd", required=True)

    def model_opts(sp, cmd, many=False):
        if many:
            sp.add_argument("--arch", type=list_of(str, ARCHS), default=["resnet18", "mobilenet_v2"])
        else:
            sp.add_argument("--arch", choices=MODEL_ARCHS if cmd in ("infer", "export") else ARCHS, required=True)
            sp.add_argument("--weights", help="state_dict() as .npz (default: seeded random weights)")
        sp.add_argument("--threads", type=positive_int, default=1, help="intra-op threads per worker")
        engine.add_options(sp, cmd)
        sp.add_argument("--classes", type=positive_int, default=10)
        sp.add_argument("--size", type=int, default=32, help="input height and width (>= 32)")

    def stream_opts(sp):
        sp.add_argument("--data", default="synthetic", help="cifar10:FILE, fashion-mnist:PATH or synthetic")
        sp.add_argument("--max-batch", type=positive_int, default=1)
        sp.add_argument("--queue-capacity", type=positive_int, default=1024)
        sp.add_argument("--json", help="write the result as JSON here ('-' = stdout)")

    pi = sub.add_parser("infer", help="time back-to-back batches (img/s)")
    model_opts(pi, "infer")
    pi.add_argument("--batch", type=positive_int, default=1)
    pi.add_argument("--seconds", type=nonneg_float, default=5.0)
    pi.add_argument("--warmup", type=nonneg_float, default=1.0)
    pi.add_argument("--seed", type=int, default=0)
    pi.add_argument("--json", help="write the result as JSON here ('-' = stdout)")
    pi.set_defaults(func=lambda args: args.engine.infer_command(args))

    def one_cell_opts(sp):
        sp.add_argument("--strategy", choices=STRATEGIES, default="uniform")
        sp.add_argument("--workers", type=positive_int, default=1)
        sp.add_argument("--slowdown", type=slowdowns, default=None, help="per-worker factors f0,f1,...")

    ps = sub.add_parser("stream", help="serve a rate-limited stream over worker processes")
    model_opts(ps, "stream")
    stream_opts(ps)
    one_cell_opts(ps)
    ps.add_argument("--rate", type=positive_float, default=500.0)
    ps.add_argument("--samples", type=positive_int, default=None, help="default: rate x 10 s")
    ps.add_argument("--max-delay-us", type=nonneg_float, default=0.0)
    ps.add_argument("--overflow", choices=OVERFLOWS, default="block")
    ps.add_argument("--jsonl", help="per-sample records + summary as JSON Lines")
    ps.add_argument("--append-csv", help="append the summary row to this results.csv")
    ps.set_defaults(func=cmd_stream)

    pc = sub.add_parser("capacity", help="highest rate with p99 <= SLO and nothing dropped")
    model_opts(pc, "capacity")
    stream_opts(pc)
    one_cell_opts(pc)
    pc.add_argument("--slo-p99-ms", type=positive_float, default=10.0)
    pc.add_argument("--start-rate", type=positive_float, default=100.0)
    pc.add_argument("--seconds", type=positive_float, default=2.0, help="length of each probe")
    pc.add_argument("--confidence", type=float, default=0.95,
                    help="each probe holds the samples a bounded p99 needs at this confidence")
    pc.add_argument("--min-samples", type=positive_int, default=None,
                    help="samples per probe at least (default: what --confidence needs, 368 at 0.95)")
    pc.add_argument("--min-rate", type=positive_float, default=None,
                    help="give up (capacity 0) below this rate (default start-rate / 16)")
    pc.set_defaults(func=cmd_capacity)

    pm = sub.add_parser("matrix", help="stream over archs x strategies x workers x rates")
    model_opts(pm, "matrix", many=True)
    stream_opts(pm)
    pm.add_argument("--strategies", type=list_of(str, STRATEGIES), default=list(STRATEGIES))
    pm.add_argument("--workers", type=list_of(positive_int), default=[1, 2, 4])
    pm.add_argument("--rates", type=list_of(positive_float), default=[500.0])
    pm.add_argument("--samples", type=positive_int, default=None, help="per cell; default rate x 10 s")
    pm.add_argument("--append-csv", help="append one row per cell to this results.csv")
    pm.set_defaults(func=cmd_matrix)
    engine.add_commands(sub, model_opts)
    return p


def main(argv=None, engine=TorchEngine, description=__doc__):
    p = parser(engine, description)
    args = p.parse_args(argv)
    if getattr(args, "size", 32) < 32:
        p.error("--size must be >= 32")
    if args.cmd == "stream" and args.samples is None:
        args.samples = int(args.rate * 10)
    if args.cmd in ("stream", "capacity") and args.slowdown and len(args.slowdown) > args.workers:
        p.error("--slowdown has %d factors for %d workers" % (len(args.slowdown), args.workers))
    try:
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as e:
        print("%s %s: %s" % (p.prog, args.cmd, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
