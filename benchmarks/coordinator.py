#!/usr/bin/python3
"""The runtime's own cost and the MPI coordinator's ceiling (issue 21; docs/performance.md,
"The runtime's cost and the coordinator's ceiling").

With --arch null (no model work) it measures, by running build/tests/runtime_cost (under mpirun for
the MPI backend):
  * CPU per sample on the coordinator (rank 0, or the whole threads-backend process) and on each
    worker rank, for threads and MPI, pull and push mode, micro-batch 1 and 8, at an unlimited
    rate (so the figure is the cost at saturation) -- CPU time is clock_gettime(
    CLOCK_PROCESS_CPUTIME_ID) around the run call on each process (user + system, all threads);
  * the highest routed rate rank 0 sustains with 1, 2, 4, 8, 16 worker ranks (oversubscribed);
  * bytes on the wire per sample (the summary's wire_bytes_out / wire_bytes_in: MPI message bytes
    with headers, without MPI's or TCP's own framing);
then times resnet18 at 32x32 and 224x224 with `dp-bench infer` and projects how many worker nodes
one coordinator can serve at 500, 5 000 and 50 000 samples/s, printing the calculation.

Configurations are interleaved (each repeat runs every one once) and medians reported, because the
machine is shared: the load average is printed next to every figure.

  /usr/bin/python3 benchmarks/coordinator.py [--build build] [--repeats 3] [--json out.json]
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none"]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMP_WAIT_POLICY="PASSIVE")


def load():
    return float(open("/proc/loadavg").read().split()[0])


def machine(build):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    ver = subprocess.run([os.path.join(build, "bin", "dp-bench"), "--version"], capture_output=True,
                         text=True).stdout.strip().replace("\n", "; ")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "ncpu": os.cpu_count(), "dp_bench": ver, "commit": commit}


def run_cost(build, backend, mode, batch, ranks, workers, samples, rate=0, size=32):
    """One runtime_cost run: {'rank0_cpu_ns', 'worker_cpu_ns' [...], 'completed', ...}."""
    cmd = [os.path.join(build, "tests", "runtime_cost"), "--backend", backend, "--mode", mode, "--batch", str(batch),
           "--workers", str(workers), "--samples", str(samples), "--rate", str(rate), "--size", str(size)]
    if backend == "mpi":
        cmd = MPIRUN + ["-np", str(ranks + 1)] + cmd
    l0 = load()
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    out = {"load": l0, "worker_cpu_ns": []}
    for line in p.stdout.splitlines():
        f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        if line.startswith("cost "):
            if int(f["rank"]) == 0:
                out["rank0_cpu_ns"], out["wall_ns"] = int(f["cpu_ns"]), int(f["wall_ns"])
            else:
                out["worker_cpu_ns"].append(int(f["cpu_ns"]))
        elif line.startswith("run "):
            for k in ("completed", "failed", "wire_out", "wire_in", "workers"):
                out[k] = int(f[k])
            for k in ("throughput", "p50_ms", "p99_ms", "cpu_pct"):
                out[k] = float(f[k])
    if out.get("completed") != samples or out.get("failed"):
        raise RuntimeError("%s: %s samples completed of %d" % (" ".join(cmd), out.get("completed"), samples))
    return out


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def infer_ms(build, size, batch, seconds):
    out = "/tmp/coordinator-infer-%d.json" % os.getpid()
    p = subprocess.run([os.path.join(build, "bin", "dp-bench"), "infer", "--arch", "resnet18", "--size", str(size),
                        "--batch", str(batch), "--seconds", str(seconds), "--json", out],
                       capture_output=True, text=True, env=ENV, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    ms = 1000.0 / json.load(open(out))["img_per_s"]
    os.unlink(out)
    return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ranks", default="1,2,4,8,16", help="worker-rank counts of the ceiling")
    ap.add_argument("--samples", type=int, default=20000, help="samples per run at micro-batch 1 (x4 at 8)")
    ap.add_argument("--infer-seconds", type=float, default=3)
    ap.add_argument("--cores-per-node", type=int, default=32, help="cores of a worker node in the projection")
    ap.add_argument("--link-gbit", type=float, default=10, help="rank 0's link in the projection")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: cost,ceiling,infer")
    ap.add_argument("--json", help="write every measurement here")
    a = ap.parse_args()
    skip = set(a.skip.split(",")) - {""}
    res = {"machine": machine(a.build), "start_load": load(), "cost": {}, "ceiling": {}, "infer_ms": {}}
    print("# %s, %d CPUs; %s; commit %s; load %.1f at start; %s" %
          (res["machine"]["cpu"], res["machine"]["ncpu"], res["machine"]["dp_bench"], res["machine"]["commit"],
           res["start_load"], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))

    # 1. CPU per sample: 2 workers (threads) or 2 worker ranks, null model, unlimited rate.
    cost_cfgs = [(b, m, n, 32) for b in ("threads", "mpi") for m in ("pull", "push") for n in (1, 8)]
    cost_cfgs += [(b, "pull", 8, 224) for b in ("threads", "mpi")]
    if "cost" not in skip:
        runs = {c: [] for c in cost_cfgs}
        for _ in range(a.repeats):
            for c in cost_cfgs:
                b, m, n, size = c
                samples = a.samples * (4 if n > 1 else 1) // (20 if size > 32 else 1)
                runs[c].append(run_cost(a.build, b, m, n, 2, 2, samples, size=size))
        print("\n## CPU per sample, --arch null, 2 workers, unlimited rate (medians of %d)" % a.repeats)
        print("| backend | mode | batch | input | coordinator ns/sample | per worker rank ns/sample | samples/s | "
              "wire out+in B/sample | load |")
        print("|---|---|---|---|---|---|---|---|---|")
        for c, rs in runs.items():
            b, m, n, size = c
            co = med([r["rank0_cpu_ns"] / r["completed"] for r in rs])
            # A worker rank served about completed / ranks samples (uniform strategy).
            wk = med([statistics.mean(r["worker_cpu_ns"]) * len(r["worker_cpu_ns"]) / r["completed"]
                      for r in rs]) if b == "mpi" else None
            wire = med([(r["wire_out"] + r["wire_in"]) / r["completed"] for r in rs])
            row = {"coordinator_ns": co, "worker_ns": wk, "throughput": med([r["throughput"] for r in rs]),
                   "wire_per_sample": wire, "load": [r["load"] for r in rs], "runs": rs}
            res["cost"]["%s/%s/%d/%d" % c] = row
            print("| %s | %s | %d | %dx%d | %.0f%s | %s | %.0f | %.0f | %.1f-%.1f |" %
                  (b, m, n, size, size, co, " (whole process)" if b == "threads" else "", "%.0f" % wk if wk else "-",
                   row["throughput"], wire, min(row["load"]), max(row["load"])))

    # 2. Rank 0's ceiling: MPI, null workers, R worker ranks, unlimited rate.
    ranks = [int(x) for x in a.ranks.split(",")]
    if "ceiling" not in skip:
        cfgs = [(n, r) for n in (1, 8) for r in ranks]
        runs = {c: [] for c in cfgs}
        for _ in range(a.repeats):
            for n, r in cfgs:
                runs[(n, r)].append(run_cost(a.build, "mpi", "pull", n, r, r, a.samples * (4 if n > 1 else 1)))
        print("\n## Rank 0's ceiling: --arch null, MPI, pull, unlimited rate, one worker per rank (medians of %d)"
              % a.repeats)
        print("| batch | worker ranks | routed samples/s | rank 0 CPU % | rank 0 CPU ns/sample | p50 ms | load |")
        print("|---|---|---|---|---|---|---|")
        for (n, r), rs in runs.items():
            row = {"throughput": med([x["throughput"] for x in rs]), "cpu_pct": med([x["cpu_pct"] for x in rs]),
                   "rank0_ns": med([x["rank0_cpu_ns"] / x["completed"] for x in rs]),
                   "p50_ms": med([x["p50_ms"] for x in rs]), "load": [x["load"] for x in rs], "runs": rs}
            res["ceiling"]["%d/%d" % (n, r)] = row
            print("| %d | %d | %.0f | %.0f | %.0f | %.2f | %.1f-%.1f |" %
                  (n, r, row["throughput"], row["cpu_pct"], row["rank0_ns"], row["p50_ms"], min(row["load"]),
                   max(row["load"])))

    # 3. resnet18's service time per sample on one core, and the projection.
    if "infer" not in skip:
        for size in (32, 224):
            for n in (1, 8):
                l0 = load()
                res["infer_ms"]["%d/%d" % (size, n)] = {"ms": infer_ms(a.build, size, n, a.infer_seconds), "load": l0}
        print("\n## resnet18 per sample, 1 thread (dp-bench infer)")
        for k, v in res["infer_ms"].items():
            print("- %sx%s batch %s: %.3f ms/sample (load %.1f)" % (k.split("/")[0], k.split("/")[0], k.split("/")[1],
                                                                    v["ms"], v["load"]))
        project(res, a)
    if a.json:
        json.dump(res, open(a.json, "w"), indent=1)


def project(res, a):
    """Worker nodes one coordinator serves. A node of `cores` 1-thread worker ranks serves
    cores / service time samples/s; rank 0 routes at most min(its link / bytes per sample, one
    core / its CPU per sample) (both measured at batch 8); nodes needed = rate x service / cores."""
    ceil8 = {k: v for k, v in res["ceiling"].items() if k.startswith("8/")}
    link = a.link_gbit * 1e9 / 8
    print("\n## Projection (inputs above; %d cores per worker node, one 1-thread worker rank per core, rank 0's link "
          "%.0f Gbit/s, batch 8)" % (a.cores_per_node, a.link_gbit))
    if ceil8:
        best = max(ceil8.values(), key=lambda v: v["throughput"])
        print("- highest routed rate measured (null workers, 2 vCPUs oversubscribed and shared: a lower bound): %.0f/s"
              % best["throughput"])
    for size in (32, 224):
        k = 10 if size == 32 else 1000
        ms = res["infer_ms"]["%d/8" % size]["ms"]
        co = res["cost"].get("mpi/pull/8/%d" % size, {}).get("coordinator_ns")
        wire = res["cost"].get("mpi/pull/8/%d" % size, {}).get("wire_per_sample") or \
            (3 * size * size * 4 + 2 * 256 / 8 + 4 * k)
        limits = [("link", link / wire)] + ([("rank 0 CPU", 1e9 / co)] if co else [])
        name, lim = min(limits, key=lambda x: x[1])
        node_rate = a.cores_per_node / (ms / 1000)
        print("- resnet18 %dx%d: service %.3f ms/sample/core -> a node serves %.0f/s; rank 0: %s -> it routes at "
              "most %.0f/s (%s-bound) = %.1f nodes" %
              (size, size, ms, node_rate, ", ".join("%s %.0f/s" % x for x in limits), lim, name, lim / node_rate))
        for rate in (500, 5000, 50000):
            cores = rate * ms / 1000
            nodes = math.ceil(cores / a.cores_per_node)
            coord = math.ceil(rate / lim)
            print("  - %6d/s: %d x %.3f ms = %.1f cores = %d node(s); %s" %
                  (rate, rate, ms, cores, nodes, "one coordinator" if coord <= 1 else
                   "%d coordinators (%d/s is past one's %s limit of %.0f/s), each with its share of the source"
                   % (coord, rate, name, lim)))


if __name__ == "__main__":
    sys.exit(main())
