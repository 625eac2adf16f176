#!/usr/bin/env python3
"""What the Python layer costs on top of the C library (figures in docs/python.md).

    PYTHONPATH=build/python OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bindings/python/tools/bench_overhead.py

Every comparison is interleaved over several rounds and reported as medians, because the machine
is shared: (a) Model.infer vs the bare SWIG call on the same execution context, and the Python-side
checks alone, (b) run_batch with and without a per-sample Python on_result callback (the GIL
trampoline + result dict), (c) two threads calling infer at once vs one (the GIL is released).
"""
import argparse
import os
import statistics
import threading
import time

import numpy as np

import dataparallel as dp
from dataparallel._model import as_float32_batch


def timed(fn, reps):
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="mobilenet_v2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--callback-only", type=int, metavar="N",
                    help="only run_batch N samples on 1 worker with a no-op on_result (to profile with perf)")
    args = ap.parse_args()
    if args.callback_only:
        m = dp.Model(args.arch, threads=1)
        data = np.random.default_rng(1).random((args.callback_only, 3, 32, 32), dtype=np.float32)
        s = dp.Runner(m, workers=1).run_batch(data, on_result=lambda r: None)
        print(f"{s['completed']} samples with a Python on_result in {s['elapsed_s']:.2f} s")
        return

    load0 = os.getloadavg()[0]
    m = dp.Model(args.arch, threads=1)
    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    out = np.empty((1, m.num_classes), np.float32)
    ptrs = (m._ptr(), m._exec())
    data = np.random.default_rng(1).random((args.samples, 3, 32, 32), dtype=np.float32)
    runner = dp.Runner(m, workers=2, partitioner="dynamic")
    for _ in range(20):
        m.infer(x)

    def checks():
        y = as_float32_batch(x, channels=3, min_size=32)
        np.empty((y.shape[0], m.num_classes), np.float32)

    res = {k: [] for k in ("infer_us", "swig_us", "checks_us", "batch_s", "batch_cb_s", "batch_cpu_s", "batch_cb_cpu_s",
                           "one_thread_ips", "two_threads_ips")}
    for _ in range(args.rounds):
        res["infer_us"].append(timed(lambda: m.infer(x), 300) * 1e6)
        res["swig_us"].append(timed(lambda: dp.capi.pydp_infer(*ptrs, x, out), 300) * 1e6)
        res["checks_us"].append(timed(checks, 3000) * 1e6)
        for key, kw in (("batch", {}), ("batch_cb", {"on_result": lambda r: None})):
            cpu = time.process_time()
            res[key + "_s"].append(runner.run_batch(data, **kw)["elapsed_s"])
            res[key + "_cpu_s"].append(time.process_time() - cpu)
        n = 200
        res["one_thread_ips"].append(n / (timed(lambda: m.infer(x), n) * n))
        models = [dp.Model(args.arch, threads=1) for _ in range(2)]
        for mm in models:
            mm.infer(x)
        t = time.perf_counter()
        threads = [threading.Thread(target=lambda mm=mm: [mm.infer(x) for _ in range(n)]) for mm in models]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        res["two_threads_ips"].append(2 * n / (time.perf_counter() - t))

    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"arch {args.arch}, {args.rounds} interleaved rounds, load average {load0:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"(a) infer batch 1: Model.infer {med['infer_us']:.1f} us, bare SWIG call {med['swig_us']:.1f} us, "
          f"Python-side checks alone {med['checks_us']:.2f} us/call")
    print(f"(b) run_batch {args.samples} x 2 workers: {med['batch_s'] * 1e3:.1f} ms plain, "
          f"{med['batch_cb_s'] * 1e3:.1f} ms with on_result: "
          f"{(med['batch_cb_s'] - med['batch_s']) / args.samples * 1e6:.1f} us/sample wall; process CPU "
          f"{med['batch_cpu_s']:.2f} s vs {med['batch_cb_cpu_s']:.2f} s: "
          f"{(med['batch_cb_cpu_s'] - med['batch_cpu_s']) / args.samples * 1e6:.1f} us/sample of CPU for the callback")
    print(f"(c) infer batch 1: one thread {med['one_thread_ips']:.0f} img/s, two threads (separate models) "
          f"{med['two_threads_ips']:.0f} img/s total ({med['two_threads_ips'] / med['one_thread_ips']:.2f}x)")
    for k, v in res.items():
        print(f"   {k}: " + " ".join(f"{a:.4g}" for a in v))


if __name__ == "__main__":
    main()
