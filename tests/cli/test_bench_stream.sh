#!/usr/bin/env bash
# dp-bench stream: every sample id exactly once in --predictions for every strategy, the JSON
# fields of docs/metrics.md, overload accounting per overflow policy, arrivals (poisson,
# trace), sinks, the MPI backend without its plugin, usage errors.
. "$(dirname "$0")/lib.sh"
cli_begin bench_stream

expect 0 "--help" -- "$bench" stream --help
for f in --rate --arrival --max-batch --max-delay-us --queue-capacity --overflow --backend --csv --jsonl --prometheus --quiet; do
    mentions "$f"
done
expect 2 "rate 0" -- "$bench" stream --rate 0
expect 2 "rate nan" -- "$bench" stream --rate nan
expect 2 "queue capacity 0" -- "$bench" stream --queue-capacity 0
expect 2 "bad overflow" -- "$bench" stream --overflow sometimes
expect 2 "trace without file" -- "$bench" stream --arrival trace
expect 1 "unreadable data" -- "$bench" stream --data npy:$tmp/missing.npy --quiet
: >"$tmp/empty.txt"
expect 1 "empty trace" -- "$bench" stream --arrival trace --trace "$tmp/empty.txt" --quiet

common=(--arch resnet18 --workers 2 --rate 200 --samples 50 --quiet)
for s in uniform sharded dynamic weighted; do
    expect 0 "$s" -- "$bench" stream "${common[@]}" --strategy $s --max-batch 4 --max-delay-us 1000 \
        --predictions "$tmp/p.csv" --json "$tmp/s.json"
    if "$py" - "$tmp/p.csv" "$tmp/s.json" "$s" <<'EOF'
import csv, json, sys
ids = sorted(int(r["sample_id"]) for r in csv.DictReader(open(sys.argv[1])))
assert ids == list(range(50)), ids
j = json.load(open(sys.argv[2]))
need = ["offered", "completed", "dropped", "failed", "target_rate", "rate_accuracy_pct", "throughput",
        "efficiency_pct", "latency_ms", "cpu_pct", "rss_mb", "elapsed_s", "per_worker", "arch", "strategy",
        "workers", "threads_per_worker"]
missing = [k for k in need if k not in j]
assert not missing, missing
assert set(j["latency_ms"]) >= {"mean", "p50", "p90", "p99", "p999", "max"}
assert j["strategy"] == sys.argv[3] and j["arch"] == "resnet18" and j["workers"] == 2 and j["target_rate"] == 200
assert j["offered"] == 50 == j["completed"] and j["dropped"] == 0 and j["failed"] == 0
for p in j["per_worker"]:
    for k in ["completed", "busy_pct", "mean_batch", "queue_hwm", "straggler"]:
        assert k in p, k
    assert 1 <= p["mean_batch"] <= 4 or p["completed"] == 0
EOF
    then ok; else bad "$s: predictions / JSON"; fi
done

# Overload: 20000/s into 2 workers with capacity 16; accounting holds, drops counted per reason.
for ov in drop-newest drop-oldest; do
    expect 0 "overload $ov" -- "$bench" stream --arch resnet18 --workers 2 --rate 20000 --samples 800 --queue-capacity 16 \
        --overflow $ov --quiet --json "$tmp/o.json" --predictions "$tmp/o.csv"
    if "$py" - "$tmp/o.json" "$tmp/o.csv" "$ov" <<'EOF'
import csv, json, sys
j = json.load(open(sys.argv[1]))
assert j["offered"] == 800 == j["completed"] + j["dropped"] + j["failed"], j
assert j["dropped"] > 0
key = "dropped_newest" if sys.argv[3] == "drop-newest" else "dropped_oldest"
assert j[key] == j["dropped"], j
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == j["completed"]
if sys.argv[3] == "drop-oldest":
    assert 799 in {int(r["sample_id"]) for r in rows}, "the newest sample was dropped"
EOF
    then ok; else bad "overload $ov accounting"; fi
done

