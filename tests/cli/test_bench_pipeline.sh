#!/usr/bin/env bash
# dp-bench stream|batch --stages: a 2-stage pipeline and a 2 x 2 hybrid deliver every sample id
# exactly once with the data-parallel run's top-1, the JSON names the grid, the cuts and the
# pipeline metrics; usage errors; batch mode with weighted's profiling refuses stages (exit 1, saying
# why). Stages over MPI: tests/cli/test_mpi.sh.
. "$(dirname "$0")/lib.sh"
cli_begin bench_pipeline

expect 2 "stages not dividing workers" -- "$bench" stream --workers 2 --stages 3
mentions "does not divide"
expect 2 "unknown cut" -- "$bench" stream --arch resnet18_cifar --workers 2 --stages 2 --cuts layer9.0 --quiet
mentions "layer3.0"
expect 2 "cut count" -- "$bench" stream --arch resnet18_cifar --workers 2 --stages 2 --cuts layer2.0,layer3.0 --quiet
expect 1 "batch, weighted profiling" -- "$bench" batch --workers 2 --samples 8 --quiet --stages 2 --strategy weighted
mentions "one per replica"

common=(--arch resnet18_cifar --rate 300 --samples 40 --max-batch 4 --max-delay-us 500 --quiet)
expect 0 "data parallel" -- "$bench" stream "${common[@]}" --workers 2 --predictions "$tmp/dp.csv"
expect 0 "pipeline" -- "$bench" stream "${common[@]}" --workers 2 --stages 2 --cuts layer3.0 --depth 1 \
    --predictions "$tmp/pp.csv" --json "$tmp/pp.json"
expect 0 "hybrid, planned cuts" -- "$bench" stream "${common[@]}" --workers 4 --stages 2 --strategy dynamic \
    --predictions "$tmp/hy.csv" --json "$tmp/hy.json"
expect 0 "batch, hybrid" -- "$bench" batch --arch resnet18_cifar --samples 40 --max-batch 4 --quiet --workers 4 \
    --stages 2 --strategy dynamic --predictions "$tmp/bh.csv" --json "$tmp/bh.json"
if "$py" - "$tmp" <<'PY'
import csv, json, sys
t = sys.argv[1]
def top1(name):
    rows = list(csv.DictReader(open(f"{t}/{name}.csv")))
    ids = sorted(int(r["sample_id"]) for r in rows)
    assert ids == list(range(40)), (name, ids)
    return {int(r["sample_id"]): r["top1"] for r in rows}
ref = top1("dp")
for name in ("pp", "hy", "bh"):
    assert top1(name) == ref, name
    j = json.load(open(f"{t}/{name}.json"))
    assert j["stages"] == 2 and len(j["cuts"]) == 1 and j["offered"] == j["completed"] == 40, j
    p = j["pipeline"]
    assert (p["stages"], p["replicas"]) == (2, j["replicas"]) and 0 <= p["bubble_pct"] <= 100, p
    assert sum(s["bytes_sent"] for s in p["per_stage"] if s["stage"] == 0) > 0, p
    assert all(s["bytes_sent"] == 0 for s in p["per_stage"] if s["stage"] == 1), p
    assert [w["stage"] for w in j["per_worker"]] == [0, 1] * (len(j["per_worker"]) // 2), j["per_worker"]
assert json.load(open(f"{t}/pp.json"))["cuts"] == ["layer3.0"]
assert json.load(open(f"{t}/hy.json"))["replicas"] == 2
PY
then ok; else bad "pipeline predictions or JSON"; fi

# split: three plans over one profile; the planner's slowest stage is never predicted slower
# than the equal-unit split's, and a slower second stage moves the cut later.
expect 2 "split one stage" -- "$bench" split --arch resnet18_cifar --stages 1
expect 2 "split speeds count" -- "$bench" split --arch resnet18_cifar --stages 2 --speeds 1
expect 0 "split" -- "$bench" split --arch resnet18_cifar --stages 2 --iters 2 --json "$tmp/even.json"
mentions "slowest stage"
expect 0 "split, slow second stage" -- "$bench" split --arch resnet18_cifar --stages 2 --iters 2 --speeds 1,0.25 \
    --json "$tmp/slow.json"
if "$py" - "$tmp" <<'PY'
import json, sys
t = sys.argv[1]
even, slow = (json.load(open(f"{t}/{n}.json")) for n in ("even", "slow"))
for j in (even, slow):
    p = {x["method"]: x for x in j["plans"]}
    assert set(p) == {"optimal", "greedy", "equal-units"}, p
    assert p["optimal"]["bottleneck_predicted_ms"] <= p["equal-units"]["bottleneck_predicted_ms"] + 1e-9
    assert p["optimal"]["bottleneck_predicted_ms"] <= p["greedy"]["bottleneck_predicted_ms"] + 1e-9
    assert all(s["measured_ms"] > 0 for s in p["optimal"]["stages"])
# The profiles differ between the runs, so only a large speed gap is asserted to move the cut.
units = ["conv1"] + [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)] + ["avgpool", "linear"]
cut = lambda j: units.index(j["plans"][0]["stages"][1]["first"])
assert cut(slow) >= cut(even), (cut(slow), cut(even))
PY
then ok; else bad "split plans"; fi
cli_end
