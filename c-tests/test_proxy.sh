#!/usr/bin/env bash
# build/bin/proxy (examples-c/proxy.c), the TLS-terminating reverse proxy,
# in front of a legacy plain-HTTP backend (c-tests/peers/http_backend.py),
# talked to with curl: forwarding of method, path, headers and bodies both
# ways, X-Forwarded-*, hop-by-hop headers, upstream keep-alive, 502 when the
# backend is down, graceful SIGTERM; and a second proxy under valgrind
# memcheck taking the same kind of traffic.
# Prints PASS/FAIL/SKIP lines for c-tests/run.sh; a missing tool is SKIPPED
# loudly, and is a failure when CI=true.
set -u
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
PROXY="$BUILD/bin/proxy"
tmp="$BUILD/tmp-proxy-$$"
mkdir -p "$tmp"

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null
  done
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
have() { command -v "$1" >/dev/null 2>&1; }
skip_or_fail() { # test tool
  if [ "${CI:-}" = true ]; then
    fail "$1" "$2 is not installed (CI=true)"
  else
    echo "SKIP $1: *** SKIPPED: $2 is not installed ***"
  fi
}

if [ ! -x "$PROXY" ]; then
  fail proxy_built "$PROXY is missing: run make examples"
  exit 1
fi
for tool in curl python3 sha256sum; do
  if ! have "$tool"; then
    skip_or_fail proxy "$tool"
    [ "${CI:-}" = true ] && exit 1
    exit 0
  fi
done

