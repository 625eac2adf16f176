#!/usr/bin/env bash
# The MPI runner backend under mpirun, loopback only (issue 10): for uniform, dynamic, sharded and
# weighted, 900 samples at 300/s over 2 worker ranks: every sample exactly once, the same top-1 as
# the threads backend, efficiency >= 99.9 %, rank 0 not spinning a core. Then a worker rank that
# stops answering or is killed mid-run: the run ends within the timeout, the summary is written and
# offered == completed + dropped + failed (its in-flight batch failed, or re-dispatched with --retry).
# Also: two micro-batches in flight and running at once per rank (--workers 4 --rank-concurrency 2),
# --slowdown and dp_runner_inject applied on the worker rank (also via dp-bench --inject, with a
# stop), batch mode, the per-worker log, and a 2-stage pipeline over 2 worker ranks (issue 18),
# also with its second stage's rank failing.
#
# The model is torchvision resnet18 at 32x32 (about 2-3 ms per sample on one core): 3 ranks on a
# 2-core machine keep up at 300/s (resnet18_cifar, ~20 ms per sample here, cannot).
# Efficiency is a timing figure on a shared machine: after a miss the threads backend runs the same
# stream; a strategy fails when it misses twice while the threads backend keeps up. An attempt
# where the threads backend misses as well is reported (machine overloaded), not judged; up to 3.
set -uo pipefail
bench="$DP_BIN_DIR/dp-bench"
plugin="$DP_LIB_DIR/libdataparallel_mpi.so.0"
py="${DP_PYTHON3:-/usr/bin/python3}"
tmp="$DP_TEST_TMP/mpi"
if [ ! -e "$plugin" ]; then
    echo "SKIP: the MPI backend was not built ($plugin is missing: install Open MPI, e.g. scripts/deps, and reconfigure)"
    echo "0 passed, 0 failed"
    exit 0
fi
rm -rf "$tmp" && mkdir -p "$tmp"
cd "$tmp" || exit 1
# CI runs as root; Open MPI refuses that unless told. PASSIVE: idle OpenMP threads sleep.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=PASSIVE
mpirun=(mpirun --oversubscribe --bind-to none -np 3)
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

common=(--arch resnet18 --workers 2 --rate 300 --samples 900 --quiet)
"$bench" stream "${common[@]}" --strategy uniform --predictions ref.csv --json ref.json >ref.out 2>&1 ||
    { bad "threads reference run"; cat ref.out; }

# check.py JSON PREDICTIONS REFERENCE [WORKERS]: exactly-once, same top-1, accounting; prints
# efficiency, rank 0 CPU and p99.
cat >check.py <<'EOF'
import csv, json, sys
j = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
ref = {int(r["sample_id"]): int(r["top1"]) for r in csv.DictReader(open(sys.argv[3]))}
ids = sorted(int(r["sample_id"]) for r in rows)
assert ids == list(range(900)), "sample ids not exactly 0..899 once each: %d rows" % len(ids)
diff = [int(r["sample_id"]) for r in rows if int(r["top1"]) != ref[int(r["sample_id"])]]
assert not diff, "top-1 differs from the threads backend for samples %s" % diff[:10]
assert len(ref) == 900 and len(set(ref.values())) > 1, "reference predictions are degenerate"
assert j["offered"] == j["completed"] == 900 and j["dropped"] == 0 and j["failed"] == 0, j
W = int(sys.argv[4]) if len(sys.argv) > 4 else 2
assert j["workers"] == W and all(w["completed"] > 0 for w in j["per_worker"]), j["per_worker"]
assert {int(r["worker"]) for r in rows} == set(range(W))
# A rank-0 that busy-polls shows ~100 % here (one core); sleeping polls keep it to a few %.
assert j["cpu_pct"] < 50, "rank 0 used %.1f %% CPU" % j["cpu_pct"]
print("%.3f %.1f %.2f" % (j["efficiency_pct"], j["cpu_pct"], j["latency_ms"]["p99"]))
EOF

# efficiency FILE: the summary's efficiency_pct.
efficiency() { "$py" -c "import json, sys; print('%.3f' % json.load(open(sys.argv[1]))['efficiency_pct'])" "$1"; }
above() { "$py" -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 99.9 else 1)" "$1"; }

