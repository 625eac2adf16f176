#!/usr/bin/env bash
# dp-bench stream --stages: a 2-stage pipeline and a 2 x 2 hybrid deliver every sample id exactly
# once with the data-parallel run's top-1, the JSON names the grid and the cuts; usage errors
# (batch mode has no --stages: the library refuses S > 1 there).
. "$(dirname "$0")/lib.sh"
cli_begin bench_pipeline

expect 2 "stages not dividing workers" -- "$bench" stream --workers 2 --stages 3
mentions "does not divide"
expect 2 "unknown cut" -- "$bench" stream --arch resnet18_cifar --workers 2 --stages 2 --cuts layer9.0 --quiet
mentions "layer3.0"
expect 2 "cut count" -- "$bench" stream --arch resnet18_cifar --workers 2 --stages 2 --cuts layer2.0,layer3.0 --quiet
expect 2 "batch mode" -- "$bench" batch --workers 2 --samples 8 --quiet --stages 2

common=(--arch resnet18_cifar --rate 300 --samples 40 --max-batch 4 --max-delay-us 500 --quiet)
expect 0 "data parallel" -- "$bench" stream "${common[@]}" --workers 2 --predictions "$tmp/dp.csv"
expect 0 "pipeline" -- "$bench" stream "${common[@]}" --workers 2 --stages 2 --cuts layer3.0 --depth 1 \
    --predictions "$tmp/pp.csv" --json "$tmp/pp.json"
expect 0 "hybrid, planned cuts" -- "$bench" stream "${common[@]}" --workers 4 --stages 2 --strategy dynamic \
    --predictions "$tmp/hy.csv" --json "$tmp/hy.json"
if "$py" - "$tmp" <<'PY'
import csv, json, sys
t = sys.argv[1]
def top1(name):
    rows = list(csv.DictReader(open(f"{t}/{name}.csv")))
    ids = sorted(int(r["sample_id"]) for r in rows)
    assert ids == list(range(40)), (name, ids)
    return {int(r["sample_id"]): r["top1"] for r in rows}
ref = top1("dp")
for name in ("pp", "hy"):
    assert top1(name) == ref, name
    j = json.load(open(f"{t}/{name}.json"))
    assert j["stages"] == 2 and len(j["cuts"]) == 1 and j["offered"] == j["completed"] == 40, j
    assert [w["stage"] for w in j["per_worker"]] == [0, 1] * (len(j["per_worker"]) // 2), j["per_worker"]
assert json.load(open(f"{t}/pp.json"))["cuts"] == ["layer3.0"]
assert json.load(open(f"{t}/hy.json"))["replicas"] == 2
PY
then ok; else bad "pipeline predictions or JSON"; fi
cli_end