# wait_line FILE REGEX [SECONDS]: waits for the first line of FILE to match
# REGEX, and prints that line.
wait_line() {
  local i line tries=$(( ${3:-10} * 20 ))
  for i in $(seq 1 "$tries"); do
    line=$(head -n 1 "$1" 2>/dev/null)
    if [[ "$line" =~ $2 ]]; then
      echo "$line"
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# start_proxy NAME UPSTREAM [WRAPPER...]: a proxy on an ephemeral port; sets PORT and PID.
start_proxy() {
  local name=$1 upstream=$2 line
  shift 2
  "$@" "$PROXY" --port 0 --upstream "$upstream" > "$tmp/$name.log" 2> "$tmp/$name.err" &
  PID=$!
  pids+=("$PID")
  line=$(wait_line "$tmp/$name.log" '^listening on https://127\.0\.0\.1:([0-9]+)/$' 60) || return 1
  PORT=${line##*:}
  PORT=${PORT%/}
}

# stop PID: SIGTERM, then waits (10 s at most); sets RC to its exit status.
stop() {
  local i
  kill -TERM "$1" 2>/dev/null
  for i in $(seq 1 200); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$1" 2>/dev/null; then
    RC=timeout
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return
  fi
  wait "$1"
  RC=$?
}

# request PORT CURL-ARGS...: curl -k against the proxy; body in $tmp/body,
# head in $tmp/head; sets STATUS (000 when curl failed).
request() {
  local port=$1
  shift
  STATUS=$(curl -sS -k --max-time 60 -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' \
    "$@" 2> "$tmp/curl.err")
}
url() { echo "https://127.0.0.1:$1$2"; }

# json_has LINE: the backend's JSON answer in $tmp/body has this exact line
# (a string in its "headers" list or a field), in any case.
json_has() { grep -qiF -- "$1" "$tmp/body"; }

backend_connections() { grep -c '^connection ' "$tmp/backend.log"; }

# ---- the backend and the proxies ----------------------------------------

python3 c-tests/peers/http_backend.py > "$tmp/backend.log" 2>&1 &
backend_pid=$!
pids+=("$backend_pid")
backend_line=$(wait_line "$tmp/backend.log" '^listening [0-9]+$') || {
  fail proxy_backend_starts "the backend did not start: $(cat "$tmp/backend.log")"
  exit 1
}
B="http://127.0.0.1:${backend_line#listening }"

if start_proxy proxy "$B"; then
  P=$PORT
  proxy_pid=$PID
  pass proxy_starts_and_prints_its_address
else
  fail proxy_starts_and_prints_its_address "$(cat "$tmp/proxy.log" "$tmp/proxy.err")"
  exit 1
fi

head -c 1048576 /dev/urandom > "$tmp/mib"
mib_sha=$(sha256sum < "$tmp/mib" | cut -d' ' -f1)

# ---- forwarding -----------------------------------------------------------

test_get_is_forwarded() {
  local t=get_is_forwarded
  request "$P" "$(url "$P" '/some/path?q=1&r=two')" -H 'X-Custom: kept'
  [ "$STATUS" = 200 ] || { fail $t "status $STATUS: $(cat "$tmp/curl.err" "$tmp/body")"; return; }
  json_has '"method": "GET"' || { fail $t "method: $(cat "$tmp/body")"; return; }
  json_has '"path": "/some/path?q=1&r=two"' || { fail $t "path: $(cat "$tmp/body")"; return; }
  json_has '"X-Custom: kept"' || { fail $t "header: $(cat "$tmp/body")"; return; }
  grep -qi '^server: legacy-backend/1' "$tmp/head" || { fail $t "response headers: $(cat "$tmp/head")"; return; }
  pass $t
}

test_post_of_1_mib_arrives_byte_exact() {
  local t=post_of_1_mib_arrives_byte_exact
  request "$P" "$(url "$P" /upload)" --data-binary @"$tmp/mib" -H 'Content-Type: application/octet-stream'
  [ "$STATUS" = 200 ] || { fail $t "status $STATUS: $(cat "$tmp/curl.err")"; return; }
  json_has '"method": "POST"' || { fail $t "method: $(cat "$tmp/body")"; return; }
  json_has '"body_length": 1048576' || { fail $t "length: $(cat "$tmp/body")"; return; }
  json_has "\"body_sha256\": \"$mib_sha\"" || { fail $t "sha256: $(cat "$tmp/body")"; return; }
  json_has '"Content-Length: 1048576"' || { fail $t "not sent by length: $(cat "$tmp/body")"; return; }
  pass $t
}

test_chunked_upload_is_streamed_upstream() {
  local t=chunked_upload_is_streamed_upstream
  request "$P" "$(url "$P" /chunked)" -X PUT -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/mib"
  [ "$STATUS" = 200 ] || { fail $t "status $STATUS: $(cat "$tmp/curl.err")"; return; }
  json_has '"method": "PUT"' || { fail $t "method: $(cat "$tmp/body")"; return; }
  json_has "\"body_sha256\": \"$mib_sha\"" || { fail $t "sha256: $(cat "$tmp/body")"; return; }
  json_has '"transfer_encoding": "chunked"' || { fail $t "upstream framing: $(cat "$tmp/body")"; return; }
  pass $t
}

test_a_large_chunked_response_streams_back_byte_exact() {
  local t=a_large_chunked_response_streams_back_byte_exact
  request "$P" "$(url "$P" '/large?n=5000000')"
  [ "$STATUS" = 200 ] || { fail $t "status $STATUS: $(cat "$tmp/curl.err")"; return; }
  local want got size
  want=$(sed -n 's/^x-body-sha256: \([0-9a-f]*\).*/\1/Ip' "$tmp/head")
  got=$(sha256sum < "$tmp/body" | cut -d' ' -f1)
  size=$(wc -c < "$tmp/body")
  [ "$size" -eq 5000000 ] || { fail $t "$size bytes"; return; }
  [ -n "$want" ] && [ "$want" = "$got" ] || { fail $t "sha256 $got, backend said '$want'"; return; }
  pass $t
}

test_head_gets_the_head_only() {
  local t=head_gets_the_head_only
  request "$P" "$(url "$P" /h)" -I
  [ "$STATUS" = 200 ] || { fail $t "status $STATUS: $(cat "$tmp/curl.err")"; return; }
  grep -qi '^content-length: [1-9]' "$tmp/head" || { fail $t "no Content-Length: $(cat "$tmp/head")"; return; }
  # (with -I curl writes the head where the body would go: no JSON may follow it)
  ! grep -q '"method"' "$tmp/body" || { fail $t "a body came: $(cat "$tmp/body")"; return; }
  grep -q '^request HEAD /h$' "$tmp/backend.log" || { fail $t "the backend saw no HEAD"; return; }
  pass $t
}

test_x_forwarded_headers_are_added() {
  local t=x_forwarded_headers_are_added
  request "$P" "$(url "$P" /xff)" -H 'X-Forwarded-Proto: http' -H 'X-Forwarded-Host: spoofed'
  [ "$STATUS" = 200 ] || { fail $t "status $STATUS: $(cat "$tmp/curl.err")"; return; }
  json_has '"X-Forwarded-For: 127.0.0.1"' || { fail $t "XFF: $(cat "$tmp/body")"; return; }
  json_has '"X-Forwarded-Proto: https"' || { fail $t "proto: $(cat "$tmp/body")"; return; }
  json_has "\"X-Forwarded-Host: 127.0.0.1:$P\"" || { fail $t "host: $(cat "$tmp/body")"; return; }
  json_has 'spoofed' && { fail $t "the client's X-Forwarded-Host went through"; return; }
  json_has '"X-Forwarded-Proto: http"' && { fail $t "the client's X-Forwarded-Proto went through"; return; }
  # One the client sent is extended, repeated ones joined in order.
  request "$P" "$(url "$P" /xff2)" -H 'X-Forwarded-For: 203.0.113.7' -H 'X-Forwarded-For: 10.0.0.1'
  json_has '"X-Forwarded-For: 203.0.113.7, 10.0.0.1, 127.0.0.1"' ||
    { fail $t "appended XFF: $(cat "$tmp/body")"; return; }
  [ "$(grep -ci 'x-forwarded-for' "$tmp/body")" -eq 1 ] || { fail $t "XFF repeated: $(cat "$tmp/body")"; return; }
  pass $t
}

test_hop_by_hop_headers_are_not_forwarded() {
  local t=hop_by_hop_headers_are_not_forwarded
  request "$P" "$(url "$P" /hop)" -H 'Connection: keep-alive, X-Secret' -H 'X-Secret: s3' \
    -H 'Keep-Alive: timeout=300' -H 'Proxy-Authorization: Basic Zm9vOmJhcg==' -H 'TE: trailers' \
    -H 'Trailer: X-Sum' -H 'Upgrade: example/1' -H 'X-End-To-End: yes'
  [ "$STATUS" = 200 ] || { fail $t "status $STATUS: $(cat "$tmp/curl.err")"; return; }
  json_has '"X-End-To-End: yes"' || { fail $t "end-to-end header lost: $(cat "$tmp/body")"; return; }
  local h
  for h in x-secret keep-alive proxy-authorization te trailer upgrade; do
    grep -qi "\"$h: " "$tmp/body" && { fail $t "request header $h was forwarded: $(cat "$tmp/body")"; return; }
  done
  # The only Connection upstream is the proxy's own.
  [ "$(grep -ci '"connection: ' "$tmp/body")" -eq 1 ] && json_has '"Connection: keep-alive"' ||
    { fail $t "upstream Connection: $(cat "$tmp/body")"; return; }
  # And back: the backend's hop-by-hop response headers stop at the proxy.
  grep -qi '^x-hop:' "$tmp/head" && { fail $t "response X-Hop forwarded: $(cat "$tmp/head")"; return; }
  grep -qi '^proxy-backend:' "$tmp/head" && { fail $t "response Proxy-* forwarded"; return; }
  grep -qi 'timeout=77' "$tmp/head" && { fail $t "the backend's Keep-Alive forwarded"; return; }
  grep -qi '^connection:.*x-hop' "$tmp/head" && { fail $t "the backend's Connection forwarded"; return; }
  pass $t
}

test_upstream_connections_are_kept_alive() {
  local t=upstream_connections_are_kept_alive
  local before after i n=6
  before=$(backend_connections)
  for i in $(seq 1 $n); do # each curl is a new client connection to the proxy
    request "$P" "$(url "$P" "/ka$i")"
    [ "$STATUS" = 200 ] || { fail $t "request $i: status $STATUS"; return; }
  done
  after=$(backend_connections)
  [ $((after - before)) -lt $n ] || { fail $t "$((after - before)) backend connections for $n requests"; return; }
  [ $((after - before)) -le 1 ] || { fail $t "$((after - before)) backend connections for $n sequential requests"; return; }
  grep -q '^method=GET path=/ka2 status=200 .* upstream=reused$' "$tmp/proxy.log" ||
    { fail $t "proxy log: $(grep ka "$tmp/proxy.log")"; return; }
  pass $t
}

test_get_is_forwarded
test_post_of_1_mib_arrives_byte_exact
test_chunked_upload_is_streamed_upstream
test_a_large_chunked_response_streams_back_byte_exact
test_head_gets_the_head_only
test_x_forwarded_headers_are_added
test_hop_by_hop_headers_are_not_forwarded
test_upstream_connections_are_kept_alive

# ---- a second proxy under valgrind, while the backend is up ----------------

vg_pid=
vg_port=
if have valgrind; then
  if start_proxy proxy-vg "$B" valgrind -q --error-exitcode=99 --leak-check=full \
      --show-leak-kinds=definite --errors-for-leak-kinds=definite \
      --suppressions=c-tests/valgrind.supp; then
    vg_pid=$PID
    vg_port=$PORT
    vg_problem=
    request "$vg_port" "$(url "$vg_port" /vg)" -H 'X-Forwarded-For: 192.0.2.1'
    [ "$STATUS" = 200 ] && json_has '"X-Forwarded-For: 192.0.2.1, 127.0.0.1"' || vg_problem="GET: $STATUS"
    request "$vg_port" "$(url "$vg_port" /vg-post)" --data-binary @"$tmp/mib"
    [ "$STATUS" = 200 ] && json_has "\"body_sha256\": \"$mib_sha\"" || vg_problem="$vg_problem POST: $STATUS"
    request "$vg_port" "$(url "$vg_port" /vg-chunked)" -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/mib"
    [ "$STATUS" = 200 ] && json_has "\"body_sha256\": \"$mib_sha\"" || vg_problem="$vg_problem chunked: $STATUS"
    request "$vg_port" "$(url "$vg_port" '/large?n=300000')"
    [ "$STATUS" = 200 ] && [ "$(wc -c < "$tmp/body")" -eq 300000 ] || vg_problem="$vg_problem large: $STATUS"
  else
    fail proxy_is_valgrind_clean "the proxy did not start under valgrind: $(cat "$tmp/proxy-vg.err")"
  fi
else
  skip_or_fail proxy_is_valgrind_clean valgrind
fi

# ---- the backend goes away -------------------------------------------------

test_a_down_backend_is_502() {
  local t=a_down_backend_is_502
  kill "$backend_pid" 2>/dev/null
  wait "$backend_pid" 2>/dev/null
  # The pooled connection died with the backend: the proxy must notice it
  # is stale, fail to reconnect, and say 502.
  request "$P" "$(url "$P" /down)"
  [ "$STATUS" = 502 ] || { fail $t "status $STATUS: $(cat "$tmp/body" "$tmp/curl.err")"; return; }
  grep -q 'Bad Gateway' "$tmp/body" || { fail $t "body: $(cat "$tmp/body")"; return; }
  request "$P" "$(url "$P" /down-post)" --data-binary @"$tmp/mib"
  [ "$STATUS" = 502 ] || { fail $t "POST: status $STATUS: $(cat "$tmp/curl.err")"; return; }
  grep -q 'upstream.*refused\|upstream.*[Cc]onnection' "$tmp/proxy.err" ||
    { fail $t "no cause on stderr: $(cat "$tmp/proxy.err")"; return; }
  pass $t
}
test_a_down_backend_is_502

if [ -n "$vg_pid" ]; then
  request "$vg_port" "$(url "$vg_port" /vg-down)"
  [ "$STATUS" = 502 ] || vg_problem="$vg_problem down: $STATUS"
  stop "$vg_pid"
  if [ "$RC" = 99 ]; then
    fail proxy_is_valgrind_clean "valgrind: $(cat "$tmp/proxy-vg.err")"
  elif [ "$RC" != 0 ]; then
    fail proxy_is_valgrind_clean "exit $RC under valgrind: $(tail -n 20 "$tmp/proxy-vg.err")"
  elif [ -n "$vg_problem" ]; then
    fail proxy_is_valgrind_clean "requests under valgrind:$vg_problem"
  else
    pass proxy_is_valgrind_clean
  fi
fi

test_sigterm_exits_0() {
  local t=sigterm_exits_0
  stop "$proxy_pid"
  [ "$RC" = 0 ] || { fail $t "exit $RC: $(tail -n 5 "$tmp/proxy.err")"; return; }
  pass $t
}
test_sigterm_exits_0

test_usage_errors_exit_2() {
  local t=usage_errors_exit_2 rc
  "$PROXY" --port 0 > /dev/null 2> "$tmp/usage.err"
  rc=$?
  [ $rc -eq 2 ] || { fail $t "without --upstream: exit $rc"; return; }
  grep -q 'upstream' "$tmp/usage.err" || { fail $t "stderr: $(cat "$tmp/usage.err")"; return; }
  "$PROXY" --upstream ftp://x > /dev/null 2> "$tmp/usage.err"
  rc=$?
  [ $rc -ne 0 ] || { fail $t "ftp:// upstream: exit 0"; return; }
  pass $t
}
test_usage_errors_exit_2

[ "$failures" -eq 0 ]