for s in uniform dynamic sharded weighted; do
    misses=0
    for attempt in 1 2 3; do
        rm -f "$s.json" "$s.csv"
        timeout 120 "${mpirun[@]}" "$bench" stream "${common[@]}" --strategy $s --backend mpi \
            --json "$s.json" --predictions "$s.csv" >"$s.out" 2>&1
        rc=$?
        if [ $rc -ne 0 ]; then bad "$s: mpirun exit $rc"; cat "$s.out"; break; fi
        if ! res=$("$py" check.py "$s.json" "$s.csv" ref.csv 2>&1); then bad "$s: $res"; break; fi
        [ $attempt -eq 1 ] && ok # exactly once, same top-1, accounting, rank 0 CPU
        read -r eff cpu p99 <<<"$res"
        echo "$s: efficiency $eff %, rank 0 CPU $cpu %, p99 $p99 ms (attempt $attempt)"
        if above "$eff"; then ok; break; fi
        # A miss counts only if the threads backend, run right after, keeps up on this machine.
        "$bench" stream "${common[@]}" --strategy $s --json "th-$s.json" >/dev/null 2>&1
        th=$(efficiency "th-$s.json")
        if above "$th"; then
            misses=$((misses + 1))
            echo "$s: the threads backend reached $th % right after"
            [ $misses -ge 2 ] && { bad "$s: efficiency < 99.9 % twice while the threads backend kept up"; break; }
        else
            echo "NOTE: $s: the machine is overloaded (threads backend: $th %): attempt not judged"
        fi
        [ $attempt -eq 3 ] && echo "NOTE: $s: efficiency not judged (machine overloaded)"
    done
done

# Two micro-batches in flight per rank (--workers 4 on 2 worker ranks), run at once on two lanes
# per rank: still exactly once, the same top-1.
timeout 120 "${mpirun[@]}" "$bench" stream "${common[@]}" --strategy dynamic --backend mpi \
    --workers 4 --rank-concurrency 2 --json w4.json --predictions w4.csv >w4.out 2>&1
if res=$("$py" check.py w4.json w4.csv ref.csv 4 2>&1); then ok; else bad "--workers 4: $res"; cat w4.out; fi

# tests/mpi/runtime_cost prints rank 0's per-worker lines (--log) and the run's counters.
cost="$DP_BUILD_DIR/tests/runtime_cost"
# counters FILE: "offered completed failed" from runtime_cost's run line.
counters() { sed -n 's/^run offered=\([0-9]*\) completed=\([0-9]*\) failed=\([0-9]*\).*/\1 \2 \3/p' "$1"; }

# Lanes really overlap: workers 0 and 2 both talk to rank 1 and are both stalled 0.5 s at 0.2 s (the
# stall is slept on the rank): with two lanes rank 1 ran 2 batches at once; nothing lost.
timeout 60 "${mpirun[@]}" "$cost" --backend mpi --arch null --workers 4 --rank-concurrency 2 --rate 200 \
    --samples 400 --inject 0:stall:0.5:0.2 --inject 2:stall:0.5:0.2 --log >lanes.out 2>&1
if [ "$(grep -c 'worker [02] (rank 1).*at most 2 batches at once' lanes.out)" -eq 2 ] &&
    [ "$(counters lanes.out)" = "400 400 0" ]; then ok; else bad "two lanes per rank"; cat lanes.out; fi

# --slowdown is applied on the worker rank: rank 2 (factor 8) reports a longer time on the rank
# than rank 1 (factor 1), and rank 0 does not spin it (its CPU stays low).
timeout 60 "${mpirun[@]}" "$cost" --backend mpi --arch resnet18 --workers 2 --rate 100 --samples 200 \
    --slowdown 1,8 --log >slow.out 2>&1
if "$py" - slow.out <<'EOF2'
import re, sys
t = open(sys.argv[1]).read()
on = {int(k): float(v) for k, v in re.findall(r"worker (\d) \(rank \d\).*inference on the rank ([\d.]+) us", t)}
cpu = float(re.search(r"cpu_pct=([\d.]+)", t).group(1))
print("slowdown on the rank: %.0f vs %.0f us per batch, rank 0 CPU %.1f %%" % (on[1], on[0], cpu))
assert on[1] > 2 * on[0] and cpu < 50, (on, cpu)
assert re.search(r"run offered=200 completed=200 failed=0", t)
EOF2
then ok; else bad "slowdown on the worker rank"; cat slow.out; fi

# dp_runner_inject over MPI: 2 micro-batches of worker 1 fail on rank 2, counted; a stall and a
# slowdown on worker 0 lose nothing.
timeout 60 "${mpirun[@]}" "$cost" --backend mpi --arch null --workers 2 --rate 200 --samples 300 \
    --inject 1:fail:2:0.3 --inject 0:stall:0.2:0.3 --inject 0:slowdown:3:0.5 --log >inject.out 2>&1
if [ "$(counters inject.out)" = "300 298 2" ] && grep -q "worker 1 failed 2 samples" inject.out; then ok
else bad "inject over MPI"; cat inject.out; fi

