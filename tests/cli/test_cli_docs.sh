#!/usr/bin/env bash
# docs/cli.md and the tools' --help cannot drift: for dp-infer and every dp-bench subcommand, the
# section's flag table lists exactly the flags --help lists, with the same value placeholder and
# the same default; every --help and -h exits 0; the exit statuses are documented.
. "$(dirname "$0")/lib.sh"
cli_begin cli_docs

helps=("dp-infer:$DP_BIN_DIR/dp-infer")
for sub in infer batch stream capacity tune matrix split calibrate; do helps+=("dp-bench $sub:$bench $sub"); done
for entry in "${helps[@]}"; do
    title=${entry%%:*}
    read -ra cmd <<<"${entry#*:}"
    expect 0 "$title -h" -- "${cmd[@]}" -h
    expect 0 "$title --help" -- "${cmd[@]}" --help
    mentions "exit status: 0 success, 1 the run failed, 2 bad usage"
    cp "$tmp/out" "$tmp/help.$title"
done
expect 0 "dp-bench --help" -- "$bench" --help
for sub in infer batch stream capacity tune matrix split calibrate; do mentions "  $sub "; done
expect 2 "dp-bench alone" -- "$bench"
expect 2 "unknown subcommand" -- "$bench" serve
mentions "unknown command 'serve'"

if "$py" - "$DP_SOURCE_DIR/docs/cli.md" "$tmp" <<'EOF'
import re, sys
doc, tmp = open(sys.argv[1]).read(), sys.argv[2]
bad = []
# Exit statuses, as every --help states them.
for code in ("0", "1", "2", "130, 143"):
    if not re.search(r"^\| %s \|" % code, doc, re.M):
        bad.append("docs/cli.md: no row for exit status %s" % code)
for title in ["dp-infer"] + ["dp-bench " + s for s in ("infer", "batch", "stream", "capacity", "tune", "matrix", "split", "calibrate")]:
    help_flags = {}
    for line in open("%s/help.%s" % (tmp, title)):
        m = re.match(r"^  (--[a-z0-9-]+)((?: [A-Z][^ ]*)?)  +(.*)$", line.rstrip("\n"))
        if not m or m.group(1) in ("--version",):
            continue
        d = re.search(r"\((?:default: (.*)|(required))\)$", m.group(3))
        help_flags[m.group(1) + m.group(2)] = (d.group(1) or d.group(2)) if d else "—"
    sec = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), doc, re.M | re.S)
    if not sec:
        bad.append("docs/cli.md: no section '## %s'" % title)
        continue
    doc_flags = {}
    for row in re.findall(r"^\| `(--[^`]+)` \| ([^|]*) \|", sec.group(1), re.M):
        doc_flags[row[0]] = row[1].strip().replace("`", "")
    for f in sorted(set(help_flags) - set(doc_flags)):
        bad.append("%s: %s is in --help but not in docs/cli.md" % (title, f))
    for f in sorted(set(doc_flags) - set(help_flags)):
        bad.append("%s: %s is in docs/cli.md but not in --help" % (title, f))
    for f in sorted(set(doc_flags) & set(help_flags)):
        if doc_flags[f] != help_flags[f]:
            bad.append("%s: %s: docs/cli.md says default '%s', --help '%s'" % (title, f, doc_flags[f], help_flags[f]))
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
then ok; else bad "docs/cli.md and --help differ (above)"; fi

cli_end
