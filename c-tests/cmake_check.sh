#!/usr/bin/env bash
# Checks the CMake build a user would do, and every way a project consumes
# nhttps:
#   - configure and build (cargo underneath): examples, soname, staged links;
#   - a consumer project with add_subdirectory(nhttps), shared and static;
#   - `cmake --install --prefix P`, then a consumer with
#     find_package(nhttps CONFIG REQUIRED) and CMAKE_PREFIX_PATH=P, shared
#     and static;
#   - a consumer compiled with cc and `pkg-config --cflags --libs nhttps`
#     (PKG_CONFIG_PATH=P/lib/pkgconfig), shared and --static.
# Each consumer runs a real round trip: a server with the development
# certificate and the client fetching from it.
# Prints `ok - ...` / `not ok - ...` lines and `N passed, N failed`; exits
# non-zero on a failure. cargo's target directory is $CARGO_TARGET_DIR, by
# default the repository's target/, so the build of `make` is reused.
set -uo pipefail
# With pipefail, `cmd | grep -q` fails at random: grep -q stops reading at
# the first match and cmd may then die of SIGPIPE. Pipelines here end in
# `grep ... >/dev/null`, which reads everything.
cd "$(dirname "$0")/.."
if ! command -v cmake >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "not ok - cmake build: cmake is not installed"; echo "0 passed, 1 failed"; exit 1; fi
  echo "SKIPPED: cmake not installed — the CMake build was not checked"
  exit 0
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$dir"; }
trap cleanup EXIT
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
major=${version%%.*}
expected="$version consumer ok"
P="$dir/prefix"

passed=0 failed=0
check() { if eval "$2"; then echo "ok - $1"; passed=$((passed+1)); else echo "not ok - $1"; failed=$((failed+1)); fi; }
skip() { echo "ok - $1 # SKIP $2"; }
# missing TOOL NAME: true when TOOL is absent (a failure with CI=true, else a skip)
missing() {
  command -v "$1" >/dev/null && return 1
  if [ "${CI:-}" = true ]; then echo "not ok - $2: $1 is not installed"; failed=$((failed+1))
  else skip "$2" "$1 is not installed"; fi
  return 0
}
# run LOG CMD...: runs CMD with its output in LOG; on failure shows the log's end.
run() { local log=$1; shift; "$@" >"$log" 2>&1 || { echo "# failed: $*"; tail -n 40 "$log" | sed 's/^/#   /'; return 1; }; }
# needs_nhttps_so EXE: whether EXE loads libnhttps dynamically.
needs_nhttps_so() { readelf -d "$1" | grep "NEEDED.*libnhttps" >/dev/null; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

# The consumer's source: prints the version and the body it fetched.
mkdir -p "$dir/src"
cat >"$dir/src/main.c" <<'EOT'
#include <nhttps.h>
#include <stdio.h>

static void on_request(void *userdata, nhttps_incoming_message *req, nhttps_server_response *res) {
    (void)userdata; (void)req;
    nhttps_server_response_end(res, (const uint8_t *)"consumer ok", 11);
}

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, nhttps_last_error_message());
    return 1;
}

int main(void) {
    nhttps_server_options *options = nhttps_server_options_new();
    nhttps_server_options_use_dev_certificate(options);
    nhttps_server *server = NULL;
    if (nhttps_server_new(options, &server) != NHTTPS_OK) return fail("server");
    nhttps_server_options_free(options);
    nhttps_server_on_request(server, on_request, NULL);
    if (nhttps_server_listen(server, "127.0.0.1", 0) != NHTTPS_OK) return fail("listen");

    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/", (unsigned)nhttps_server_port(server));
    nhttps_request_options *request_options = NULL;
    if (nhttps_request_options_from_url(url, &request_options) != NHTTPS_OK) return fail("url");
    nhttps_request_options_set_reject_unauthorized(request_options, false);
    nhttps_client_request *request = NULL;
    if (nhttps_client_request_new(request_options, &request) != NHTTPS_OK) return fail("request");
    nhttps_request_options_free(request_options);
    nhttps_incoming_message *response = NULL;
    if (nhttps_client_request_end(request, &response) != NHTTPS_OK) return fail("response");

    char body[64];
    size_t len = 0, n = 0;
    do {
        if (nhttps_incoming_message_read(response, (uint8_t *)body + len, sizeof body - 1 - len, &n) != NHTTPS_OK)
            return fail("read");
        len += n;
    } while (n > 0 && len < sizeof body - 1);
    body[len] = '\0';
    nhttps_incoming_message_free(response);
    nhttps_server_free(server);
    printf("%s %s\n", nhttps_version(), body);
    return 0;
}
EOT

