#!/usr/bin/env bash
# scripts/run end to end on a tiny configuration (the already-built tools, every engine: ours,
# PyTorch and, where node and onnxruntime-node are installed, ONNX Runtime; a model trained 3
# steps on Fashion-MNIST in a private cache): results.csv with rows and accuracy for every engine,
# results.json/md, the straggler and capacity JSONs, summary.md with the accuracy table and at
# least 4 PNG plots; and bad arguments rejected before anything runs.
set -uo pipefail
py=${DP_PYTHON3:-/usr/bin/python3}
tmp="$DP_TEST_TMP/run"
rm -rf "$tmp" && mkdir -p "$tmp"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
run="$DP_SOURCE_DIR/scripts/run"

"$run" --samples abc --out "$tmp/x" > "$tmp/err.txt" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "samples" "$tmp/err.txt" && ok "--samples abc rejected (exit 2)" || { bad "--samples abc: exit $rc"; cat "$tmp/err.txt"; }
"$run" --data imagenet:/x --out "$tmp/x" > "$tmp/err.txt" 2>&1; rc=$?
[ $rc -eq 2 ] && ok "--data imagenet:/x rejected (exit 2)" || bad "--data imagenet:/x: exit $rc"
"$run" --frobnicate > "$tmp/err.txt" 2>&1; rc=$?
[ $rc -eq 2 ] && ok "unknown option rejected (exit 2)" || bad "unknown option: exit $rc"
"$run" --help > "$tmp/help.txt" 2>&1 && grep -q -- "--workers" "$tmp/help.txt" && ok "--help" || bad "--help"
[ ! -e "$tmp/x" ] && ok "nothing written for rejected arguments" || bad "$tmp/x was created"

out="$tmp/results"
start=$(date +%s)
XDG_CACHE_HOME="$tmp/cache" DP_ORT_MODELS="$DP_TEST_TMP/ort_models" "$run" --no-build --build-dir "$DP_BUILD_DIR" --samples 40 --workers 1,2 \
  --arch mobilenet_v2 --train-steps 3 --strategies uniform,dynamic --probe-seconds 0.25 --min-samples 40 --out "$out" \
  > "$tmp/run.log" 2>&1; rc=$?
echo "scripts/run took $(( $(date +%s) - start )) s"
[ $rc -eq 0 ] && ok "scripts/run (tiny) exits 0" || { bad "scripts/run exit $rc"; tail -40 "$tmp/run.log"; }
# scripts/run installs onnxruntime-node itself (scripts/deps --ort) and says whether the engine
# takes part: the rows expected follow what it said.
engines=libdataparallel,pytorch
if grep -q "engine onnxruntime skipped" "$tmp/run.log"; then echo "skip: the onnxruntime rows: $(grep -m1 "engine onnxruntime skipped" "$tmp/run.log")"
else engines=$engines,onnxruntime; fi
grep -q "Results in $out" "$tmp/run.log" && ok "prints where the results are" || bad "no 'Results in' line"
grep -q "ETA" "$tmp/run.log" && ok "shows progress with an ETA" || bad "no progress/ETA"
"$py" - "$out" "$engines" <<'PYEOF' && ok "CSV has every engine for every cell; JSON/MD/straggler/capacity present" || bad "results check"
import csv, glob, json, os, sys
out, want = sys.argv[1], sorted(sys.argv[2].split(","))
rows = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
cells = {(r["strategy"], r["workers"]) for r in rows}
assert cells == {(s, w) for s in ("uniform", "dynamic") for w in ("1", "2")}, cells
for cell in cells:
    engines = sorted(r["engine"] for r in rows if (r["strategy"], r["workers"]) == cell)
    assert engines == want, (cell, engines)
for r in rows:
    assert int(r["completed"]) + int(r["dropped"]) + int(r["failed"]) == int(r["offered"]) == 40, r
    assert 0 <= float(r["accuracy_pct"]) <= 100, r
assert os.path.exists(os.path.join(out, "models", "mobilenet_v2.npz"))
assert json.load(open(os.path.join(out, "models", "mobilenet_v2.json")))["steps"] == 3
assert len(json.load(open(os.path.join(out, "results.json")))["cells"]) == 4 * len(want)
md = open(os.path.join(out, "results.md")).read()
assert all(md.count("| %s |" % e) == 4 for e in want), md
strag = glob.glob(os.path.join(out, "straggler", "*.json"))
assert len(strag) == 2 * len(want), strag
for p in strag:
    d = json.load(open(p))
    assert len(d["per_worker"]) == 2 and d["slowdown"][:2] == [1, 4], (p, d.get("slowdown"))
caps = glob.glob(os.path.join(out, "capacity", "*.json"))
assert len(caps) == len(want) and all(json.load(open(p))["capacity"] >= 0 for p in caps), caps
s = open(os.path.join(out, "summary.md")).read()
assert "Straggler" in s and "Capacity" in s and ".png" in s and "Accuracy" in s
PYEOF
pngs=$(ls "$out"/plots/*.png 2>/dev/null | wc -l)
[ "$pngs" -ge 4 ] && ok "$pngs PNG plots" || bad "only $pngs PNG plots"
for p in "$out"/plots/*.png; do
  [ "$(head -c 8 "$p" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] && [ "$(stat -c %s "$p")" -gt 10000 ] \
    || bad "$p is not a plausible PNG"
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
