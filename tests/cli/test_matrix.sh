#!/usr/bin/env bash
# dp-bench matrix: argument errors, a tiny matrix of our engine (CSV/JSON/Markdown/per-sample
# files agree with each other), layouts (data parallel, pipeline, hybrid) of the same workers,
# both engines interleaved into one CSV, ONNX Runtime as a third
# engine (skipped with one line where node is missing), and failing runs reported.
set -uo pipefail
bench="$DP_BIN_DIR/dp-bench"
py=${DP_PYTHON3:-/usr/bin/python3}
tmp="$DP_TEST_TMP/matrix"
rm -rf "$tmp" && mkdir -p "$tmp"
export OMP_WAIT_POLICY=PASSIVE
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect_rc() { # expected-rc description command...
  local want=$1 what=$2; shift 2
  "$@" > "$tmp/out.txt" 2>&1; local rc=$?
  if [ $rc -eq "$want" ]; then ok "$what (exit $rc)"; else bad "$what: exit $rc, expected $want"; cat "$tmp/out.txt"; fi
}

expect_rc 0 "--help" "$bench" matrix --help
grep -q -- "--engines" "$tmp/out.txt" && ok "--help lists --engines" || bad "--help does not list --engines"
expect_rc 2 "unknown strategy" "$bench" matrix --strategies uniform,bogus --out "$tmp/x"
grep -q "bogus" "$tmp/out.txt" && ok "the message names the bad strategy" || bad "message does not name 'bogus'"
expect_rc 2 "zero workers" "$bench" matrix --workers 0 --out "$tmp/x"
expect_rc 2 "negative rate" "$bench" matrix --rates -5 --out "$tmp/x"
expect_rc 2 "unknown engine" "$bench" matrix --engines tensorflow --out "$tmp/x"
expect_rc 2 "unknown option" "$bench" matrix --bogus --out "$tmp/x"
expect_rc 2 "missing baseline script" env DP_SOURCE_DIR=/nonexistent "$bench" matrix --engines pytorch \
  --baseline /nonexistent/pytorch_baseline.py --arch mobilenet_v2 --strategies uniform --workers 1 --samples 5 --out "$tmp/x"

# A tiny matrix of our engine: 2 strategies x 2 worker counts, per-sample records kept.
out="$tmp/ours"
expect_rc 0 "tiny matrix (ours), with --report" "$bench" matrix --arch resnet18_cifar --strategies uniform,dynamic \
  --workers 1,2 --rates 400 --samples 40 --jsonl --report --out "$out"
grep -q "4/4 runs" "$tmp/out.txt" && ok "progress reaches 4/4 runs" || bad "no '4/4 runs' progress line"
grep -q "ETA" "$tmp/out.txt" && ok "progress shows an ETA" || bad "no ETA in the progress output"
grep -q "wrote $out/index.html" "$tmp/out.txt" && ok "--report says where the page is" || bad "no 'wrote .../index.html'"
"$py" "$DP_SOURCE_DIR/benchmarks/report.py" "$out" --check > "$tmp/check.txt" 2>&1 &&
  [ "$(ls "$out/plots" | wc -l)" -ge 5 ] && ok "index.html shows every plot (report.py --check)" ||
  { bad "report check"; cat "$tmp/check.txt"; ls "$out/plots"; }
[ -s "$out/plots/breakdown_resnet18_cifar.png" ] && grep -q 'data-file="plots/breakdown_resnet18_cifar.png"' "$out/index.html" &&
  grep -q "Where the latency goes" "$out/summary.md" && ok "the latency breakdown is plotted and on the page" ||
  bad "no breakdown_resnet18_cifar.png on the page"
# A dp-bench away from the source tree, without DP_SOURCE_DIR, cannot find the scripts: a usage error
# before any run.
cp "$bench" "$tmp/dp-bench-alone"
expect_rc 2 "--report without the scripts" env DP_SOURCE_DIR=/nonexistent "$tmp/dp-bench-alone" matrix --report \
  --arch mobilenet_v2 --strategies uniform --workers 1 --samples 5 --out "$tmp/x"