# Arrivals: poisson (seeded) and a trace of 6 offsets.
expect 0 "poisson" -- "$bench" stream --arch resnet18 --rate 300 --samples 40 --arrival poisson --quiet --json "$tmp/po.json"
printf '0\n0.01\n0.02\n0.05\n0.06\n0.1\n' >"$tmp/trace.txt"
expect 0 "trace" -- "$bench" stream --arch resnet18 --arrival trace --trace "$tmp/trace.txt" --quiet --json "$tmp/tr.json"
if "$py" -c "import json; j=json.load(open('$tmp/tr.json')); assert j['offered']==6==j['completed'], j"; then ok; else bad "trace replay"; fi

# Sinks and console output.
expect 0 "sinks" -- "$bench" stream --arch resnet18 --rate 200 --samples 40 --interval-ms 50 --csv "$tmp/m.csv" --jsonl "$tmp/m.jsonl"
mentions "completed"
if [ "$(grep -c '"sample_id"' "$tmp/m.jsonl")" -eq 40 ] && [ "$(wc -l <"$tmp/m.csv")" -ge 2 ]; then ok; else bad "csv/jsonl sinks"; fi

# --backend mpi: without the plugin, a clear message (with it, this is the mpi tests' business).
if [ ! -e "$DP_LIB_DIR/libdataparallel_mpi.so.0" ]; then
    expect 1 "mpi without plugin" -- env DP_MPI_PLUGIN= "$bench" stream --backend mpi --samples 5 --quiet
    mentions "libdataparallel_mpi"
fi

# How sure a p99 is: the samples it needs, and the early-stopping verdict on an objective. 500
# samples with none over a generous objective show it at 99 % (459 suffice); an objective every
# sample misses does not hold.
expect 0 "--min-samples-for" -- "$bench" stream --min-samples-for 0.99
mentions "quantile 0.99 needs 368 samples"
expect 0 "--slo-p99-ms generous" -- "$bench" stream --arch resnet18_cifar --rate 500 --samples 500 --quiet \
  --slo-p99-ms 100000 --json "$tmp/slo.json"
mentions "p99 <= 100000 ms: holds at 99 % confidence (0 of 500 samples over it)"
"$py" -c "
import json, sys; j = json.load(open(sys.argv[1]))
assert j['slo'] == {'p99_ms': 100000, 'samples': 500, 'over': 0, 'holds_99': True}, j['slo']
lo, hi = j['latency_ci95_ms']['p99']
assert lo <= j['latency_ms']['p99'] <= hi, (lo, hi)" "$tmp/slo.json" && ok || bad "slo JSON"
expect 0 "--slo-p99-ms impossible" -- "$bench" stream --arch resnet18_cifar --rate 500 --samples 100 --quiet \
  --slo-p99-ms 0.001
mentions "p99 <= 0.001 ms: does not hold at 99 % confidence (100 of 100 samples over it)"

# --repeat 3 with a warm-up of 10 samples: each run's line and its warm-up line, the figures over
# the runs; the JSON is the last run's plus "repeats" (counts, not timing, are checked).
expect 0 "--repeat 3 --warmup-samples 10" -- "$bench" stream --arch mobilenet_v2 --rate 500 --samples 40 --repeat 3 \
  --warmup-samples 10 --json "$tmp/rep.json"
mentions "stream (run 2 of 3): 40 offered, 40 completed"
mentions "warm-up: 10 completed samples left out of the figures above"
mentions "over 3 runs: medians and 95 % bootstrap intervals (2000 resamples, seed 0):"
if "$py" - "$tmp/rep.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["completed"] == 40 and j["warmup_completed"] == 10, j
assert set(j["warmup_latency_ms"]) == {"mean", "p50", "p90", "p99", "p999", "max"}
r = j["repeats"]
assert r["repeats"] == 3 and r["resamples"] == 2000 and r["confidence"] == 0.95, r
for f in (r["throughput"], r["efficiency_pct"], r["latency_ms"]["p50"], r["latency_ms"]["p99"]):
    assert len(f["values"]) == 3 and f["lo"] <= f["median"] <= f["hi"] and f["median"] == sorted(f["values"])[1], f
assert j["throughput"] in r["throughput"]["values"]
EOF
then ok "--repeat JSON: the last run, its warm-up, medians and intervals over 3 runs"; else bad "--repeat JSON"; fi
expect 2 "--repeat 0" -- "$bench" stream --repeat 0
expect 2 "--warmup -1" -- "$bench" stream --warmup -1

cli_end
