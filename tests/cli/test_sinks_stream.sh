#!/usr/bin/env bash
# dp-bench stream with every sink: scrapes taken during the run pass promtool and their counters
# do not decrease and carry the latency breakdown (one histogram per phase); afterwards the CSV's
# last row and the JSONL lines agree with the --json summary (completed count, max latency), and
# every JSONL sample's five latency parts are >= 0 and add up to its latency_ms exactly (in ns).
# Bad sink arguments fail before the run starts.
set -uo pipefail
. "$DP_SOURCE_DIR/tests/metrics/sinks_lib.sh"

bench="$DP_BIN_DIR/dp-bench"
py=${DP_PYTHON3:-/usr/bin/python3}
[ -x "$bench" ] || { echo "missing $bench"; echo "0 passed, 1 failed"; exit 1; }
work="$DP_TEST_TMP/cli_sinks_stream"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
export OMP_WAIT_POLICY=PASSIVE

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
run=(stream --arch resnet18 --strategy dynamic --workers 2 --threads 1 --rate 250 --samples 1000)

# ---- a run with every sink, scraped twice while it goes --------------------------------------
# Counters reach Prometheus with each interval row: rows every 250 ms put several between the
# two scrapes 1 s apart (1 s rows on a loaded machine could put both scrapes in one row's span).
port=$(free_port)
"$bench" "${run[@]}" --interval-ms 250 --json run.json --csv run.csv --jsonl run.jsonl --prometheus "127.0.0.1:$port" \
  > run.out 2> run.err &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
url="http://127.0.0.1:$port/metrics"
for _ in $(seq 600); do curl -sf "$url" > /dev/null 2>&1 && break; sleep 0.05; done
sleep 1
curl -sf "$url" > scrape1.txt; check "scrape 1 during the run" test -s scrape1.txt
sleep 1
curl -sf "$url" > scrape2.txt; check "scrape 2 during the run" test -s scrape2.txt
wait $pid
rc=$?
trap - EXIT
check "dp-bench stream with all sinks exits 0 (rc $rc: $(tail -3 run.err))" test $rc -eq 0

check_promtool scrape1.txt scrape2.txt
check "scrape 1 was taken while the run went" grep -q '^dp_run_info{.*} 1$' scrape1.txt
check "counters monotonic across the two scrapes" monotonic scrape1.txt scrape2.txt
c1=$(value scrape1.txt dp_samples_completed_total)
c2=$(value scrape2.txt dp_samples_completed_total)
check "completed grew between scrapes ($c1 -> $c2)" test "${c2:-0}" -gt "${c1:-0}"
check "the scrape has a latency histogram per phase" \
  test "$(grep -c '^dp_latency_phase_seconds_count{phase="[a-z]*"}' scrape2.txt)" -eq 5

# CSV and JSONL totals against the JSON summary.
if out=$("$py" - <<'EOF' 2>&1
import csv, json, sys
from decimal import Decimal
s = json.load(open("run.json"))
done, mx = s["completed"], s["latency_ms"]["max"]
errors = []
rows = list(csv.DictReader(open("run.csv")))
if not rows:
    errors.append("CSV has no rows")
else:
    want = "t_s,offered,completed,dropped,failed,throughput,p50_ms,p90_ms,p99_ms,max_ms,queue_depth,cpu_pct,rss_mb"
    if ",".join(rows[0].keys()) != want:
        errors.append("CSV header %s" % ",".join(rows[0].keys()))
    if int(rows[-1]["completed"]) != done:
        errors.append("CSV last completed %s != %d" % (rows[-1]["completed"], done))
    if int(rows[-1]["offered"]) != s["offered"]:
        errors.append("CSV last offered %s != %d" % (rows[-1]["offered"], s["offered"]))
    cmax = max(float(r["max_ms"]) for r in rows)
    if abs(cmax - mx) > 1e-5:
        errors.append("CSV max %.6f != summary max %.6f" % (cmax, mx))
lines = [json.loads(l) for l in open("run.jsonl")]
# Exact: 6 decimals of ms are whole ns, read as decimals rather than binary floats.
parts = ("dispatch_ms", "queue_ms", "batching_ms", "service_ms", "delivery_ms")
for raw in open("run.jsonl"):
    l = json.loads(raw, parse_float=Decimal)
    if l["type"] == "sample" and (sum(l[p] for p in parts) != l["latency_ms"] or min(l[p] for p in parts) < 0):
        errors.append("JSONL parts do not add up to latency_ms: %s" % raw.strip())
        break
if set(s.get("latency_breakdown_ms", {})) != {p[:-3] for p in parts}:
    errors.append("--json latency_breakdown_ms: %r" % s.get("latency_breakdown_ms"))
samples = [l for l in lines if l["type"] == "sample"]
summaries = [l for l in lines if l["type"] == "summary"]
if len(samples) != done:
    errors.append("JSONL has %d samples, summary completed %d" % (len(samples), done))
if len({l["sample_id"] for l in samples}) != len(samples):
    errors.append("JSONL sample ids repeat")
if samples and abs(max(l["latency_ms"] for l in samples) - mx) > 1e-5:
    errors.append("JSONL max latency %.6f != %.6f" % (max(l["latency_ms"] for l in samples), mx))
if len(summaries) != 1 or summaries[0]["completed"] != done or lines[-1]["type"] != "summary":
    errors.append("JSONL summary line missing or wrong")
for l in samples[:50]:
    steps = [l[k] for k in ("intended_s", "enqueued_s", "taken_s", "start_s", "end_s", "delivered_s")]
    if steps != sorted(steps) or abs((l["delivered_s"] - l["intended_s"]) * 1e3 - l["latency_ms"]) > 1e-3:
        errors.append("JSONL times inconsistent: %r" % l)
        break
print("\n".join(errors) or "completed %d, max %.3f ms" % (done, mx))
sys.exit(1 if errors else 0)
EOF
); then ok; else fail "CSV/JSONL vs --json: $out"; fi

# ---- bad sink arguments fail before the run starts -------------------------------------------
expect_fail() { # what, pattern, args...  (no summary line on stdout: the run never started)
  local what=$1 pattern=$2; shift 2
  "$bench" "${run[@]}" --quiet "$@" > bad.out 2> bad.err
  local rc=$?
  if [ $rc -ne 0 ] && grep -qi -- "$pattern" bad.err && ! grep -q offered bad.out; then ok
  else fail "$what: rc $rc, stderr: $(head -3 bad.err)"; fi
}
expect_fail "unwritable CSV path" "no/such/dir/m.csv" --csv no/such/dir/m.csv
expect_fail "unwritable JSONL path" "no/such/dir/m.jsonl" --jsonl no/such/dir/m.jsonl
expect_fail "malformed --prometheus" "HOST:PORT" --prometheus localhost
expect_fail "bad --prometheus port" "PORT" --prometheus 127.0.0.1:99999
busy=$(free_port)
"$py" -c "import socket, time
s = socket.socket(); s.bind(('127.0.0.1', $busy)); s.listen(1); open('listening', 'w').close(); time.sleep(30)" &
holder=$!
for _ in $(seq 100); do [ -e listening ] && break; sleep 0.05; done
expect_fail "port already bound" "in use" --prometheus "127.0.0.1:$busy"
kill $holder 2>/dev/null; wait $holder 2>/dev/null

finish
