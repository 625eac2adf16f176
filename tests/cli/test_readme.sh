#!/usr/bin/env bash
# The README's C example compiles against the built library and runs.
set -euo pipefail
work="$DP_TEST_TMP/readme"; mkdir -p "$work"
awk '/^```c$/{on=1; next} /^```$/{if (on) exit} on' "$DP_SOURCE_DIR/README.md" > "$work/example.c"
[ -s "$work/example.c" ] || { echo "no C example found in README.md"; echo "0 passed, 1 failed"; exit 1; }
cc -std=c11 -Wall -Wextra -Werror -I"$DP_SOURCE_DIR/include" -o "$work/example" "$work/example.c" \
   -L"$DP_LIB_DIR" -ldataparallel -Wl,-rpath,"$DP_LIB_DIR"
out=$("$work/example")
echo "$out"
echo "$out" | grep -Eq '^top-1 [0-9]$' || { echo "unexpected output"; echo "1 passed, 1 failed"; exit 1; }
echo "2 passed, 0 failed"
