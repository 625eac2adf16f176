#!/usr/bin/python3
"""A worker slowed mid-run, for every strategy (issue 19, section 4): the seeds' heterogeneous
case (resnet18, 2 workers, worker 1 four times slower) made dynamic. Each strategy serves the same
constant-rate stream; at --at seconds worker 1 becomes --factor times slower
(dp-bench stream --inject at=...,worker=1,slowdown=F). Per strategy: the event's recovery time
(back within 5 % of the rate for good), the p99 of the samples completed after it, when the
straggler rule flagged worker 1, weighted's weight for it, and the samples each worker completed
after the event (from the JSONL records). The strategies run one after the other in one
invocation, in the order given, on the same machine state.

    /usr/bin/python3 benchmarks/faults.py --bench build/bin/dp-bench --out results/faults
"""
import argparse
import json
import os
import platform
import subprocess
import sys


def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return "%s, %d vCPU, load %.1f %.1f %.1f" % (model or platform.processor(), os.cpu_count() or 0, *load)


def run(args, strategy):
    base = os.path.join(args.out, strategy)
    cmd = [args.bench, "stream", "--arch", args.arch, "--strategy", strategy, "--workers", "2", "--rate",
           str(args.rate), "--samples", str(args.samples), "--interval-ms", str(args.interval_ms), "--inject",
           "at=%gs,worker=1,slowdown=%g" % (args.at, args.factor), "--json", base + ".json", "--jsonl",
           base + ".jsonl", "--quiet"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    s = json.load(open(base + ".json"))
    after = [0, 0]
    for line in open(base + ".jsonl"):
        rec = json.loads(line)
        if rec.get("type") == "sample" and rec.get("top1", -1) >= 0 and rec["end_s"] >= args.at:
            after[rec["worker"]] += 1
    return cmd, s, after


def fmt(v, unit=""):
    if v is None:
        return "—"
    if v == "never":
        return "never"
    return "%.2f%s" % (v, unit)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", default="build/bin/dp-bench", help="dp-bench to run")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--strategies", default="uniform,sharded,dynamic,weighted")
    ap.add_argument("--rate", type=float, default=200, help="samples/s offered")
    ap.add_argument("--samples", type=int, default=1600)
    ap.add_argument("--at", type=float, default=4.0, help="seconds into the run when worker 1 slows")
    ap.add_argument("--factor", type=float, default=4.0, help="worker 1's slowdown")
    ap.add_argument("--interval-ms", type=int, default=250, help="interval rows (recovery time's resolution)")
    ap.add_argument("--out", default="results/faults", help="directory for each run's JSON and JSONL")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print("machine: %s; commit %s" % (machine(), commit or "?"))
    rows = []
    for strategy in args.strategies.split(","):
        cmd, s, after = run(args, strategy)
        ev = s["events"][0]
        rows.append((strategy, s, ev, after))
        print("command: " + " ".join(cmd), file=sys.stderr)
    print("\n| strategy | completed / offered | p99 whole run ms | p99 after ms | recovery s | straggler flagged at s "
          "| weight of worker 1 before → after (moved at s) | samples after, worker 0 / 1 |")
    print("|---|---|---|---|---|---|---|---|")
    for strategy, s, ev, after in rows:
        weight = "—" if ev["weight_before"] is None else "%.2f → %.2f (%s)" % (
            ev["weight_before"], ev["weight_after"], fmt(ev["weights_moved_s"]))
        print("| %s | %d / %d | %.1f | %s | %s | %s | %s | %d / %d |" % (
            strategy, s["completed"], s["offered"], s["latency_ms"]["p99"], fmt(ev["p99_after_ms"]),
            fmt(ev["recovery_s"]), fmt(ev["straggler_s"]), weight, after[0], after[1]))
    print("\nload after: %s" % machine())


if __name__ == "__main__":
    main()
