#!/usr/bin/env bash
# dp-bench tune: a short search on the null model checks what it prints and writes (the shape of
# the output, never its figures); usage errors; --dashboard on tune. The search policy itself is
# tested without timing in tests/tune/test_tune_search.c.
. "$(dirname "$0")/lib.sh"
cli_begin bench_tune

expect 0 "--help" -- "$bench" tune --help
mentions "--budget-s"
mentions "--max-delay-us LIST"
expect 2 "bad list" -- "$bench" tune --workers 0,1
expect 2 "stream-only flag" -- "$bench" tune --rate 5
expect 2 "int8 without calibration" -- "$bench" tune --arch null --precisions fp32,int8
expect 2 "bad precision" -- "$bench" tune --precisions fp64

# 2 x 2 x 2 x 2 configurations (2 workers x 2 threads oversubscribes 2 cores); short probes.
expect 0 "search" -- "$bench" tune --arch null --slo-p99-ms 500 --budget-s 8 --cores 2 --workers 1,2 --threads 1,2 \
    --max-batch 1,4 --max-delay-us 0,200 --min-samples 30 --seconds 0 --json "$tmp/t.json" --dashboard 127.0.0.1:0
mentions "dashboard at http://127.0.0.1:"
mentions "probe 1/"
mentions "pruned: oversubscribed cores"
mentions "pruned: same as another"
mentions "best: "
mentions "  dp-bench stream --arch null --workers "
if "$py" - "$tmp/t.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["arch"] == "null" and j["slo_p99_ms"] == 500 and j["budget_s"] == 8 and j["min_samples"] == 30, j
assert len(j["configs"]) == 16, len(j["configs"])
verdicts = {"measured", "below best", "pruned: service time above the SLO", "pruned: oversubscribed cores",
            "pruned: bound below best", "pruned: same as another", "unsupported here", "not reached (budget)"}
for c in j["configs"]:
    assert c["verdict"] in verdicts, c
    if c["workers"] * c["threads_per_worker"] > 2:
        assert c["verdict"] == "pruned: oversubscribed cores", c
b = j["best"]
assert b is not None and b["capacity"] > 0 and b["precision"] == "fp32" and b["strategy"] == "dynamic", b
assert j["stream_command"].startswith("dp-bench stream --arch null --workers %d --threads %d --max-batch %d"
                               % (b["workers"], b["threads_per_worker"], b["max_batch"])), j["stream_command"]
assert j["probes"] and "machine" in j and "commit" in j, j
for p in j["probes"]:
    assert p["phase"] in ("coarse", "fine", "confirm") and p["samples"] >= 30 and 0 <= p["config"] < 16, p
    assert len(p["p99_ci95_ms"]) == 2 and isinstance(p["ok"], bool), p
    assert j["configs"][p["config"]]["verdict"] in ("measured", "below best"), p
if b["confirmed"]:
    last = j["probes"][-1]
    assert last["phase"] == "confirm" and last["ok"] and last["rate"] == b["capacity"], last
PY
then ok; else bad "tune JSON"; fi

# Its Pareto plot (benchmarks/plot.py tune), and the results-folder path: DIR/tune/*.json gives a
# plot and a table in summary.md.
if "$py" "$DP_SOURCE_DIR/benchmarks/plot.py" tune "$tmp/t.json" --out "$tmp/pareto.png" 2>"$tmp/plot.log" &&
    [ "$(head -c 8 "$tmp/pareto.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]; then ok; else bad "plot.py tune"; cat "$tmp/plot.log"; fi
mkdir -p "$tmp/res/tune" && cp "$tmp/t.json" "$tmp/res/tune/null.json"
"$py" "$DP_SOURCE_DIR/benchmarks/plot.py" "$tmp/res" 2>"$tmp/plot.log"
if [ -s "$tmp/res/plots/tune_pareto_null.png" ] && grep -q "## Tune: the best configuration" "$tmp/res/summary.md"; then ok
else bad "plot.py DIR with a tune result"; cat "$tmp/plot.log"; fi

# An SLO nothing meets: exit 1, saying so, with the JSON written (best null).
expect 1 "impossible SLO" -- "$bench" tune --arch null --slo-p99-ms 0.001 --budget-s 3 --workers 1 --threads 1 \
    --max-batch 1 --min-samples 20 --seconds 0 --json "$tmp/z.json"
mentions "no configuration met p99 <= 0.001 ms"
if "$py" -c "import json; j=json.load(open('$tmp/z.json')); assert j['best'] is None and j['stream_command'] is None, j"
then ok; else bad "no best in the JSON"; fi

cli_end
