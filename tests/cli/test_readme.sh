#!/usr/bin/env bash
# The README's C example compiles against the built library and runs; every relative link and
# image of the README (the headline plot among them) names a file of the repository.
set -euo pipefail
missing=$(grep -o '](\([^)#]*\))' "$DP_SOURCE_DIR/README.md" | sed 's/^](//; s/)$//' | grep -v '^[a-z]*://' |
  while read -r path; do [ -z "$path" ] || [ -e "$DP_SOURCE_DIR/$path" ] || echo "$path"; done)
[ -z "$missing" ] || { echo "README.md links files that do not exist: $missing"; echo "0 passed, 1 failed"; exit 1; }
work="$DP_TEST_TMP/readme"; mkdir -p "$work"
awk '/^```c$/{on=1; next} /^```$/{if (on) exit} on' "$DP_SOURCE_DIR/README.md" > "$work/example.c"
[ -s "$work/example.c" ] || { echo "no C example found in README.md"; echo "0 passed, 1 failed"; exit 1; }
cc -std=c11 -Wall -Wextra -Werror -I"$DP_SOURCE_DIR/include" -o "$work/example" "$work/example.c" \
   -L"$DP_LIB_DIR" -ldataparallel -Wl,-rpath,"$DP_LIB_DIR"
out=$("$work/example")
echo "$out"
echo "$out" | grep -Eq '^top-1 [0-9]$' || { echo "unexpected output"; echo "1 passed, 1 failed"; exit 1; }
echo "3 passed, 0 failed"
