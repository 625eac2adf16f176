#!/usr/bin/env bash
# dp-bench capacity: probes printed, the search brackets and bisects, JSON, usage errors.
. "$(dirname "$0")/lib.sh"
cli_begin bench_capacity

expect 0 "--help" -- "$bench" capacity --help
mentions "--slo-p99-ms"
expect 2 "bad slo" -- "$bench" capacity --slo-p99-ms -1
expect 2 "stream-only flag" -- "$bench" capacity --rate 5

expect 0 "--min-samples-for" -- "$bench" capacity --min-samples-for 0.99
mentions "quantile 0.99 needs 368 samples for a 95 % interval with an upper bound, 528 for 99 %"
expect 2 "bad confidence" -- "$bench" capacity --confidence 1.5

# Probes hold at least what a bounded p99 needs (368 samples at the default 95 %), however short
# --seconds is; the JSON gives each probe's samples and the interval of its p99.
expect 0 "probes sized by samples" -- "$bench" capacity --arch resnet18_cifar --workers 2 --slo-p99-ms 5000 \
    --seconds 0.01 --start-rate 400 --max-rate 400 --json "$tmp/m.json"
if "$py" - "$tmp/m.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["min_samples"] == 368 and j["confidence"] == 0.95, j
p = j["probes"][0]
lo, hi = p["p99_ci95_ms"]
assert p["samples"] == 368 and lo is not None and hi is not None and lo <= p["p99_ms"] <= hi, p
EOF
then ok; else bad "probe sizing"; fi

# The searches below use short probes (--min-samples 20) to test the search itself, not the
# figures. A generous SLO and a low ceiling: every probe passes up to --max-rate.
expect 0 "ceiling" -- "$bench" capacity --arch resnet18 --workers 2 --slo-p99-ms 5000 --seconds 0.2 --start-rate 20 \
    --max-rate 80 --min-samples 20 --json "$tmp/c.json"
mentions "probe  1"
mentions "capacity:"
if "$py" - "$tmp/c.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["capacity"] == 80 and j["slo_p99_ms"] == 5000, j
rates = [p["rate"] for p in j["probes"]]
assert rates == [20, 40, 80], rates
assert all(p["ok"] and p["dropped"] == 0 for p in j["probes"])
EOF
then ok; else bad "ceiling search"; fi

# An SLO no run can meet: the search shrinks at most 16x and reports 0.
expect 0 "impossible slo" -- "$bench" capacity --arch resnet18 --slo-p99-ms 0.001 --seconds 0.1 --start-rate 160 --min-samples 20 --json "$tmp/z.json"
if "$py" -c "
import json; j=json.load(open('$tmp/z.json')); assert j['capacity']==0 and not any(p['ok'] for p in j['probes']), j
assert [p['rate'] for p in j['probes']] == [160, 80, 40, 20, 10], j"; then ok; else bad "impossible SLO"; fi

# A real bracket: drops forced by a tiny queue at high rates (the SLO never binds), so it bisects.
expect 0 "bisect" -- "$bench" capacity --arch resnet18 --workers 1 --slo-p99-ms 100000 --seconds 0.3 --start-rate 50 \
    --queue-capacity 4 --overflow drop-newest --min-samples 20 --json "$tmp/b.json"
if "$py" - "$tmp/b.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
ok = [p["rate"] for p in j["probes"] if p["ok"]]
bad = [p["rate"] for p in j["probes"] if not p["ok"]]
assert ok and bad, j["probes"]
assert j["capacity"] == max(ok) and j["capacity"] < min(bad) <= j["capacity"] * 1.02 + 1e-9 or len(j["probes"]) == 40, j
EOF
then ok; else bad "bisection"; fi

cli_end
