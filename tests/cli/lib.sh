# Helpers shared by the CLI tests (source it, then call cli_begin NAME):
#   ok / bad MSG            count a passed / failed check
#   expect CODE WHAT -- CMD  run CMD; its exit status must be CODE; its output is kept in $tmp/out
#   mentions TEXT           the last expect's output must contain TEXT
#   cli_end                 print "N passed, M failed" and return non-zero on any failure
set -uo pipefail
bench="$DP_BIN_DIR/dp-bench"
py="${DP_PYTHON3:-/usr/bin/python3}"
export OMP_WAIT_POLICY=PASSIVE
pass=0 fail=0

cli_begin() {
    tmp="$DP_TEST_TMP/$1"
    rm -rf "$tmp" && mkdir -p "$tmp"
}
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect() {
    local code=$1 what=$2
    shift 3
    "$@" >"$tmp/out" 2>&1
    local rc=$?
    if [ $rc -eq "$code" ]; then ok; else bad "$what: exit $rc, expected $code"; cat "$tmp/out"; fi
}
mentions() { if grep -q -- "$1" "$tmp/out"; then ok; else bad "output lacks '$1'"; cat "$tmp/out"; fi; }
cli_end() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
