#!/usr/bin/env bash
# Install the build into a fresh prefix, then build and run a consumer via pkg-config and via
# find_package(dataparallel).
set -euo pipefail
build=$1 work=$2
rm -rf "$work"; mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
libdir=$(ls -d "$prefix"/lib*/ | head -1); libdir=${libdir%/}
src="$DP_SOURCE_DIR/tests/install/consumer"

# pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -o "$work/consumer_pc" "$src/main.c" $(pkg-config --cflags --libs dataparallel)
LD_LIBRARY_PATH="$libdir" "$work/consumer_pc"

# CMake package
cmake -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" > "$work/cmake.log"
cmake --build "$work/cmake-build" > "$work/build.log"
LD_LIBRARY_PATH="$libdir" "$work/cmake-build/consumer"
echo "2 passed, 0 failed"
