#!/usr/bin/env bash
# Only dp_* symbols are exported, and the SONAME is versioned.
set -euo pipefail
lib="$DP_LIB_DIR/libdataparallel.so"
[ -e "$lib" ] || { echo "missing $lib"; exit 1; }
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | grep -v '^dp_' || true)
if [ -n "$bad" ]; then echo "exported symbols without dp_ prefix:"; echo "$bad"; exit 1; fi
count=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -c '^dp_')
[ "$count" -ge 10 ] || { echo "only $count dp_ symbols exported"; exit 1; }
readelf -d "$lib" | grep -q 'SONAME.*\[libdataparallel\.so\.0\]' || { echo "SONAME is not libdataparallel.so.0"; readelf -d "$lib" | grep SONAME; exit 1; }
echo "1 passed, 0 failed ($count dp_ symbols exported, SONAME libdataparallel.so.0)"
