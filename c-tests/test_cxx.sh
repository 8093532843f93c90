#!/usr/bin/env bash
# The C++ example (examples-cpp/hello.cpp): builds it as C++17 with every
# warning an error against build/lib, runs it on an ephemeral port, fetches
# it with curl, and stops it with SIGTERM (it must exit 0), then SIGINT.
# Prints PASS/FAIL/SKIP lines for c-tests/run.sh.
set -u
cd "$(dirname "$0")/.."
. c-tests/lib.sh
BUILD="${BUILD:-build}"
CXX="${CXX:-c++}"
BIN="$BUILD/bin/hello-cpp"
T="$BUILD/tmp-cxx-$$"
mkdir -p "$T" "$BUILD/bin"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT

need "$CXX" cxx_hello_builds || exit 0
if [ ! -e "$BUILD/lib/libnhttps.so" ]; then
  fail cxx_hello_builds "$BUILD/lib/libnhttps.so is missing (run make lib first)"
  exit 0
fi

# --- build --------------------------------------------------------------------
if "$CXX" -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude examples-cpp/hello.cpp \
     -L"$BUILD/lib" -lnhttps -Wl,-rpath,"$PWD/$BUILD/lib" -lpthread -o "$BIN" 2> "$T/build.err"; then
  pass cxx_hello_builds
else
  fail cxx_hello_builds "$(head -c 2000 "$T/build.err")"
  exit 0
fi

need curl cxx_hello_serves || exit 0

# start: runs the example on port 0; sets PID and PORT once its first line is out.
start() {
  "$BIN" 0 > "$T/out" 2> "$T/err" &
  PID=$!
  pids+=("$PID")
  PORT=
  for _ in $(seq 100); do
    [ -s "$T/out" ] && break
    sleep 0.05
  done
  PORT=$(head -n 1 "$T/out" | sed -n 's#^listening on https://127\.0\.0\.1:\([0-9]*\)/$#\1#p')
}

# stop SIGNAL: sends it and waits up to 10 s; sets RC (or "hung").
stop() {
  kill -s "$1" "$PID" 2>/dev/null
  RC=hung
  for _ in $(seq 200); do
    if ! kill -0 "$PID" 2>/dev/null; then wait "$PID"; RC=$?; return; fi
    sleep 0.05
  done
  kill -9 "$PID" 2>/dev/null
}

# --- run, fetch, stop with SIGTERM ------------------------------------------
start
if [ -n "$PORT" ] && [ "$PORT" != 0 ]; then
  pass cxx_hello_prints_listening_line
else
  fail cxx_hello_prints_listening_line "first line: '$(head -n 1 "$T/out")' stderr: $(head -c 500 "$T/err")"
  exit 0
fi

body=$(curl -sS --max-time 20 -k "https://127.0.0.1:$PORT/" 2> "$T/curl.err")
if [ "$body" = "hello from C++" ]; then
  pass cxx_hello_serves
else
  fail cxx_hello_serves "curl got '$body' $(head -c 300 "$T/curl.err")"
fi

headers=$(curl -sS --max-time 20 -k -D - -o /dev/null "https://127.0.0.1:$PORT/again" 2>&1)
if printf '%s' "$headers" | grep -qi '^x-request-number: 2' && printf '%s' "$headers" | grep -qi '^content-type: text/plain'; then
  pass cxx_hello_lambda_state_and_headers
else
  fail cxx_hello_lambda_state_and_headers "headers: $(printf '%s' "$headers" | tr '\r\n' '  ' | head -c 400)"
fi

stop TERM
if [ "$RC" = 0 ]; then
  pass cxx_hello_exits_cleanly_on_sigterm
else
  fail cxx_hello_exits_cleanly_on_sigterm "exit status $RC; stderr: $(head -c 500 "$T/err")"
fi

# --- SIGINT (Ctrl-C) ------------------------------------------------------------
start
if [ -n "$PORT" ] && [ "$(curl -sS --max-time 20 -k "https://127.0.0.1:$PORT/" 2>/dev/null)" = "hello from C++" ]; then
  stop INT
  if [ "$RC" = 0 ]; then pass cxx_hello_exits_cleanly_on_sigint
  else fail cxx_hello_exits_cleanly_on_sigint "exit status $RC"; fi
else
  fail cxx_hello_exits_cleanly_on_sigint "the second run did not serve"
fi

# --- a bad port argument --------------------------------------------------------
"$BIN" 70000 > /dev/null 2>&1
rc=$?
if [ "$rc" = 2 ]; then pass cxx_hello_rejects_a_bad_port
else fail cxx_hello_rejects_a_bad_port "exit status $rc for port 70000"; fi
