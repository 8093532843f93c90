#!/usr/bin/env bash
# Checks the CMake build a user would do: configure, build (cargo underneath),
# and link the examples against nhttps::nhttps, shared and static; then runs
# the hello example once against curl.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cmake >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "not ok - cmake build: cmake is not installed"; echo "0 passed, 1 failed"; exit 1; fi
  echo "SKIPPED: cmake not installed — the CMake build was not checked"
  exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; exit 1; }
cmake --build "$dir" -j2 >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }

# A consumer project linking the static library.
mkdir -p "$dir/consumer"
cat >"$dir/consumer/CMakeLists.txt" <<EOT
cmake_minimum_required(VERSION 3.16)
project(consumer C)
add_subdirectory($PWD nhttps)
add_executable(version_static main.c)
target_link_libraries(version_static PRIVATE nhttps::static)
EOT
printf '#include <nhttps.h>\n#include <stdio.h>\nint main(void){puts(nhttps_version());return 0;}\n' >"$dir/consumer/main.c"
cmake -S "$dir/consumer" -B "$dir/consumer/build" -DNHTTPS_BUILD_EXAMPLES=OFF >"$dir/consumer.log" 2>&1 &&
  cmake --build "$dir/consumer/build" >>"$dir/consumer.log" 2>&1 || { cat "$dir/consumer.log"; exit 1; }
passed=0 failed=0
check() { if eval "$2"; then echo "ok - $1"; passed=$((passed+1)); else echo "not ok - $1"; failed=$((failed+1)); fi; }
check "cmake builds the hello example" '[ -x "$dir/bin/hello" ]'
check "the shared library has its soname" 'readelf -d "$dir/lib/libnhttps.so.0" | grep -q "SONAME.*libnhttps.so.0"'
check "a consumer links nhttps::static" '[ "$("$dir/consumer/build/version_static")" = "$(sed -n "s/^version = \"\(.*\)\"/\1/p" Cargo.toml | head -n1)" ]'
"$dir/bin/hello" >"$dir/hello.out" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening "$dir/hello.out" && break; sleep 0.1; done
check "the cmake-built hello answers curl" '[ "$(curl -sk https://127.0.0.1:8000/)" = "hello world" ]'
kill "$pid"; wait "$pid" 2>/dev/null || true
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