# dp-bench stream --inject over MPI: worker 1 fails 2 micro-batches (of 1 sample at 200/s), then
# worker 0 stops and --retry hands what it held to worker 1. Exactly 2 failed, the others completed
# once each, and the stop's report says it applied and what followed.
timeout 60 "${mpirun[@]}" "$bench" stream --arch resnet18 --workers 2 --rate 200 --samples 300 --quiet \
    --backend mpi --retry --inject at=0.3s,worker=1,fail=2 --inject at=0.6s,worker=0,stop \
    --json cli_inject.json --predictions cli_inject.csv >cli_inject.out 2>&1
if "$py" - cli_inject.json cli_inject.csv <<'EOF2'
import csv, json, sys
j = json.load(open(sys.argv[1]))
ids = [int(r["sample_id"]) for r in csv.DictReader(open(sys.argv[2]))]
assert j["offered"] == 300 == j["completed"] + j["dropped"] + j["failed"], j
assert j["failed"] == 2 and len(ids) == len(set(ids)) == j["completed"], (j["failed"], len(ids))
ev = {e["kind"]: e for e in j["events"]}
assert ev["fail"]["failed"] == 2 and ev["fail"]["applied_s"] is not None, ev["fail"]
stop = ev["stop"]
assert stop["applied_s"] is not None and stop["failed"] == 0 and stop["window_completed"] > 0, stop
EOF2
then ok; else bad "dp-bench --inject over MPI"; cat cli_inject.out; fi

# Batch mode over MPI (the data set split by the partitioner): every sample exactly once.
timeout 120 "${mpirun[@]}" "$bench" batch --arch resnet18 --workers 2 --strategy weighted --samples 300 \
    --backend mpi --quiet --json batch.json --predictions batch.csv >batch.out 2>&1
if "$py" - batch.json batch.csv <<'EOF2'
import csv, json, sys
j = json.load(open(sys.argv[1]))
ids = sorted(int(r["sample_id"]) for r in csv.DictReader(open(sys.argv[2])))
assert ids == list(range(300)), len(ids)
assert j["per_worker"][0]["completed"] + j["per_worker"][1]["completed"] == 300, j["per_worker"]
EOF2
then ok; else bad "batch mode over MPI"; cat batch.out; fi

# Pipeline stages over MPI (docs/pipeline.md, "Over MPI"): 3 ranks, 2 stages cut at layer3.0, so
# rank 1 runs stage 0 and rank 2 stage 1 and each activation is relayed through rank 0. Every sample
# exactly once with the unsplit model's top-1 (ref.csv: threads backend, whole model), and the bytes:
# per stage the activation at the cut, on the wire (--max-batch 1: one message per sample and stage)
# image + activation out and activation + logits back, plus a header per message.
pipe=(--arch resnet18 --workers 2 --rate 300 --samples 900 --strategy uniform --backend mpi --stages 2)
timeout 120 "${mpirun[@]}" "$bench" stream "${pipe[@]}" \
    --cuts layer3.0 --max-batch 1 --json st.json --predictions st.csv >st.out 2>&1
cat >stages.py <<'EOF2'
import csv, json, sys
j = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
ref = {int(r["sample_id"]): int(r["top1"]) for r in csv.DictReader(open(sys.argv[3]))}
N, failed_ok = int(sys.argv[4]), int(sys.argv[5])
top1 = {int(r["sample_id"]): int(r["top1"]) for r in rows}
assert len(top1) == len(rows) == j["completed"] and set(top1) <= set(range(N)), "a sample twice or lost: %d rows" % len(rows)
assert j["offered"] == N == j["completed"] + j["dropped"] + j["failed"], j
assert j["failed"] == failed_ok and j["dropped"] == 0, ("failed", j["failed"], "dropped", j["dropped"])
diff = [i for i in top1 if top1[i] != ref[i]]
assert not diff, "top-1 differs from the unsplit model for samples %s" % diff[:10]
assert {int(r["worker"]) for r in rows} == {1}, "only the last stage completes samples"
p = j["pipeline"]
assert p["stages"] == 2 and p["replicas"] == 1 and j["cuts"] == ["layer3.0"], (p["stages"], j.get("cuts"))
act, img, logits, hdr = 128 * 4 * 4 * 4, 3 * 32 * 32 * 4, 10 * 4, 256  # resnet18 at 32x32, K = 10
s0, s1 = p["per_stage"]
# Stage 0 handed every sample on (a failure in stage 1 comes after the hand-over).
assert s0["bytes_sent"] == act * N and s1["bytes_sent"] == 0, (s0, s1)
if not failed_ok:
    # Besides the samples: a prepare per worker (with the cut) and an end of run per rank.
    out, back = N * (img + act + 2 * hdr), N * (act + logits + 2 * hdr)
    assert 0 <= j["wire_bytes_out"] - out <= 8 * hdr, (j["wire_bytes_out"], out)
    assert 0 <= j["wire_bytes_in"] - back <= 8 * hdr, (j["wire_bytes_in"], back)
