# Shell helpers for the sink CLI tests (sourced): pass/fail counting and Prometheus scrape checks.
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else fail "$what"; fi; }

promtool=${PROMTOOL:-/usr/bin/promtool}

# promtool check metrics on each scrape file.
check_promtool() {
  local f out
  for f in "$@"; do
    if out=$("$promtool" check metrics < "$f" 2>&1); then ok; else fail "promtool check metrics $f: $out"; fi
  done
}

# Every counter-like series (…_total, histogram buckets, _count, _sum) of scrape $1 is present
# in scrape $2 and not smaller there; at least 10 such series.
monotonic() {
  awk 'FNR == NR { if ($0 !~ /^#/) a[$1] = $2; next }
       $0 !~ /^#/ && ($1 ~ /_total(\{|$)/ || $1 ~ /_bucket\{/ || $1 ~ /_count$/ || $1 ~ /_sum$/) {
         n++; if (!($1 in a)) { print "missing in first: " $1; bad = 1 } else if ($2 + 0 < a[$1] + 0) { print $1 ": " a[$1] " -> " $2; bad = 1 } }
       END { if (n < 10) { print "only " n " counter series"; bad = 1 } exit bad }' "$1" "$2"
}

# The value of one series in a scrape file.
value() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
