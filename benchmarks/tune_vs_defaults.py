#!/usr/bin/python3
"""The tuned configuration against the defaults, per arch, in one run (issue 19, docs/performance.md).

For each arch: `dp-bench tune --budget-s B` finds the best configuration for p99 <= SLO; then
`dp-bench capacity` with the defaults and with the tuned configuration alternate --rounds times
(defaults, tuned, defaults, tuned, ...) so both see the same machine load. All three probe alike
(--probe-seconds, --start-rate), so tune's figure and capacity's follow one rule (docs/tune.md
"What a configuration sustains"). Writes OUT/tune/<arch>.json
(the tune results, which benchmarks/plot.py turns into Pareto plots), OUT/capacity_*.json and
OUT/tune_vs_defaults.md (the table, with the machine, load and commands).

Usage: tune_vs_defaults.py [--archs resnet18,mobilenet_v2] [--budget-s 180] [--slo-p99-ms 10]
                           [--precisions fp32,bf16] [--rounds 2] [--probe-seconds 1] [--start-rate 100]
                           [--out results/tune] [--bench build/bin/dp-bench]
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time


def run(cmd, log):
    print("+ " + " ".join(map(shlex.quote, cmd)), file=sys.stderr, flush=True)
    with open(log, "w") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    return p.returncode


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", default="resnet18,mobilenet_v2")
    p.add_argument("--budget-s", type=float, default=180)
    p.add_argument("--slo-p99-ms", type=float, default=10)
    p.add_argument("--precisions", default="fp32", help="searched by tune (the defaults run fp32)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--probe-seconds", type=float, default=1, help="each probe's length at least (tune and capacity)")
    p.add_argument("--start-rate", type=float, default=100, help="first probe of each configuration (both)")
    p.add_argument("--out", default="results/tune")
    p.add_argument("--bench", default=os.path.join(here, "..", "build", "bin", "dp-bench"))
    a = p.parse_args(argv)
    os.makedirs(os.path.join(a.out, "tune"), exist_ok=True)
    t0 = time.monotonic()
    slo = "%g" % a.slo_p99_ms
    probing = ["--seconds", "%g" % a.probe_seconds, "--start-rate", "%g" % a.start_rate]
    rows, cmds = [], []
    for arch in a.archs.split(","):
        tj = os.path.join(a.out, "tune", arch + ".json")
        cmd = [a.bench, "tune", "--arch", arch, "--slo-p99-ms", slo, "--budget-s", "%g" % a.budget_s,
               "--precisions", a.precisions, "--json", tj] + probing
        cmds.append(cmd)
        load_before = load()
        if run(cmd, os.path.join(a.out, "tune_%s.log" % arch)) not in (0, 1):
            print("tune_vs_defaults.py: tune of %s failed (see the log)" % arch, file=sys.stderr)
            return 1
        with open(tj) as f:
            t = json.load(f)
        b = t["best"]
        if b is None:
            rows.append((arch, t, None, [], [], load_before, load()))
            continue
        tuned = ["--workers", str(b["workers"]), "--threads", str(b["threads_per_worker"]), "--max-batch",
                 str(b["max_batch"]), "--max-delay-us", str(b["max_delay_us"]), "--strategy", b["strategy"],
                 "--precision", b["precision"]]
        caps = {"defaults": [], "tuned": []}
        for r in range(a.rounds):
            for name, extra in (("defaults", []), ("tuned", tuned)):
                cj = os.path.join(a.out, "capacity_%s_%s_%d.json" % (arch, name, r))
                cmd = [a.bench, "capacity", "--arch", arch, "--slo-p99-ms", slo, "--quiet", "--json", cj] + probing + extra
                if r == 0:
                    cmds.append(cmd)
                if run(cmd, cj[:-5] + ".log") != 0:
                    print("tune_vs_defaults.py: %s failed" % " ".join(cmd), file=sys.stderr)
                    return 1
                with open(cj) as f:
                    caps[name].append(json.load(f)["capacity"])
        rows.append((arch, t, b, caps["defaults"], caps["tuned"], load_before, load()))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    md = ["# Tuned configuration vs defaults (benchmarks/tune_vs_defaults.py)", "",
          "CPU: %s, %d online CPUs. SLO p99 <= %s ms, tune budget %g s per arch over precisions %s, capacity "
          "runs alternating defaults/tuned %d times; probes of %g s at least from %g/s. Wall time of the whole "
          "run: %.0f s." % (cpu, os.cpu_count(), slo, a.budget_s, a.precisions, a.rounds, a.probe_seconds,
                           a.start_rate, time.monotonic() - t0), "",
          "| arch | tuned configuration | tune: capacity, probes, s used | capacity defaults (samples/s) | "
          "capacity tuned (samples/s) | tuned / defaults (median) | load 1 min before, after |",
          "|---|---|---|---|---|---:|---|"]
    for arch, t, b, d, tu, l0, l1 in rows:
        if b is None:
            md.append("| %s | none met the SLO | 0, %d, %.0f | | | | %s, %s |" % (arch, len(t["probes"]),
                                                                            t["seconds_used"], l0, l1))
            continue
        cfg = "%d workers x %d threads, max batch %d, max delay %d us, %s, %s" % (
            b["workers"], b["threads_per_worker"], b["max_batch"], b["max_delay_us"], b["strategy"], b["precision"])
        ratio = statistics.median(tu) / statistics.median(d) if statistics.median(d) > 0 else float("inf")
        md.append("| %s | %s | %.1f%s, %d, %.0f | %s | %s | %.2f | %s, %s |" % (
            arch, cfg, b["capacity"], "" if b["confirmed"] else " (unconfirmed)", len(t["probes"]), t["seconds_used"],
            ", ".join("%.1f" % x for x in d), ", ".join("%.1f" % x for x in tu), ratio, l0, l1))
    md += ["", "Commands:", "", "```"] + [" ".join(map(shlex.quote, c)) for c in cmds] + ["```"]
    with open(os.path.join(a.out, "tune_vs_defaults.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
