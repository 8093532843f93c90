#!/usr/bin/env bash
# build/bin/fetch (examples-c/fetch.c) against real servers: build/bin/serve
# (nhttps's own), Node's https server (c-tests/peers/node_https_server.js)
# and a Python ssl server (c-tests/peers/tls_canned_server.py).
# Prints PASS/FAIL/SKIP lines for c-tests/run.sh; a missing tool is SKIPPED
# loudly, and is a failure when CI=true.
set -u
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
FETCH="$BUILD/bin/fetch"
SERVE="$BUILD/bin/serve"
tmp="$BUILD/tmp-fetch-$$"
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
# Leaves the calling test (return 1) when a tool is missing.
require() { # test tool...
  local name=$1 tool
  shift
  for tool in "$@"; do
    if ! have "$tool"; then
      if [ "${CI:-}" = true ]; then
        fail "$name" "$tool is not installed (CI=true)"
      else
        echo "SKIP $name: *** SKIPPED: $tool is not installed ***"
      fi
      return 1
    fi
  done
  return 0
}

if [ ! -x "$FETCH" ] || [ ! -x "$SERVE" ]; then
  fail fetch_built "$FETCH or $SERVE is missing: run make examples"
  exit 1
fi

# ---- servers -----------------------------------------------------------

# wait_line FILE REGEX: waits (10 s at most) for the first line of FILE to
# match REGEX, and prints that line.
wait_line() {
  local i line
  for i in $(seq 1 200); do
    line=$(head -n 1 "$1" 2>/dev/null)
    if [[ "$line" =~ $2 ]]; then
      echo "$line"
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# start_serve NAME ARGS...: build/bin/serve on an ephemeral port; sets PORT.
start_serve() {
  local name=$1 line
  shift
  "$SERVE" --port 0 "$@" > "$tmp/$name.log" 2>&1 &
  pids+=($!)
  line=$(wait_line "$tmp/$name.log" '^listening on https://127\.0\.0\.1:([0-9]+)/$') || return 1
  PORT=${line##*:}
  PORT=${PORT%/}
}

# start_node NAME ARGS...: Node's https server; sets PORT.
start_node() {
  local name=$1 line
  shift
  node c-tests/peers/node_https_server.js "$@" > "$tmp/$name.log" 2>&1 &
  pids+=($!)
  line=$(wait_line "$tmp/$name.log" '^listening [0-9]+$') || return 1
  PORT=${line#listening }
}

# start_python NAME RESPONSE_FILE: the canned-response Python ssl server; sets PORT.
start_python() {
  local name=$1 line
  python3 c-tests/peers/tls_canned_server.py --cert "$tmp/server.pem" --key "$tmp/server.key" \
    --response "$2" > "$tmp/$name.log" 2>&1 &
  pids+=($!)
  line=$(wait_line "$tmp/$name.log" '^listening [0-9]+$') || return 1
  PORT=${line#listening }
}

# A test CA, a server certificate for localhost and 127.0.0.1 signed by it,
# and client certificates (plain and passphrase-protected), made once.
certs_made=
make_certs() {
  [ -n "$certs_made" ] && return "$certs_made"
  certs_made=1
  (
    cd "$tmp" || exit 1
    ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256"
    openssl req -x509 $ec -nodes -days 2 -subj /CN=fetch-test-ca \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -keyout ca.key -out ca.pem || exit 1
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
    openssl req $ec -nodes -subj /CN=localhost -keyout server.key -out server.csr || exit 1
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.pem || exit 1
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl req $ec -nodes -subj /CN=fetch-client -keyout client.key -out client.csr || exit 1
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile client.ext -out client.pem || exit 1
    openssl pkey -in client.key -aes256 -passout pass:secret -out client-enc.key || exit 1
  ) > "$tmp/openssl.log" 2>&1 && certs_made=0
  return "$certs_made"
}

site="$tmp/site"
mkdir -p "$site"
printf 'one\n' > "$site/a.txt"
printf 'two\n' > "$site/b.txt"
printf 'three\n' > "$site/c.txt"

# run_fetch ARGS...: runs fetch; sets OUT, ERR, RC.
run_fetch() {
  "$FETCH" "$@" > "$tmp/out" 2> "$tmp/err"
  RC=$?
  OUT=$(cat "$tmp/out")
  ERR=$(cat "$tmp/err")
}

# ---- the dev-certificate serve ------------------------------------------

dev_port=
start_serve dev "$site" && dev_port=$PORT
D="https://127.0.0.1:$dev_port"

test_bodies_are_printed_in_url_order() {
  local t=bodies_are_printed_in_url_order
  [ -n "$dev_port" ] || { fail $t "serve did not start"; return; }
  run_fetch --insecure "$D/c.txt" "$D/a.txt" "$D/b.txt" "$D/a.txt"
  [ $RC -eq 0 ] || { fail $t "exit $RC: $ERR"; return; }
  [ "$OUT" = $'three\none\ntwo\none' ] || { fail $t "stdout is '$OUT'"; return; }
  [ -z "$ERR" ] || { fail $t "stderr without -v: $ERR"; return; }
  pass $t
}

test_verbose_lines_have_the_contract_format() {
  local t=verbose_lines_have_the_contract_format line n=0
  [ -n "$dev_port" ] || { fail $t "serve did not start"; return; }
  run_fetch -v --insecure "$D/a.txt" "$D/nope" "$D/b.txt"
  [ $RC -eq 0 ] || { fail $t "exit $RC (a 404 is a response): $ERR"; return; }
  while IFS= read -r line; do
    n=$((n + 1))
    [[ "$line" =~ ^status=[0-9]{3}\ reused=(yes|no)\ tls=(TLSv1\.[0-3]|-)\ alpn=([^ ]+)$ ]] ||
      { fail $t "line $n is '$line'"; return; }
  done <<< "$ERR"
  [ $n -eq 3 ] || { fail $t "$n lines on stderr: $ERR"; return; }
  [[ "$(sed -n 2p <<< "$ERR")" == status=404\ * ]] || { fail $t "second line: $ERR"; return; }
  [[ "$ERR" == *"tls=TLSv1.3 alpn=-"* ]] || { fail $t "no TLSv1.3 / no-ALPN line: $ERR"; return; }
  pass $t
}

test_keep_alive_reuses_the_connection() {
  local t=keep_alive_reuses_the_connection
  [ -n "$dev_port" ] || { fail $t "serve did not start"; return; }
  run_fetch -v --insecure "$D/a.txt" "$D/b.txt" "$D/c.txt"
  [ $RC -eq 0 ] || { fail $t "exit $RC: $ERR"; return; }
  local reused
  reused=$(sed -n 's/.* reused=\([a-z]*\) .*/\1/p' <<< "$ERR" | tr '\n' ',')
  [ "$reused" = "no,yes,yes," ] || { fail $t "reused=$reused: $ERR"; return; }
  pass $t
}

test_no_agent_opens_a_connection_per_request() {
  local t=no_agent_opens_a_connection_per_request
  [ -n "$dev_port" ] || { fail $t "serve did not start"; return; }
  run_fetch -v --insecure --no-agent "$D/a.txt" "$D/b.txt" "$D/c.txt"
  [ $RC -eq 0 ] || { fail $t "exit $RC: $ERR"; return; }
  [ "$OUT" = $'one\ntwo\nthree' ] || { fail $t "stdout is '$OUT'"; return; }
  local reused
  reused=$(sed -n 's/.* reused=\([a-z]*\) .*/\1/p' <<< "$ERR" | tr '\n' ',')
  [ "$reused" = "no,no,no," ] || { fail $t "reused=$reused: $ERR"; return; }
  pass $t
}

test_verification_failure_exits_non_zero_naming_the_cause() {
  local t=verification_failure_exits_non_zero_naming_the_cause
  [ -n "$dev_port" ] || { fail $t "serve did not start"; return; }
  run_fetch "$D/a.txt"
  [ $RC -ne 0 ] || { fail $t "exit 0 without --insecure"; return; }
  [ -z "$OUT" ] || { fail $t "stdout is '$OUT'"; return; }
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || { fail $t "not one line: $ERR"; return; }
  [[ "$ERR" =~ ^fetch:\ $D/a\.txt:\ NHTTPS_ERR_CERTIFICATE_VERIFY:\ .*DEPTH_ZERO_SELF_SIGNED_CERT ]] ||
    { fail $t "stderr is '$ERR'"; return; }
  pass $t
}

test_a_failed_url_fails_the_run_but_the_others_print() {
  local t=a_failed_url_fails_the_run_but_the_others_print free
  require $t python3 || return
  [ -n "$dev_port" ] || { fail $t "serve did not start"; return; }
  free=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  run_fetch --insecure "$D/a.txt" "https://127.0.0.1:$free/" "$D/b.txt"
  [ $RC -ne 0 ] || { fail $t "exit 0 with a refused URL"; return; }
  [ "$OUT" = $'one\ntwo' ] || { fail $t "stdout is '$OUT'"; return; }
  [[ "$ERR" == "fetch: https://127.0.0.1:$free/: NHTTPS_ERR_CONNECTION_REFUSED: "* ]] ||
    { fail $t "stderr is '$ERR'"; return; }
  pass $t
}

test_connection_refused_exits_non_zero() {
  local t=connection_refused_exits_non_zero free
  require $t python3 || return
  free=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  run_fetch --insecure "https://127.0.0.1:$free/"
  [ $RC -ne 0 ] || { fail $t "exit 0"; return; }
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || { fail $t "not one line: $ERR"; return; }
  [[ "$ERR" =~ ^fetch:\ https://127\.0\.0\.1:$free/:\ NHTTPS_ERR_CONNECTION_REFUSED:\ . ]] ||
    { fail $t "stderr is '$ERR'"; return; }
  pass $t
}

test_unknown_host_exits_non_zero_with_a_dns_error() {
  local t=unknown_host_exits_non_zero_with_a_dns_error
  run_fetch "https://no-such-host.invalid/"
  [ $RC -ne 0 ] || { fail $t "exit 0"; return; }
  [[ "$ERR" =~ ^fetch:\ https://no-such-host\.invalid/:\ NHTTPS_ERR_DNS:\ . ]] ||
    { fail $t "stderr is '$ERR'"; return; }
  pass $t
}

test_usage_errors_exit_non_zero() {
  local t=usage_errors_exit_non_zero
  run_fetch
  [ $RC -ne 0 ] || { fail $t "no URL: exit 0"; return; }
  [[ "$ERR" == *usage:* ]] || { fail $t "no usage: $ERR"; return; }
  run_fetch -H 'no colon' "$D/"
  [ $RC -ne 0 ] || { fail $t "bad -H: exit 0"; return; }
  run_fetch --cert x.pem "$D/"
  [ $RC -ne 0 ] || { fail $t "--cert without --key: exit 0"; return; }
  run_fetch --parallel 0 "$D/"
  [ $RC -ne 0 ] || { fail $t "--parallel 0: exit 0"; return; }
  pass $t
}

# ---- with a CA of our own -----------------------------------------------

test_ca_makes_verification_pass() {
  local t=ca_makes_verification_pass
  require $t openssl || return
  make_certs || { fail $t "openssl: $(tail -n 5 "$tmp/openssl.log")"; return; }
  start_serve ca --cert "$tmp/server.pem" --key "$tmp/server.key" "$site" ||
    { fail $t "serve did not start"; return; }
  local u="https://localhost:$PORT"
  run_fetch "$u/a.txt"
  [ $RC -ne 0 ] || { fail $t "exit 0 without --ca"; return; }
  [[ "$ERR" == "fetch: $u/a.txt: NHTTPS_ERR_CERTIFICATE_VERIFY: "*UNABLE_TO_GET_ISSUER_CERT_LOCALLY* ]] ||
    { fail $t "without --ca: '$ERR'"; return; }
  run_fetch -v --ca "$tmp/ca.pem" "$u/a.txt" "https://127.0.0.1:$PORT/b.txt"
  [ $RC -eq 0 ] || { fail $t "with --ca: exit $RC: $ERR"; return; }
  [ "$OUT" = $'one\ntwo' ] || { fail $t "stdout is '$OUT'"; return; }
  pass $t
}

test_servername_is_sent_and_verified() {
  local t=servername_is_sent_and_verified
  require $t openssl || return
  make_certs || { fail $t "openssl: $(tail -n 5 "$tmp/openssl.log")"; return; }
  start_serve sni --cert "$tmp/server.pem" --key "$tmp/server.key" "$site" ||
    { fail $t "serve did not start"; return; }
  run_fetch --ca "$tmp/ca.pem" --servername localhost "https://127.0.0.1:$PORT/a.txt"
  [ $RC -eq 0 ] || { fail $t "--servername localhost: exit $RC: $ERR"; return; }
  grep -q 'path=/a.txt .* sni=localhost ' "$tmp/sni.log" ||
    { fail $t "serve did not see SNI localhost: $(cat "$tmp/sni.log")"; return; }
  run_fetch --ca "$tmp/ca.pem" --servername wrong.example "https://127.0.0.1:$PORT/b.txt"
  [ $RC -ne 0 ] || { fail $t "--servername wrong.example: exit 0"; return; }
  [[ "$ERR" == *NHTTPS_ERR_CERTIFICATE_VERIFY:*ERR_TLS_CERT_ALTNAME_INVALID* ]] ||
    { fail $t "wrong name: '$ERR'"; return; }
  pass $t
}

# ---- Node's https server ------------------------------------------------

node_port=
start_node_once() {
  [ -n "$node_port" ] && return 0
  make_certs || return 1
  start_node node --cert "$tmp/server.pem" --key "$tmp/server.key" || return 1
  node_port=$PORT
}
# Lines of the Node server's log added since mark_node_log.
mark_node_log() { node_mark=$(wc -l < "$tmp/node.log"); }
node_log_since() { tail -n +"$((node_mark + 1))" "$tmp/node.log"; }

test_node_sees_one_connection_for_three_urls() {
  local t=node_sees_one_connection_for_three_urls
  require $t node openssl || return
  start_node_once || { fail $t "node server did not start"; return; }
  mark_node_log
  run_fetch -v --ca "$tmp/ca.pem" "https://localhost:$node_port/1" "https://localhost:$node_port/2" \
    "https://localhost:$node_port/3"
  [ $RC -eq 0 ] || { fail $t "exit $RC: $ERR"; return; }
  [ "$OUT" = "GET /1 GET /2 GET /3 " ] || { fail $t "stdout is '$OUT'"; return; }
  local conns
  conns=$(node_log_since | grep -c '^connection ')
  [ "$conns" -eq 1 ] || { fail $t "node saw $conns connections"; return; }
  pass $t
}

test_node_sees_three_connections_without_agent() {
  local t=node_sees_three_connections_without_agent
  require $t node openssl || return
  start_node_once || { fail $t "node server did not start"; return; }
  mark_node_log
  run_fetch --no-agent --ca "$tmp/ca.pem" "https://localhost:$node_port/1" \
    "https://localhost:$node_port/2" "https://localhost:$node_port/3"
  [ $RC -eq 0 ] || { fail $t "exit $RC: $ERR"; return; }
  local conns
  conns=$(node_log_since | grep -c '^connection ')
  [ "$conns" -eq 3 ] || { fail $t "node saw $conns connections"; return; }
  pass $t
}

test_parallel_keeps_url_order_and_max_sockets() {
  local t=parallel_keeps_url_order_and_max_sockets urls=() expected="" i max
  require $t node openssl || return
  make_certs || { fail $t "openssl failed"; return; }
  # A server of its own, so that its open-connection count is ours alone.
  start_node par --cert "$tmp/server.pem" --key "$tmp/server.key" ||
    { fail $t "node server did not start"; return; }
  # Later URLs answer sooner: they finish first, yet print in URL order.
  for i in $(seq 1 12); do
    urls+=("https://localhost:$PORT/slow?ms=$(( (12 - i) * 15 ))")
    expected+="GET /slow?ms=$(( (12 - i) * 15 )) "
  done
  run_fetch -v --ca "$tmp/ca.pem" --parallel 6 --max-sockets 2 "${urls[@]}"
  [ $RC -eq 0 ] || { fail $t "exit $RC: $ERR"; return; }
  [ "$OUT" = "$expected" ] || { fail $t "stdout is '$OUT'"; return; }
  [ "$(grep -c '^status=200 ' <<< "$ERR")" -eq 12 ] || { fail $t "-v lines: $ERR"; return; }
  max=$(sed -n 's/^connection id=[0-9]* open=\([0-9]*\) .*/\1/p' "$tmp/par.log" | sort -n | tail -n 1)
  [ "$(grep -c '^connection ' "$tmp/par.log")" -le 2 ] ||
    { fail $t "more than 2 connections: $(grep '^connection ' "$tmp/par.log")"; return; }
  [ "${max:-0}" -le 2 ] || { fail $t "$max connections open at once"; return; }
  [ "$(grep -c '^request ' "$tmp/par.log")" -eq 12 ] || { fail $t "node saw $(grep -c '^request ' "$tmp/par.log") requests"; return; }
  pass $t
}

test_parallel_with_more_sockets_than_urls_also_keeps_order() {
  local t=parallel_with_more_sockets_than_urls_also_keeps_order
  require $t node openssl || return
  start_node_once || { fail $t "node server did not start"; return; }
  local u="https://localhost:$node_port"
  run_fetch --ca "$tmp/ca.pem" --parallel 8 --max-sockets 8 "$u/slow?ms=300" "$u/slow?ms=150" "$u/slow?ms=0"
  [ $RC -eq 0 ] || { fail $t "exit $RC: $ERR"; return; }
  [ "$OUT" = "GET /slow?ms=300 GET /slow?ms=150 GET /slow?ms=0 " ] || { fail $t "stdout is '$OUT'"; return; }
  pass $t
}

test_post_data_reaches_the_server() {
  local t=post_data_reaches_the_server
  require $t node openssl || return
  start_node_once || { fail $t "node server did not start"; return; }
  mark_node_log
  run_fetch -X POST -d 'name=fetch&x=1' --ca "$tmp/ca.pem" "https://localhost:$node_port/form"
  [ $RC -eq 0 ] || { fail $t "exit $RC: $ERR"; return; }
  [ "$OUT" = "POST /form name=fetch&x=1" ] || { fail $t "stdout is '$OUT'"; return; }
  node_log_since | grep -q '^request id=[0-9]* method=POST url=/form bytes=14$' ||
    { fail $t "node log: $(node_log_since)"; return; }
  run_fetch -X PUT -d 'put body' --ca "$tmp/ca.pem" "https://localhost:$node_port/p"
  [ "$OUT" = "PUT /p put body" ] || { fail $t "-X PUT: stdout is '$OUT' ($ERR)"; return; }
  pass $t
}

test_headers_reach_the_server() {
  local t=headers_reach_the_server
  require $t node openssl || return
  start_node_once || { fail $t "node server did not start"; return; }
  run_fetch -H 'X-One: 1' -H 'X-Two:   two words' -H 'X-One: again' --ca "$tmp/ca.pem" \
    "https://localhost:$node_port/headers"
  [ $RC -eq 0 ] || { fail $t "exit $RC: $ERR"; return; }
  [[ "$OUT" == *'["X-One","1"],["X-Two","two words"],["X-One","again"]'* ]] ||
    { fail $t "headers: $OUT"; return; }
  [[ "$OUT" == *"[\"Host\",\"localhost:$node_port\"]"* ]] || { fail $t "no Host: $OUT"; return; }
  pass $t
}

test_non_2xx_statuses_are_responses() {
  local t=non_2xx_statuses_are_responses
  require $t node openssl || return
  start_node_once || { fail $t "node server did not start"; return; }
  run_fetch -v --ca "$tmp/ca.pem" "https://localhost:$node_port/status/503"
  [ $RC -eq 0 ] || { fail $t "exit $RC for a 503: $ERR"; return; }
  [[ "$ERR" == status=503\ * ]] || { fail $t "stderr: $ERR"; return; }
  pass $t
}

test_client_certificate_is_sent() {
  local t=client_certificate_is_sent
  require $t node openssl || return
  make_certs || { fail $t "openssl failed"; return; }
  start_node mtls --cert "$tmp/server.pem" --key "$tmp/server.key" --ca "$tmp/ca.pem" --request-cert ||
    { fail $t "node server did not start"; return; }
  local u="https://localhost:$PORT/who"
  run_fetch --ca "$tmp/ca.pem" --cert "$tmp/client.pem" --key "$tmp/client.key" "$u"
  [ $RC -eq 0 ] || { fail $t "exit $RC: $ERR"; return; }
  [ "$OUT" = "GET /who " ] || { fail $t "stdout is '$OUT'"; return; }
  grep -q '^connection .* authorized=yes cn=fetch-client$' "$tmp/mtls.log" ||
    { fail $t "node log: $(cat "$tmp/mtls.log")"; return; }
  run_fetch --ca "$tmp/ca.pem" --cert "$tmp/client.pem" --key "$tmp/client-enc.key" \
    --passphrase secret "$u"
  [ $RC -eq 0 ] || { fail $t "encrypted key: exit $RC: $ERR"; return; }
  run_fetch --ca "$tmp/ca.pem" --cert "$tmp/client.pem" --key "$tmp/client-enc.key" \
    --passphrase wrong "$u"
  [ $RC -ne 0 ] || { fail $t "wrong passphrase: exit 0"; return; }
  [[ "$ERR" == "fetch: $u: NHTTPS_ERR_PASSPHRASE: "* ]] || { fail $t "wrong passphrase: '$ERR'"; return; }
  run_fetch --ca "$tmp/ca.pem" "$u"
  [ $RC -ne 0 ] || { fail $t "no client certificate: exit 0"; return; }
  [ "$(wc -l < "$tmp/err")" -eq 1 ] && [[ "$ERR" == "fetch: $u: NHTTPS_ERR_"* ]] ||
    { fail $t "no client certificate: '$ERR'"; return; }
  pass $t
}

# ---- Python's ssl server ------------------------------------------------

test_python_close_delimited_body() {
  local t=python_close_delimited_body
  require $t python3 openssl || return
  make_certs || { fail $t "openssl failed"; return; }
  printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nread until the server closes\n' \
    > "$tmp/close.http"
  start_python py "$tmp/close.http" || { fail $t "python server did not start"; return; }
  run_fetch -v --ca "$tmp/ca.pem" "https://localhost:$PORT/" "https://localhost:$PORT/again"
  [ $RC -eq 0 ] || { fail $t "exit $RC: $ERR"; return; }
  [ "$OUT" = $'read until the server closes\nread until the server closes' ] ||
    { fail $t "stdout is '$OUT'"; return; }
  local reused
  reused=$(sed -n 's/.* reused=\([a-z]*\) .*/\1/p' <<< "$ERR" | tr '\n' ',')
  [ "$reused" = "no,no," ] || { fail $t "a closed connection was reused: $ERR"; return; }
  pass $t
}

test_python_truncated_body_is_an_error() {
  local t=python_truncated_body_is_an_error
  require $t python3 openssl || return
  make_certs || { fail $t "openssl failed"; return; }
  printf 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this' > "$tmp/short.http"
  start_python short "$tmp/short.http" || { fail $t "python server did not start"; return; }
  run_fetch --ca "$tmp/ca.pem" "https://localhost:$PORT/"
  [ $RC -ne 0 ] || { fail $t "exit 0 for a body 91 bytes short"; return; }
  [[ "$ERR" == "fetch: https://localhost:$PORT/: NHTTPS_ERR_"* ]] || { fail $t "stderr is '$ERR'"; return; }
  pass $t
}

# ---- memcheck -----------------------------------------------------------

test_fetch_is_valgrind_clean() {
  local t=fetch_is_valgrind_clean
  require $t valgrind || return
  [ -n "$dev_port" ] || { fail $t "serve did not start"; return; }
  local vg=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
            --errors-for-leak-kinds=definite --suppressions=c-tests/valgrind.supp)
  "${vg[@]}" "$FETCH" -v --insecure --parallel 3 --max-sockets 2 -H 'X-A: b' \
    "$D/a.txt" "$D/b.txt" "$D/c.txt" "$D/nope" > "$tmp/out" 2> "$tmp/err"
  RC=$?
  [ $RC -eq 0 ] || { fail $t "parallel: exit $RC: $(head -n 40 "$tmp/err")"; return; }
  [ "$(cat "$tmp/out")" = $'one\ntwo\nthree\nNot Found' ] || { fail $t "stdout: $(cat "$tmp/out")"; return; }
  "${vg[@]}" "$FETCH" "$D/a.txt" "https://127.0.0.1:1/" > "$tmp/out" 2> "$tmp/err"
  RC=$?
  [ $RC -eq 1 ] || { fail $t "failures: exit $RC: $(head -n 40 "$tmp/err")"; return; }
  "${vg[@]}" "$FETCH" --no-agent -d data -X POST --insecure "$D/a.txt" > "$tmp/out" 2> "$tmp/err"
  RC=$?
  [ $RC -eq 0 ] || { fail $t "--no-agent POST: exit $RC: $(head -n 40 "$tmp/err")"; return; }
  pass $t
}

test_bodies_are_printed_in_url_order
test_verbose_lines_have_the_contract_format
test_keep_alive_reuses_the_connection
test_no_agent_opens_a_connection_per_request
test_verification_failure_exits_non_zero_naming_the_cause
test_a_failed_url_fails_the_run_but_the_others_print
test_connection_refused_exits_non_zero
test_unknown_host_exits_non_zero_with_a_dns_error
test_usage_errors_exit_non_zero
test_ca_makes_verification_pass
test_servername_is_sent_and_verified
test_node_sees_one_connection_for_three_urls
test_node_sees_three_connections_without_agent
test_parallel_keeps_url_order_and_max_sockets
test_parallel_with_more_sockets_than_urls_also_keeps_order
test_post_data_reaches_the_server
test_headers_reach_the_server
test_non_2xx_statuses_are_responses
test_client_certificate_is_sent
test_python_close_delimited_body
test_python_truncated_body_is_an_error
test_fetch_is_valgrind_clean
[ "$failures" -eq 0 ]
