#!/usr/bin/env bash
# dp-bench batch: every strategy gives every sample exactly once in --predictions with the same
# top-1 as one worker; JSON fields; stragglers flagged; CIFAR-10 and .npy data; usage errors.
. "$(dirname "$0")/lib.sh"
cli_begin bench_batch

expect 0 "--help" -- "$bench" batch --help
mentions "--strategy"
mentions "--slowdown"
mentions "--predictions"
expect 2 "unknown flag" -- "$bench" batch --frobnicate
expect 2 "zero workers" -- "$bench" batch --workers 0
mentions "--workers"
expect 2 "unknown strategy" -- "$bench" batch --strategy nosuch --quiet
mentions "--strategy: 'nosuch' is not uniform, sharded, dynamic or weighted"
expect 2 "bad data spec" -- "$bench" batch --data tape:x --quiet
expect 1 "missing cifar file" -- "$bench" batch --data cifar10:$tmp/none.bin --quiet
mkdir -p "$tmp/adir"
expect 1 "directory as --weights" -- "$bench" batch --weights "$tmp/adir" --quiet
mentions "adir: is a directory"
expect 1 "directory as npy data" -- "$bench" batch --data "npy:$tmp/adir" --quiet
mentions "adir: is a directory"
expect 2 "more slowdowns than workers" -- "$bench" batch --workers 1 --slowdown 1,2

common=(--arch resnet18 --samples 23 --quiet)
expect 0 "reference run" -- "$bench" batch "${common[@]}" --strategy uniform --workers 1 --predictions "$tmp/ref.csv"
for s in uniform sharded dynamic weighted; do
    for w in 2 3; do
        expect 0 "$s W=$w" -- "$bench" batch "${common[@]}" --strategy $s --workers $w --max-batch 2 \
            --predictions "$tmp/p.csv" --json "$tmp/b.json"
        if "$py" - "$tmp/ref.csv" "$tmp/p.csv" "$tmp/b.json" "$w" <<'EOF'
import csv, json, sys
ref = {int(r["sample_id"]): int(r["top1"]) for r in csv.DictReader(open(sys.argv[1]))}
rows = list(csv.DictReader(open(sys.argv[2])))
ids = [int(r["sample_id"]) for r in rows]
assert sorted(ids) == list(range(23)), "ids %s" % ids
assert all(int(r["top1"]) == ref[int(r["sample_id"])] for r in rows), "top-1 differs"
w = int(sys.argv[4])
assert all(0 <= int(r["worker"]) < w for r in rows)
j = json.load(open(sys.argv[3]))
for k in ["elapsed_s", "throughput", "per_worker", "offered", "completed", "accuracy_pct", "arch", "strategy",
          "workers", "threads_per_worker"]:
    assert k in j, k
assert j["completed"] == 23 and j["workers"] == w and len(j["per_worker"]) == w
for p in j["per_worker"]:
    for k in ["samples", "busy_s", "busy_pct", "mean_service_ms", "straggler"]:
        assert k in p, k
assert sum(p["samples"] for p in j["per_worker"]) == 23
EOF
        then ok; else bad "$s W=$w predictions/json"; fi
    done
done

# Of three workers, one 8x slower is flagged as a straggler; weighted gives it fewer samples.
expect 0 "straggler" -- "$bench" batch --arch resnet18 --samples 60 --quiet --workers 3 --strategy weighted \
    --slowdown 1,1,8 --json "$tmp/s.json"
if "$py" - "$tmp/s.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
p = j["per_worker"]
assert p[2]["straggler"] is True and p[0]["straggler"] is False, p
assert p[2]["samples"] < p[0]["samples"], p
assert j["slowdown"] == [1, 1, 8]
EOF
then ok; else bad "straggler flag / weighted shift"; fi

# Two workers, one 6x slower: it is flagged against its peer, the fast one is not.
expect 0 "straggler of two" -- "$bench" batch --arch resnet18 --samples 30 --quiet --workers 2 --slowdown 1,6 --json "$tmp/s2.json"
if "$py" -c "
import json; p=json.load(open('$tmp/s2.json'))['per_worker']; assert p[1]['straggler'] is True and p[0]['straggler'] is False, p"; then ok; else bad "straggler of two"; fi

# CIFAR-10 binary records (label byte + 3072 bytes) and a .npy array.
"$py" - "$tmp" <<'EOF'
import os, sys, numpy as np
rng = np.random.default_rng(3)
recs = bytearray()
for i in range(30):
    recs.append(i % 10)
    recs += rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
open(os.path.join(sys.argv[1], "test_batch.bin"), "wb").write(bytes(recs))
np.save(os.path.join(sys.argv[1], "x.npy"), rng.standard_normal((9, 3, 32, 32)).astype(np.float32))
EOF
expect 0 "cifar10 data" -- "$bench" batch --arch resnet18 --workers 2 --strategy dynamic --data cifar10:$tmp/test_batch.bin \
    --json "$tmp/c.json" --predictions "$tmp/c.csv"
mentions "accuracy"
if "$py" -c "
import json,sys; j=json.load(open('$tmp/c.json')); assert j['labelled']==30 and j['completed']==30 and 0<=j['accuracy_pct']<=100, j" \
    && [ "$(wc -l <"$tmp/c.csv")" -eq 31 ]; then ok; else bad "cifar10 accuracy/predictions"; fi
expect 0 "cifar10 --samples" -- "$bench" batch --arch resnet18 --data cifar10:$tmp/test_batch.bin --samples 7 --quiet --json "$tmp/c7.json"
if "$py" -c "import json; j=json.load(open('$tmp/c7.json')); assert j['completed']==7, j"; then ok; else bad "--samples subset"; fi
expect 0 "npy data" -- "$bench" batch --arch resnet18 --workers 2 --data npy:$tmp/x.npy --quiet --json "$tmp/n.json"
if "$py" -c "import json; j=json.load(open('$tmp/n.json')); assert j['completed']==9 and j['labelled']==0 and 'accuracy_pct' not in j, j"; then ok; else bad "npy data"; fi
expect 0 "zero samples" -- "$bench" batch --arch resnet18 --samples 0 --workers 2 --quiet --json "$tmp/z.json"
if "$py" -c "import json; j=json.load(open('$tmp/z.json')); assert j['offered']==0 and j['completed']==0, j"; then ok; else bad "zero samples"; fi

cli_end
