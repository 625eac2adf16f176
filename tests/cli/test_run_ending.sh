#!/usr/bin/env bash
# How a dp-bench run ends when something outside it goes wrong: a sink that cannot write fails
# the run the same way whichever sink it is (exit 1, the summary JSON still written with what
# completed), and SIGTERM (what Slurm, systemd and containers send) ends it like SIGINT: summary,
# JSON and predictions written, exit 128 + the signal.
. "$(dirname "$0")/lib.sh"
cli_begin run_ending
cd "$tmp"
run=(stream --arch resnet18 --workers 2 --rate 400 --samples 200 --quiet)

if [ -w /dev/full ]; then
    for sink in csv jsonl; do
        rm -f s.json
        expect 1 "--$sink /dev/full" -- "$bench" "${run[@]}" "--$sink" /dev/full --json s.json
        mentions "/dev/full"
        if "$py" -c "import json,sys; d=json.load(open('s.json')); sys.exit(d['completed'] != 200)" 2>/dev/null; then
            ok
        else
            bad "--$sink /dev/full: no summary JSON with 200 completed"
        fi
    done
else
    echo "skipped: /dev/full is not writable here"
fi

# A long run stopped by a signal once it has started serving.
for sig in INT TERM; do
    rm -f s.json p.csv
    rm -f c.csv
    "$bench" stream --arch resnet18 --workers 2 --rate 100 --samples 100000 --quiet --json s.json \
        --predictions p.csv --csv c.csv --interval-ms 100 >out.txt 2>&1 &
    pid=$!
    # Once an interval row is written the run is serving (its handlers are installed).
    for _ in $(seq 600); do
        [ "$(cat c.csv 2>/dev/null | wc -l)" -ge 3 ] && break
        sleep 0.1
    done
    kill -"$sig" "$pid"
    wait "$pid"
    rc=$?
    want=$((128 + $(kill -l "$sig")))
    if [ "$rc" -eq "$want" ]; then ok; else bad "SIG$sig: exit $rc, expected $want"; cat out.txt; fi
    if "$py" -c "
import json, sys
d = json.load(open('s.json'))
rows = sum(1 for _ in open('p.csv')) - 1
sys.exit(not (d['signal'] == $(kill -l "$sig") and 0 < d['completed'] == d['offered'] < 100000 and rows == d['completed']))
" 2>/dev/null; then ok; else bad "SIG$sig: summary JSON or predictions missing or wrong"; fi
done
cli_end
