#!/usr/bin/env bash
# The Prometheus sink over real HTTP: a helper (metrics_test_sinks --serve) feeds the sink a
# growing synthetic run; scrapes taken with curl during and after it must pass
# `promtool check metrics`, counters must not decrease between scrapes, and at the end
# dp_latency_seconds_count must equal dp_samples_completed_total.
set -uo pipefail
. "$DP_SOURCE_DIR/tests/metrics/sinks_lib.sh"

helper="$DP_BUILD_DIR/tests/metrics_test_sinks"
[ -x "$helper" ] || { echo "missing $helper"; echo "0 passed, 1 failed"; exit 1; }
work="$DP_TEST_TMP/cli_sinks"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

"$helper" --serve "$work/port" 3 > serve.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
port=$(cat port 2>/dev/null)
check "helper reported a port" test -n "$port"
url="http://127.0.0.1:$port/metrics"

# Two scrapes during the run, one after the summary.
sleep 0.5
curl -sf -D headers1 "$url" > scrape1.txt; check "scrape 1 (curl rc $?)" test -s scrape1.txt
sleep 1
curl -sf "$url" > scrape2.txt; check "scrape 2" test -s scrape2.txt
for _ in $(seq 200); do [ -e port.done ] && break; sleep 0.05; done
check "helper finished its run" test -e port.done
curl -sf "$url" > scrape3.txt; check "scrape 3" test -s scrape3.txt

check "Content-Type is text format 0.0.4" grep -qi '^Content-Type: text/plain; version=0.0.4' headers1
check_promtool scrape1.txt scrape2.txt scrape3.txt

check "counters monotonic scrape1 -> scrape2" monotonic scrape1.txt scrape2.txt
check "counters monotonic scrape2 -> scrape3" monotonic scrape2.txt scrape3.txt
check "the run was still going at scrape 1" grep -q '^dp_run_info{.*} 1$' scrape1.txt
check "the run had ended at scrape 3" grep -q '^dp_run_info{.*} 0$' scrape3.txt

count=$(value scrape3.txt dp_latency_seconds_count)
completed=$(value scrape3.txt dp_samples_completed_total)
inf=$(value scrape3.txt 'dp_latency_seconds_bucket{le="+Inf"}')
check "final _count ($count) == completed ($completed)" test -n "$count" -a "$count" = "$completed"
check "+Inf bucket ($inf) == _count" test "$inf" = "$count"
check "grew between scrapes" test "$(value scrape1.txt dp_samples_offered_total)" != "$(value scrape3.txt dp_samples_offered_total)"
served=$(sed -n 's/^served [0-9]* samples (\([0-9]*\) completed)$/\1/p' serve.log)
check "completed matches what the helper fed ($served)" test "$served" = "$completed"

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/other")
check "unknown path gives 404 (got $code)" test "$code" = 404

finish
