#!/usr/bin/env bash
# dp-bench --dashboard, end to end in a real browser: a short stream with a straggler serves the
# dashboard; its feed is checked (rows, per-worker state, summary), bad requests and many idle
# connections do not stop it, a second dashboard on the same port only costs a warning; then
# headless Chromium opens the page after the run, the page's own count of points per chart must
# show data in every chart, and a screenshot (kept as $DP_TEST_TMP/dashboard/dashboard.png) must
# not be blank. Chromium parts are skipped, saying why, only where chromium is not installed.
source "$(dirname "$0")/lib.sh"
cli_begin dashboard

expect 0 "--help lists --dashboard" -- "$bench" stream --help
mentions "--dashboard HOST:PORT"
mentions "--dashboard-linger S"
expect 2 "a malformed address is a usage error" -- "$bench" stream --dashboard nonsense --samples 5
mentions "HOST:PORT"

# 2 workers, worker 1 three times slower, 400 samples at 200/s: about 2 s, then it lingers.
"$bench" stream --arch resnet18_cifar --workers 2 --rate 200 --samples 400 --slowdown 1,3 --quiet \
  --dashboard 127.0.0.1:0 --dashboard-linger 60 --json "$tmp/run.json" >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
port=""
for _ in $(seq 100); do
  port=$(sed -n 's|.*dashboard at http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$tmp/run.err")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] && ok || { bad "no 'dashboard at http://127.0.0.1:PORT/' line"; cat "$tmp/run.err"; exit 1; }
url="http://127.0.0.1:$port"

# While it runs: bad requests are answered and the run goes on; 12 idle connections from one
# client (more than the 8 one address may hold) do not keep another client out.
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/api/state")" = 405 ] && ok || bad "POST is not 405"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/../../etc/passwd")" = 404 ] && ok || bad "a bad path is not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/api/state?from=zz&run=-1")" = 200 ] && ok || bad "bad query arguments"
idle=()
for _ in $(seq 12); do exec {fd}<>/dev/tcp/127.0.0.1/"$port" && idle+=("$fd"); done
[ "$(curl -s -m 10 --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "$url/api/state")" = 200 ] && ok ||
  bad "another client got no reply while one held idle connections"
for fd in "${idle[@]}"; do exec {fd}>&-; done

# A second dashboard on the same port: a warning, and its run completes.
expect 0 "port in use: the run goes on" -- "$bench" stream --arch resnet18_cifar --rate 200 --samples 20 --quiet \
  --dashboard "127.0.0.1:$port"
mentions "the run goes on without it"

# Wait for the end of the run: the feed then carries the summary.
for _ in $(seq 600); do
  curl -s "$url/api/state" >"$tmp/state.json" 2>/dev/null && grep -q '"running":false' "$tmp/state.json" && break
  sleep 0.2
done
"$py" - "$tmp/state.json" "$tmp/run.json" <<'EOF' && ok || bad "the feed after the run (above)"
import json, sys
st = json.load(open(sys.argv[1]))
run = json.load(open(sys.argv[2]))
assert st["run"]["arch"] == "resnet18_cifar" and st["run"]["workers"] == 2 and not st["run"]["running"], st["run"]
assert st["run"]["target_rate"] == 200 and st["run"]["expected_samples"] == 400, st["run"]
cols = st["columns"]
assert len(st["rows"]) >= 2 and all(len(r) == len(cols) for r in st["rows"]), len(st["rows"])
last = dict(zip(cols, st["rows"][-1]))
assert last["offered"] == 400 and last["completed"] == run["completed"] == st["summary"]["completed"], last
assert st["summary"]["offered"] == 400 and len(st["per_worker"]) == 2, st["summary"]
assert [w["completed"] for w in st["per_worker"]] == [w["completed"] for w in run["per_worker"]], st["per_worker"]
t = [r[cols.index("t_s")] for r in st["rows"]]
assert t == sorted(t) and t[0] > 0, t
EOF

if ! command -v chromium >/dev/null; then
  echo "skip: the browser checks: chromium is not installed (scripts/deps installs it)"