# --- the build itself -----------------------------------------------------------
B="$dir/build"
if ! { run "$dir/configure.log" cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release &&
       run "$dir/build.log" cmake --build "$B" -j2; }; then
  check "cmake configures and builds nhttps" false
  finish
fi
check "cmake builds the hello example" '[ -x "$B/bin/hello" ]'
if command -v c++ >/dev/null; then
  check "cmake builds the C++ example" '[ -x "$B/bin/hello-cpp" ]'
fi
check "the shared library has its soname" 'readelf -d "$B/lib/libnhttps.so.$major" | grep "SONAME.*libnhttps.so.$major" >/dev/null'
check "the shared library is staged as libnhttps.so.$version with links .so.$major and .so" \
  '[ -f "$B/lib/libnhttps.so.$version" ] && [ ! -L "$B/lib/libnhttps.so.$version" ] &&
   [ "$(readlink "$B/lib/libnhttps.so.$major")" = "libnhttps.so.$version" ] &&
   [ "$(readlink "$B/lib/libnhttps.so")" = "libnhttps.so.$major" ]'

if ! missing curl "the cmake-built hello answers curl"; then
  "$B/bin/hello" >"$dir/hello.out" 2>&1 &
  pid=$!; pids+=("$pid")
  for _ in $(seq 50); do grep -q listening "$dir/hello.out" && break; sleep 0.1; done
  check "the cmake-built hello answers curl" '[ "$(curl -sk --max-time 20 https://127.0.0.1:8000/)" = "hello world" ]'
  kill "$pid"; wait "$pid" 2>/dev/null
fi

# --- add_subdirectory ---------------------------------------------------------------
mkdir -p "$dir/sub"
cat >"$dir/sub/CMakeLists.txt" <<EOT
cmake_minimum_required(VERSION 3.16)
project(consumer C)
add_subdirectory($PWD nhttps)
add_executable(roundtrip_shared $dir/src/main.c)
target_link_libraries(roundtrip_shared PRIVATE nhttps::nhttps)
add_executable(roundtrip_static $dir/src/main.c)
target_link_libraries(roundtrip_static PRIVATE nhttps::static)
EOT
if run "$dir/sub.log" cmake -S "$dir/sub" -B "$dir/sub/build" -DNHTTPS_BUILD_EXAMPLES=OFF &&
   run "$dir/sub-build.log" cmake --build "$dir/sub/build" -j2; then
  S="$dir/sub/build"
  check "add_subdirectory: a consumer links nhttps::nhttps and runs" \
    '[ "$("$S/roundtrip_shared")" = "$expected" ] && needs_nhttps_so "$S/roundtrip_shared"'
  check "add_subdirectory: a consumer links nhttps::static and runs without libnhttps.so" \
    '[ "$("$S/roundtrip_static")" = "$expected" ] && ! needs_nhttps_so "$S/roundtrip_static"'
  check "add_subdirectory: nothing is installed by a parent project's install rules" \
    '[ -f "$S/nhttps/cmake_install.cmake" ] && ! grep -q "nhttps.pc\|nhttpsConfig" "$S/nhttps/cmake_install.cmake"'
else
  check "add_subdirectory: a consumer project configures and builds" false
fi