print("%.0f B/sample out, %.0f back; activation %d B vs image %d B" %
      (j["wire_bytes_out"] / N, j["wire_bytes_in"] / N, act, img))
EOF2
if res=$("$py" stages.py st.json st.csv ref.csv 900 0 2>&1) && grep -q "^  network .* B/sample to the worker ranks" st.out
then ok; echo "stages over MPI: $res"; else bad "stages over MPI: $res"; cat st.out; fi

# A stage rank that stops answering (rank 2, stage 1, after 60 batches): the batch it held fails,
# counted on stage 1's worker; later batches of stage 1 go to rank 1, which prepares stage 1 then;
# every other sample completes once with the unsplit top-1 and nothing hangs.
timeout 120 "${mpirun[@]}" -x DP_MPI_TEST_FAULT=2:60:stall "$bench" stream "${pipe[@]}" --quiet \
    --cuts layer3.0 --max-batch 1 --worker-timeout 2 --json stf.json --predictions stf.csv >stf.out 2>&1
if res=$("$py" stages.py stf.json stf.csv ref.csv 900 1 2>&1) && grep -q "worker 1 failed 1 samples" stf.out
then ok; else bad "a failing stage rank: $res"; cat stf.out; fi

# Rank 0's per-worker log of round trip vs inference on the rank (tests/mpi/mpi_overhead.c).
timeout 60 "${mpirun[@]}" "$DP_BUILD_DIR/tests/mpi_overhead" resnet18 300 300 >overhead.out 2>&1
if [ "$(grep -c 'MPI path .* the rank ran 150 samples' overhead.out)" -eq 2 ]; then ok; else bad "mpi_overhead"; cat overhead.out; fi
grep "MPI path" overhead.out

# fault.py JSON: accounting holds after a worker rank's failure; prints failed and completed.
cat >fault.py <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["offered"] == 900, j
assert j["offered"] == j["completed"] + j["dropped"] + j["failed"], j
print(j["failed"], j["completed"])
EOF

# fault NAME MODE MPIRUN-FLAGS BENCH-FLAGS: rank 2 fails after answering 60 batches; sets
# failed and completed from the summary (empty when the run did not produce one).
fault() {
    local name=$1 mode=$2 mflags=$3 bflags=$4 t0 t1 rc res
    failed="" completed=""
    t0=$(date +%s)
    # shellcheck disable=SC2086
    timeout 120 "${mpirun[@]}" $mflags -x DP_MPI_TEST_FAULT=2:60:$mode "$bench" stream "${common[@]}" \
        --strategy uniform --backend mpi --worker-timeout 2 $bflags --json "$name.json" >"$name.out" 2>&1
    rc=$?
    t1=$(date +%s)
    if [ $rc -eq 124 ]; then bad "$name: hung (killed after 120 s)"; cat "$name.out"; return; fi
    # 3 s of stream + the 2 s timeout + up to 1 s to give up on the dead rank + start-up.
    if [ $((t1 - t0)) -gt 40 ]; then bad "$name: took $((t1 - t0)) s"; fi
    if ! grep -q "worker rank 2 did not answer within 2 s" "$name.out"; then bad "$name: no dead-rank warning"; cat "$name.out"; fi
    if ! res=$("$py" fault.py "$name.json" 2>&1); then bad "$name: $res"; cat "$name.out"; return; fi
    read -r failed completed <<<"$res"
    echo "$name: $failed failed, $completed completed, $((t1 - t0)) s, mpirun exit $rc"
}

fault stall stall "" ""
if [ "${failed:-0}" -ge 1 ] && [ "${completed:-0}" -ge 800 ]; then ok; else bad "stall: failed=$failed completed=$completed"; fi
fault stall-retry stall "" --retry
if [ "${failed:-1}" -eq 0 ] && [ "${completed:-0}" -eq 900 ]; then ok; else bad "stall --retry: failed=$failed completed=$completed"; fi
# A killed rank: without --enable-recovery mpirun tears the whole job down (Open MPI 4.x).
fault kill kill --enable-recovery ""
if [ "${failed:-0}" -ge 1 ] && [ "${completed:-0}" -ge 800 ]; then ok; else bad "kill: failed=$failed completed=$completed"; fi

# Started without mpirun: one rank, a clear message.
"$bench" stream "${common[@]}" --backend mpi >single.out 2>&1
if [ $? -eq 1 ] && grep -q "mpirun" single.out; then ok; else bad "single process: no clear error"; cat single.out; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
