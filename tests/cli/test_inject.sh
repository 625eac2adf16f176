#!/usr/bin/env bash
# dp-bench stream --inject: bad SPECs are usage errors naming the bad part; a run with two events
# lists both in the JSON's `events` with what they did, and its accounting stays exact.
. "$(dirname "$0")/lib.sh"
cli_begin inject

common=(--arch resnet18 --workers 2 --quiet)
expect 2 "bad worker" -- "$bench" stream "${common[@]}" --inject at=2s,worker=x,slowdown=4
mentions "'worker=x' is not worker=K"
expect 2 "no unit" -- "$bench" stream "${common[@]}" --inject at=2,worker=1,fail=3
mentions "'at=2' is not at=TIME"
expect 2 "unknown part" -- "$bench" stream "${common[@]}" --inject at=1s,worker=1,melt=2
mentions "'melt=2' is not a part of a fault"
expect 2 "two kinds" -- "$bench" stream "${common[@]}" --inject at=1s,worker=1,fail=3,stall=1s
mentions "'stall=1s' is a second fault"
expect 2 "no kind" -- "$bench" stream "${common[@]}" --inject at=1s,worker=1
mentions "slowdown=F, stall=TIME, fail=N or stop is missing"
expect 2 "fail 0" -- "$bench" stream "${common[@]}" --inject at=1s,worker=1,fail=0
mentions "'fail=0' is not fail=N"
expect 2 "worker beyond --workers" -- "$bench" stream "${common[@]}" --inject at=1s,worker=2,fail=1
mentions "worker 2, but --workers is 2"
expect 2 "stop with a value" -- "$bench" stream "${common[@]}" --inject at=1s,worker=1,stop=2
mentions "'stop=2' takes no value"
expect 2 "not on batch" -- "$bench" batch "${common[@]}" --inject at=1s,worker=1,fail=1
mentions "not an option"

# Two events early in a 1 s run: worker 1 fails its next 2 micro-batches at 0.2 s, worker 0
# stalls 100 ms at 0.3 s.
expect 0 "two events" -- "$bench" stream "${common[@]}" --rate 100 --samples 100 --json "$tmp/s.json" \
    --inject at=0.2s,worker=1,fail=2 --inject at=300ms,worker=0,stall=100ms
if "$py" - "$tmp/s.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
ev = j["events"]
assert len(ev) == 2, ev
stall, fail = ev  # sorted by worker
assert stall == {**stall, "at_s": 0.3, "worker": 0, "kind": "stall", "value": 0.1, "failed": 0}, stall
assert fail == {**fail, "at_s": 0.2, "worker": 1, "kind": "fail", "value": 2}, fail
assert stall["applied_s"] >= 0.3 and fail["applied_s"] >= 0.2, ev
assert fail["failed"] == j["failed"] == j["per_worker"][1]["failed"] == 2, (fail, j["failed"])
# What followed: the fail event's window ends where the stall's begins.
assert fail["window_end_s"] == 0.3 and stall["window_end_s"] >= 0.3, ev
assert stall["window_completed"] + fail["window_completed"] <= j["completed"], ev
assert all(e["straggler_s"] is None or e["straggler_s"] == "never" or e["straggler_s"] >= e["at_s"] for e in ev), ev
assert all(e["weight_before"] is None and e["weights_moved_s"] is None for e in ev), ev  # uniform
assert j["offered"] == j["completed"] + j["dropped"] + j["failed"] == 100, j
PY
then ok; else bad "the JSON's events"; fi

# Worker 1 stops at 0.3 s of a 1 s run: with --retry nothing fails, without it what it held
# fails (counted for the event); the summary says so either way and the accounting stays exact.
for retry in --retry ""; do
    expect 0 "stop $retry" -- "$bench" stream "${common[@]}" --rate 100 --samples 100 --json "$tmp/stop.json" \
        --inject at=0.3s,worker=1,stop $retry
    if "$py" - "$tmp/stop.json" "$retry" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
(stop,) = j["events"]
assert stop["kind"] == "stop" and stop["applied_s"] >= 0.3, stop
assert j["offered"] == j["completed"] + j["dropped"] + j["failed"] == 100, j
if sys.argv[2]:
    assert stop["failed"] == j["failed"] == 0, (stop, j["failed"])
else:
    assert stop["rerouted"] == 0 and stop["failed"] == j["failed"], (stop, j["failed"])
PY
    then ok; else bad "stop $retry: the JSON"; fi
done
cli_end