grep -q "cannot find benchmarks/plot.py" "$tmp/out.txt" && ok "the message names the script" || bad "no script named"
"$py" - "$out" "$DP_SOURCE_DIR/benchmarks" <<'PYEOF' && ok "results.csv/json/md and cells agree" || bad "results check"
import csv, glob, json, os, sys
out, bench_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, bench_dir)
import pytorch_baseline as pb
rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
header = open(os.path.join(out, "results.csv")).readline().strip().split(",")
assert tuple(header) == pb.CSV_FIELDS, ("CSV header differs from the PyTorch baseline's", header)
assert len(rows) == 4, len(rows)
assert {(r["strategy"], r["workers"]) for r in rows} == {(s, w) for s in ("uniform", "dynamic") for w in ("1", "2")}
for r in rows:
    assert r["engine"] == "libdataparallel" and r["arch"] == "resnet18_cifar" and float(r["rate"]) == 400, r
    assert int(r["offered"]) == 40 and int(r["completed"]) + int(r["dropped"]) + int(r["failed"]) == 40, r
    assert int(r["completed"]) == 40, r  # block overflow: nothing dropped
    assert 0 < float(r["latency_p50_ms"]) <= float(r["latency_p99_ms"]) <= float(r["latency_max_ms"]), r
    assert float(r["throughput"]) > 0 and float(r["rss_mb"]) > 0, r
res = json.load(open(os.path.join(out, "results.json")))
assert len(res["cells"]) == 4 and all(c["ok"] for c in res["cells"]), res["cells"]
assert "--strategies uniform,dynamic --workers 1,2" in res["command"] and res["machine"]["cores"] >= 1
for c in res["cells"]:
    row = next(r for r in rows if r["strategy"] == c["strategy"] and int(r["workers"]) == c["workers"])
    assert abs(float(row["throughput"]) - c["summary"]["throughput"]) <= 1e-4 * c["summary"]["throughput"]
    assert len(c["summary"]["per_worker"]) == c["workers"]
md = open(os.path.join(out, "results.md")).read()
assert "## resnet18_cifar at 400 samples/s" in md and md.count("| libdataparallel |") == 4, md
jsonl = sorted(glob.glob(os.path.join(out, "cells", "*.jsonl")))
assert len(jsonl) == 4, jsonl
for path in jsonl:
    samples = [json.loads(l) for l in open(path) if '"sample"' in l]
    assert len(samples) == 40 and all(s["latency_ms"] > 0 for s in samples), (path, len(samples))
PYEOF

# Layouts of the same workers (issue 18): data parallel, pipeline, hybrid where each applies.
out="$tmp/layouts"
expect_rc 0 "tiny matrix of layouts" "$bench" matrix --layouts data-parallel,pipeline,hybrid --arch mobilenet_v2 \
  --strategies uniform --workers 2,4 --rates 200 --samples 16 --report --out "$out"
grep -q "5/5 runs" "$tmp/out.txt" && ok "5 runs: W=2 dp+pipeline, W=4 dp+pipeline+hybrid" || { bad "layout runs"; cat "$tmp/out.txt"; }
[ -s "$out/plots/layouts_uniform_r200.png" ] && "$py" "$DP_SOURCE_DIR/benchmarks/report.py" "$out" --check > "$tmp/check.txt" 2>&1 &&
  ok "the layouts plot is on the report page" || { bad "layouts plot"; ls "$out/plots"; cat "$tmp/check.txt"; }
"$py" - "$out" <<'PYEOF' && ok "layouts in results.csv/json/md" || bad "layouts results"
import csv, json, os, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
assert [(r["workers"], r["layout"], r["stages"]) for r in rows] == [
    ("2", "data-parallel", "1"), ("2", "pipeline", "2"),
    ("4", "data-parallel", "1"), ("4", "pipeline", "4"), ("4", "hybrid", "2")], rows