else
  # --virtual-time-budget lets the page's first poll and drawing finish before the DOM is dumped.
  chrome=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars
          --virtual-time-budget=5000 --user-data-dir="$tmp/chromium")
  timeout 120 "${chrome[@]}" --dump-dom "$url/" >"$tmp/dom.html" 2>"$tmp/chromium.log"
  "$py" - "$tmp/dom.html" <<'EOF' && ok || { bad "the page in Chromium (above)"; tail -5 "$tmp/chromium.log"; }
import html, json, re, sys
dom = open(sys.argv[1]).read()
m = re.search(r'<body[^>]*data-state="([a-z]+)"[^>]*data-points="([^"]*)"', dom)
assert m, "no body with data-state and data-points: " + dom[:300]
state, points = m.group(1), json.loads(html.unescape(m.group(2)))
print("page state %s, points per chart %s" % (state, points))
assert state == "done", state
charts = ("rate", "latency", "drops", "queue", "cpu", "memory")
assert all(points.get(c, 0) >= 2 for c in charts), points
assert "straggler" in dom and "Summary of the run" in dom, "no straggler row or no summary"
EOF
  timeout 120 "${chrome[@]}" --window-size=1280,1400 --screenshot="$tmp/dashboard.png" "$url/" >>"$tmp/chromium.log" 2>&1
  "$py" - "$tmp/dashboard.png" <<'EOF' && ok || bad "the screenshot (above)"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
assert (w, h) == (1280, 1400) and depth == 8 and ctype in (2, 6), (w, h, depth, ctype)
idat, pos = b"", 8
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IDAT":
        idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw, bpp = zlib.decompress(idat), 3 if ctype == 2 else 4
# Undo the PNG row filters, then count what is not the page background.
stride, prev, rows = w * bpp, bytearray(w * bpp), []
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a, b = line[i - bpp] if i >= bpp else 0, prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line))
    prev = line
pixels = [r[i:i + 3] for r in rows[::4] for i in range(0, stride, bpp * 4)]
colours = len(set(pixels))
busy = sum(p != pixels[-1] for p in pixels) / len(pixels)
print("screenshot %dx%d: %d colours, %.0f%% not background" % (w, h, colours, 100 * busy))
assert colours >= 20 and busy > 0.15, (colours, busy)
EOF
  echo "screenshot: $tmp/dashboard.png"
fi

# The Grafana dashboard of docs/: import-ready JSON whose every query is valid PromQL (promtool
# checks them as recording rules, with Grafana's variables given values) over metrics the
# Prometheus sink serves (the metric table of docs/metrics.md).
"$py" - "$DP_SOURCE_DIR/docs/grafana/dataparallel.json" "$DP_SOURCE_DIR/docs/metrics.md" "$tmp/rules.yml" <<'EOF' && ok || bad "docs/grafana/dataparallel.json (above)"
import json, re, sys
dash = json.load(open(sys.argv[1]))
served = set(re.findall(r"^\| `(dp_[a-z_]+)` \|", open(sys.argv[2]).read(), re.M))
assert dash["__inputs"][0]["type"] == "datasource" and dash["panels"], "not import-ready"
exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
for e in exprs:
    for m in re.findall(r"\b(dp_[a-z_]+)", e):
        base = re.sub(r"_(bucket|sum|count)$", "", m)
        assert m in served or base in served, "%s: %s is not served" % (e, m)
    assert "$job" in e, "%s: not filtered by the job variable" % e
rules = "groups:\n  - name: grafana\n    rules:\n" + "".join(
    "      - record: dashboard:q%d\n        expr: %s\n" % (i, json.dumps(e.replace("$__rate_interval", "1m").replace("$job", "dp")))
    for i, e in enumerate(exprs))
open(sys.argv[3], "w").write(rules)
print("%d panels, %d queries" % (len(dash["panels"]), len(exprs)))
EOF
if command -v promtool >/dev/null; then
  promtool check rules "$tmp/rules.yml" >"$tmp/promtool.txt" 2>&1 && ok || { bad "promtool check rules"; cat "$tmp/promtool.txt"; }
else
  echo "skip: promtool is not installed (scripts/deps installs prometheus): PromQL syntax not checked"
fi

kill $pid 2>/dev/null
wait $pid 2>/dev/null
cli_end