# --- cmake --install, then find_package -------------------------------------------------
if run "$dir/install.log" cmake --install "$B" --prefix "$P"; then
  check "install: the header" '[ -f "$P/include/nhttps.h" ]'
  check "install: the shared library with its soname links" \
    '[ -f "$P/lib/libnhttps.so.$version" ] && [ "$(readlink "$P/lib/libnhttps.so.$major")" = "libnhttps.so.$version" ] &&
     [ "$(readlink "$P/lib/libnhttps.so")" = "libnhttps.so.$major" ] && [ -x "$P/lib/libnhttps.so.$version" ]'
  check "install: the static library" '[ -f "$P/lib/libnhttps.a" ]'
  check "install: the CMake package and the pkg-config file" \
    '[ -f "$P/lib/cmake/nhttps/nhttpsConfig.cmake" ] && [ -f "$P/lib/cmake/nhttps/nhttpsConfigVersion.cmake" ] &&
     [ -f "$P/lib/pkgconfig/nhttps.pc" ]'

  mkdir -p "$dir/pkg"
  cat >"$dir/pkg/CMakeLists.txt" <<EOT
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(nhttps $version CONFIG REQUIRED)
add_executable(roundtrip_shared $dir/src/main.c)
target_link_libraries(roundtrip_shared PRIVATE nhttps::nhttps)
add_executable(roundtrip_static $dir/src/main.c)
target_link_libraries(roundtrip_static PRIVATE nhttps::static)
EOT
  if run "$dir/pkg.log" cmake -S "$dir/pkg" -B "$dir/pkg/build" -DCMAKE_PREFIX_PATH="$P" &&
     run "$dir/pkg-build.log" cmake --build "$dir/pkg/build" -j2; then
    F="$dir/pkg/build"
    check "find_package: a consumer links nhttps::nhttps from the prefix and runs" \
      '[ "$("$F/roundtrip_shared")" = "$expected" ] && ldd "$F/roundtrip_shared" | grep "$P/lib/libnhttps.so.$major" >/dev/null'
    check "find_package: a consumer links nhttps::static and runs without libnhttps.so" \
      '[ "$("$F/roundtrip_static")" = "$expected" ] && ! needs_nhttps_so "$F/roundtrip_static"'
  else
    check "find_package: a consumer project configures and builds" false
  fi
  # An incompatible version is refused.
  sed -i "s/find_package(nhttps $version /find_package(nhttps 99.0 /" "$dir/pkg/CMakeLists.txt"
  check "find_package: an incompatible version request fails" \
    '! cmake -S "$dir/pkg" -B "$dir/pkg/build99" -DCMAKE_PREFIX_PATH="$P" >"$dir/pkg99.log" 2>&1'

  # --- pkg-config ------------------------------------------------------------------
  if ! missing pkg-config "pkg-config: a consumer compiled with cc"; then
    export PKG_CONFIG_PATH="$P/lib/pkgconfig"
    CC="${CC:-cc}"
    flags=$(pkg-config --cflags --libs nhttps 2>"$dir/pc.err")
    check "pkg-config: --cflags --libs nhttps" '[ -n "$flags" ] && [ "$(pkg-config --modversion nhttps)" = "$version" ]'
    # shellcheck disable=SC2086 # pkg-config's output is a list of flags
    check "pkg-config: a consumer compiled with cc (shared) runs" \
      'run "$dir/pc-shared.log" "$CC" -std=c11 -Wall -Wextra -Werror "$dir/src/main.c" -o "$dir/pc_shared" $flags -Wl,-rpath,"$P/lib" &&
       [ "$("$dir/pc_shared")" = "$expected" ] && ldd "$dir/pc_shared" | grep "$P/lib/libnhttps.so.$major" >/dev/null'
    static_libs=$(pkg-config --static --libs nhttps)
    check "pkg-config: --static lists -lssl -lcrypto -lpthread -ldl -lm" \
      'for l in -lssl -lcrypto -lpthread -ldl -lm; do printf " %s \n" "$static_libs" | grep -- " $l " >/dev/null || exit 1; done'
    # Static: the archive by path (-lnhttps would pick the .so), then what --static lists.
    static_rest=$(printf '%s\n' $static_libs | grep -vx -- -lnhttps | tr '\n' ' ')
    pc_cflags=$(pkg-config --cflags nhttps)
    pc_archive="$(pkg-config --variable=libdir nhttps)/libnhttps.a"
    # shellcheck disable=SC2086
    check "pkg-config: a consumer linked with libnhttps.a and --static runs without libnhttps.so" \
      'run "$dir/pc-static.log" "$CC" -std=c11 -Wall -Wextra -Werror "$dir/src/main.c" -o "$dir/pc_static" $pc_cflags "$pc_archive" $static_rest &&
       [ "$("$dir/pc_static")" = "$expected" ] && ! needs_nhttps_so "$dir/pc_static"'
  fi
else
  check "cmake --install --prefix installs" false
fi

finish