assert all(int(r["completed"]) == 16 for r in rows), rows
for c in json.load(open(os.path.join(out, "results.json")))["cells"]:
    p = c["summary"]["pipeline"]
    assert (p["stages"], p["replicas"]) == (c["stages"], c["workers"] // c["stages"]), c
md = open(os.path.join(out, "results.md")).read()
assert "| pipeline / data-parallel throughput | hybrid / data-parallel throughput |" in md, md
PYEOF
expect_rc 2 "no layout applies" "$bench" matrix --layouts hybrid --workers 2 --samples 5 --out "$tmp/x"
grep -q "none applies" "$tmp/out.txt" && ok "the message says no layout applies" || bad "no 'none applies' message"

# Both engines, interleaved: rows alternate libdataparallel / pytorch in one CSV.
out="$tmp/both"
expect_rc 0 "tiny matrix (both engines)" "$bench" matrix --engines libdataparallel,pytorch --arch mobilenet_v2 \
  --strategies dynamic --workers 1 --rates 200 --samples 20 --out "$out"
"$py" - "$out" <<'PYEOF' && ok "CSV has one row per engine, ours first" || bad "both-engine CSV"
import csv, os, sys
rows = list(csv.DictReader(open(os.path.join(sys.argv[1], "results.csv"))))
assert [r["engine"] for r in rows] == ["libdataparallel", "pytorch"], rows
for r in rows:
    assert int(r["completed"]) == 20 and r["strategy"] == "dynamic" and r["workers"] == "1", r
PYEOF

# ONNX Runtime as a further engine: its rows where it can run; where it cannot, one line and the
# other engines' rows, never a failure.
if "$py" "$DP_SOURCE_DIR/benchmarks/ort_baseline.py" available > "$tmp/ort.txt" 2>&1; then
  out="$tmp/ort"
  expect_rc 0 "tiny matrix (ours, onnxruntime)" env DP_ORT_MODELS="$DP_TEST_TMP/ort_models" "$bench" matrix \
    --engines libdataparallel,onnxruntime --arch mobilenet_v2 --strategies uniform --workers 1,2 --rates 200 \
    --samples 20 --out "$out"
  "$py" - "$out" <<'PYEOF' && ok "onnxruntime rows alternate with ours; results.md compares them" || bad "onnxruntime matrix"
import csv, json, os, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
assert [(r["engine"], r["workers"]) for r in rows] == [("libdataparallel", "1"), ("onnxruntime", "1"),
                                                       ("libdataparallel", "2"), ("onnxruntime", "2")], rows
for r in rows:
    assert int(r["completed"]) == int(r["offered"]) == 20 and float(r["latency_p99_ms"]) > 0, r
cells = json.load(open(os.path.join(out, "results.json")))["cells"]
ort = [c["summary"] for c in cells if c["engine"] == "onnxruntime"]
assert all(s["engine"] == "onnxruntime" and len(s["per_worker"]) == s["workers"] for s in ort), ort
assert "libdataparallel / onnxruntime throughput" in open(os.path.join(out, "results.md")).read()
PYEOF
else
  echo "skip: the onnxruntime rows: $(cat "$tmp/ort.txt")"
fi
out="$tmp/no-node"
expect_rc 0 "onnxruntime without node" env DP_NODE=/nonexistent/node "$bench" matrix --engines libdataparallel,onnxruntime \
  --arch mobilenet_v2 --strategies dynamic --workers 1 --samples 10 --out "$out"
[ "$(grep -c "engine onnxruntime skipped: node is not installed" "$tmp/out.txt")" -eq 1 ] &&
  ok "one line says onnxruntime was skipped and why" || { bad "no single skip line"; cat "$tmp/out.txt"; }
[ "$(cut -d, -f1 "$out/results.csv" | tail -n +2 | tr '\n' ' ')" = "libdataparallel " ] &&
  ok "the other engine still ran" || bad "rows without onnxruntime: $(cat "$out/results.csv")"

# --repeat: the whole matrix again, rows per repeat, per-run files numbered; per cell the medians
# and 95 % bootstrap intervals (results.json "aggregates"), and results.md's table of them with a
# significance mark against the best strategy and the legend that explains it.
out="$tmp/repeat"
expect_rc 0 "--repeat 2" "$bench" matrix --arch mobilenet_v2 --strategies dynamic,uniform --workers 1 --samples 10 \
  --repeat 2 --report --out "$out"
"$py" - "$out" <<'PYEOF' && ok "--repeat 2 gives two rows a cell, numbered cell files, intervals" || bad "--repeat"
import csv, json, os, re, sys
out = sys.argv[1]
assert len(list(csv.DictReader(open(os.path.join(out, "results.csv"))))) == 4
res = json.load(open(os.path.join(out, "results.json")))
assert [c["repeat"] for c in res["cells"]] == [1, 1, 2, 2]
names = sorted(os.listdir(os.path.join(out, "cells")))
assert "libdataparallel_mobilenet_v2_dynamic_w1_r500.json" in names, names
assert "libdataparallel_mobilenet_v2_dynamic_w1_r500_2.json" in names, names
aggs = res["aggregates"]
assert sorted(a["strategy"] for a in aggs) == ["dynamic", "uniform"], aggs
for a in aggs:
    assert a["repeats"] == 2 and a["resamples"] == 2000 and a["confidence"] == 0.95, a
    runs = [c["summary"] for c in res["cells"] if c["strategy"] == a["strategy"]]
    for fig in (a["throughput"], a["efficiency_pct"], a["latency_ms"]["p50"], a["latency_ms"]["p99"]):
        assert fig["lo"] <= fig["median"] <= fig["hi"] and len(fig["values"]) == 2, fig
    # Two values: the median is their mean, the interval their range.
    thr = sorted(r["throughput"] for r in runs)
    assert abs(a["throughput"]["median"] - sum(thr) / 2) < 1e-9 * thr[1], (a, thr)
    assert a["throughput"]["lo"] == thr[0] and a["throughput"]["hi"] == thr[1], (a, thr)
md = open(os.path.join(out, "results.md")).read()
assert "Medians of 2 repeats with their 95 % bootstrap intervals" in md, md
rows = [l for l in md.splitlines() if l.startswith("| dynamic | 1 | data-parallel | libdataparallel |") and "[" in l]
rows += [l for l in md.splitlines() if l.startswith("| uniform | 1 | data-parallel | libdataparallel |") and "[" in l]
assert len(rows) == 2, md
last = [r.rstrip(" |").rsplit("|", 1)[1].strip() for r in rows]
assert last.count("best") == 1 and re.fullmatch(r"(below \w+\*|≈ \w+)", [x for x in last if x != "best"][0]), last
assert "`*` marks a significant difference: the two 95 % bootstrap intervals across the 2 repeats do not overlap" in md
page = open(os.path.join(out, "index.html")).read()
assert "Medians of 2 repeats [95 % bootstrap interval]" in page, "the headline shows no intervals"
assert re.search(r"<td>\d+\.\d \[\d+\.\d, \d+\.\d\]</td>", page), "no 'median [lo, hi]' cell in the headline"
assert 'class="plot-index"' in page and "error bars" in page
PYEOF
"$py" "$DP_SOURCE_DIR/benchmarks/report.py" "$out" --check > "$tmp/check.txt" 2>&1 &&
  ok "the --repeat report passes report.py --check" || { bad "report check (--repeat)"; cat "$tmp/check.txt"; }
# --check catches a plot the page does not show and no row of plot.py's PLOTS names.
cp "$out/plots/throughput_vs_workers.png" "$out/plots/unregistered.png"
"$py" "$DP_SOURCE_DIR/benchmarks/report.py" "$out" --check > "$tmp/check.txt" 2>&1
[ $? -eq 1 ] && grep -q "plots/unregistered.png is not on the page" "$tmp/check.txt" &&
  ok "--check reports a PNG the page lacks" || { bad "--check missed plots/unregistered.png"; cat "$tmp/check.txt"; }
"$py" "$DP_SOURCE_DIR/benchmarks/report.py" "$out" > /dev/null 2>&1
"$py" "$DP_SOURCE_DIR/benchmarks/report.py" "$out" --check > "$tmp/check.txt" 2>&1
[ $? -eq 1 ] && grep -q "unregistered.png is no plot of plot.py's PLOTS" "$tmp/check.txt" &&
  ok "--check reports a plot no PLOTS row names" || { bad "--check accepted an unregistered plot"; cat "$tmp/check.txt"; }

# Every run failing (unreadable data) is reported, kept out of the CSV, and makes the exit code 1.
out="$tmp/failing"
expect_rc 1 "runs that fail" "$bench" matrix --arch mobilenet_v2 --strategies uniform --workers 1,2 --samples 5 \
  --data cifar10:/nonexistent/data.bin --out "$out"
grep -q "0 of 2 runs succeeded" "$tmp/out.txt" && ok "the summary line counts the failures" || bad "no failure count"
[ "$(wc -l < "$out/results.csv")" -eq 1 ] && ok "failed runs are not in the CSV" || bad "failed runs in the CSV"
"$py" -c "import json,sys; c=json.load(open(sys.argv[1]))['cells']; assert len(c)==2 and not any(x['ok'] for x in c)" \
  "$out/results.json" && ok "results.json records them as not ok" || bad "results.json for failed runs"
grep -q "failed (exit" "$out/results.md" && ok "results.md shows them as failed" || bad "results.md for failed runs"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
