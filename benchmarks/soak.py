#!/usr/bin/python3
"""Soak benchmark (not in CI): does a long run at a sustainable load stay healthy?

Measures the capacity (dp-bench capacity: the highest constant rate meeting the p99 SLO), then runs
dp-bench stream for --minutes at --load x that rate with every sink the CLI has on (console, CSV,
JSON Lines, Prometheus) while this script scrapes the Prometheus endpoint every second and reads
the process's resident set from /proc. Writes DIR/timeline.csv (one row per second: RSS, scrape
time, counters, and the CSV sink's interval p99 and drops) and DIR/summary.json, and prints a
per-minute table with the verdict on RSS after warm-up (the first minute): flat when its growth
from the second minute's median to the last minute's median is under --rss-tolerance-mb.

    /usr/bin/python3 benchmarks/soak.py [--minutes 10] [--load 0.8] [--capacity R] [--out DIR] ...

Exit status: 0 the run completed and every scrape answered, 1 otherwise, 2 bad usage.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10, help="length of the soak run (default 10)")
    p.add_argument("--load", type=float, default=0.8, help="fraction of the measured capacity (default 0.8)")
    p.add_argument("--capacity", type=float, help="samples/s to take as the capacity instead of measuring it")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--strategy", default="dynamic")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="threads per worker")
    p.add_argument("--slo-p99-ms", type=float, default=10, help="SLO of the capacity search (default 10)")
    p.add_argument("--overflow", default="drop-newest",
                   help="queue overflow policy (default drop-newest, so that overload shows as drops)")
    p.add_argument("--port", type=int, default=9464, help="Prometheus port on 127.0.0.1 (default 9464)")
    p.add_argument("--rss-tolerance-mb", type=float, default=8,
                   help="RSS growth after warm-up still called flat (default 8 MiB)")
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"), help="where dp-bench is")
    p.add_argument("--out", default="soak-results", help="output directory (default soak-results)")
    a = p.parse_args()
    if a.minutes <= 0 or not 0 < a.load <= 1 or a.workers < 1 or a.threads < 1:
        p.error("--minutes must be > 0, --load in (0, 1], --workers and --threads >= 1")
    return a


def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def metric(text, name):
    """Sum of every sample of a Prometheus metric (all label sets) in a scrape."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else None


class Scraper(threading.Thread):
    """Every second: scrape the endpoint and read the process's RSS. Failures before the endpoint's
    first answer (start-up) are not recorded."""

    def __init__(self, url, proc, t0):
        super().__init__(daemon=True)
        self.url, self.proc, self.t0 = url, proc, t0
        self.rows, self.stop, self.answered = [], threading.Event(), False

    def run(self):
        tick = time.monotonic()
        while not self.stop.is_set():
            row = {"t_s": round(time.monotonic() - self.t0, 3), "rss_mb": rss_mb(self.proc.pid)}
            start = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    text = r.read().decode()
                row["scrape_ms"] = round((time.monotonic() - start) * 1e3, 2)
                self.answered = True
                for key, name in (("completed", "dp_samples_completed_total"),
                                  ("dropped", "dp_samples_dropped_total"),
                                  ("prom_rss_mb", "dp_process_resident_memory_bytes")):
                    v = metric(text, name)
                    row[key] = None if v is None else (v / 2 ** 20 if key == "prom_rss_mb" else int(v))
            except OSError as e:
                if self.answered:
                    row["scrape_error"] = str(e)
            self.rows.append(row)
            tick += 1.0
            self.stop.wait(max(0.0, tick - time.monotonic()))


def machine():
    info = {"load_before": os.getloadavg()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("Model name", "CPU(s)"):
                info[k.strip()] = v.strip()
        flags = next((l.split(":", 1)[1].split() for l in out.splitlines() if l.startswith("Flags")), [])
        info["isa"] = " ".join(f for f in flags if f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile"))
    except OSError:
        pass
    return info


def main():
    a = parse_args()
    os.makedirs(a.out, exist_ok=True)
    bench = os.path.join(a.bin, "dp-bench")
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    common = ["--arch", a.arch, "--strategy", a.strategy, "--workers", str(a.workers), "--threads", str(a.threads),
              "--overflow", a.overflow]
    info = {"machine": machine(), "args": vars(a)}
    if a.capacity is None:
        cap_json = os.path.join(a.out, "capacity.json")
        subprocess.run([bench, "capacity", *common, "--slo-p99-ms", str(a.slo_p99_ms), "--json", cap_json, "--quiet"],
                       check=True, env=env)
        with open(cap_json) as f:
            a.capacity = json.load(f)["capacity"]
        if a.capacity <= 0:
            sys.exit("soak: the capacity search found no rate meeting p99 <= %g ms" % a.slo_p99_ms)
    rate = round(a.capacity * a.load, 1)
    samples = int(rate * a.minutes * 60)
    info.update(capacity=a.capacity, rate=rate, samples=samples)
    print("soak: capacity %.1f/s, running %.1f/s (%.0f %%) for %g min, %d samples, every sink on"
          % (a.capacity, rate, a.load * 100, a.minutes, samples), flush=True)
    out = {k: os.path.join(a.out, k) for k in ("stream.csv", "stream.jsonl", "summary-run.json", "console.log")}
    cmd = [bench, "stream", *common, "--rate", str(rate), "--samples", str(samples),
           "--csv", out["stream.csv"], "--jsonl", out["stream.jsonl"], "--json", out["summary-run.json"],
           "--prometheus", "127.0.0.1:%d" % a.port]
    info["command"] = " ".join(cmd)
    t0 = time.monotonic()
    with open(out["console.log"], "w") as console:
        proc = subprocess.Popen(cmd, stdout=console, stderr=subprocess.STDOUT, env=env)
        scraper = Scraper("http://127.0.0.1:%d/metrics" % a.port, proc, t0)
        scraper.start()
        rc = proc.wait()
        scraper.stop.set()
        scraper.join()
    info["exit"] = rc
    info["machine"]["load_after"] = os.getloadavg()

    # The CSV sink's interval rows give p99 and drops per second of the run.
    with open(out["stream.csv"]) as f:
        intervals = list(csv.DictReader(f))
    rows = scraper.rows
    keys = ["t_s", "rss_mb", "prom_rss_mb", "scrape_ms", "completed", "dropped", "scrape_error"]
    with open(os.path.join(a.out, "timeline.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)

    minutes = []
    for m in range(int(a.minutes + 0.999)):
        rss = [r["rss_mb"] for r in rows if r["rss_mb"] and m * 60 <= r["t_s"] < (m + 1) * 60]
        ivs = [r for r in intervals if m * 60 < float(r["t_s"]) <= (m + 1) * 60]
        p99 = [float(r["p99_ms"]) for r in ivs if float(r["p99_ms"]) > 0]
        minutes.append({"minute": m + 1, "rss_median_mb": round(statistics.median(rss), 1) if rss else None,
                        "rss_max_mb": round(max(rss), 1) if rss else None,
                        "p99_ms_median": round(statistics.median(p99), 3) if p99 else None,
                        "p99_ms_max": round(max(p99), 3) if p99 else None,
                        "dropped_cum": int(ivs[-1]["dropped"]) if ivs else None})
    # The endpoint closes when the run ends, a moment before the process exits: failures after the
    # last answered scrape are that, not errors.
    last_ok = max((r["t_s"] for r in rows if "scrape_ms" in r), default=0)
    scrapes_failed = sum(1 for r in rows if "scrape_error" in r and r["t_s"] < last_ok)
    after = [m["rss_median_mb"] for m in minutes[1:] if m["rss_median_mb"] is not None]
    growth = round(after[-1] - after[0], 1) if len(after) >= 2 else None
    with open(out["summary-run.json"]) as f:
        run = json.load(f)
    info.update(minutes=minutes, scrapes=len(rows), scrapes_failed=scrapes_failed,
                scrape_ms_max=max((r["scrape_ms"] for r in rows if "scrape_ms" in r), default=None),
                rss_growth_after_warmup_mb=growth,
                rss_flat=growth is not None and abs(growth) < a.rss_tolerance_mb,
                run={k: run.get(k) for k in ("offered", "completed", "dropped", "failed", "efficiency_pct",
                                             "latency_ms", "rss_mb", "cpu_pct")})
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(info, f, indent=1)

    print("| minute | RSS median MiB | RSS max MiB | p99 ms (median of 1 s intervals) | p99 ms max | dropped (cum.) |")
    print("|---|---|---|---|---|---|")
    for m in minutes:
        print("| %(minute)d | %(rss_median_mb)s | %(rss_max_mb)s | %(p99_ms_median)s | %(p99_ms_max)s | %(dropped_cum)s |" % m)
    verdict = "n/a (under 3 minutes)" if growth is None else "%+.1f MiB, %s" % (
        growth, "flat" if info["rss_flat"] else "NOT flat")
    print("soak: exit %d; %d scrapes answered, %d failed during the run, slowest %.1f ms; RSS after warm-up: %s; "
          "run: %s" % (rc, sum(1 for r in rows if "scrape_ms" in r), scrapes_failed, info["scrape_ms_max"] or 0,
                       verdict, json.dumps(info["run"])))
    print("soak: machine %s; results in %s" % (json.dumps(info["machine"]), a.out))
    return 0 if rc == 0 and scrapes_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
