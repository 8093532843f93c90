#!/usr/bin/env bash
# The embedding examples of issue 5: build/bin/websocket_echo, driven by a
# real WebSocket client (c-tests/peers/ws_client.py, ssl + socket only),
# and build/bin/embed_thread, driven by curl; and the bench's server
# (bench/nhttps_server.c, built here into the scratch directory), so that
# `make bench` cannot rot unnoticed. The examples themselves are built by
# `make examples`. Prints PASS/FAIL/SKIP lines for c-tests/run.sh.
#
# EXAMPLES_VALGRIND=1 runs both examples under valgrind memcheck: any
# memory error or definite leak makes their exit status 99, which the
# exit-status tests report.
set -u
cd "$(dirname "$0")/.."
. c-tests/lib.sh
BUILD="${BUILD:-build}"
WS="$BUILD/bin/websocket_echo"
EMBED="$BUILD/bin/embed_thread"
T="$BUILD/tmp-examples-$$"
mkdir -p "$T"

curl_() { curl -sS --max-time 30 "$@"; }
ms() { date +%s%3N; }

run_=()
stop_limit_ms=5000
if [ "${EXAMPLES_VALGRIND:-}" = 1 ] && need valgrind examples_under_valgrind; then
  run_=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
        --errors-for-leak-kinds=definite --suppressions=c-tests/valgrind.supp)
  stop_limit_ms=30000
fi

# start NAME BINARY ARGS...: runs an example in the background with its
# stdout in $T/NAME.log; sets PID, and PORT once the first line is out.
start() {
  local name=$1 bin=$2; shift 2
  "${run_[@]}" "$bin" --port 0 "$@" > "$T/$name.log" 2> "$T/$name.err" &
  PID=$!
  pids+=("$PID")
  for _ in $(seq 1200); do # up to 60 s on a loaded machine (or under valgrind)
    if [ -s "$T/$name.log" ]; then break; fi
    sleep 0.05
  done
  PORT=$(head -n 1 "$T/$name.log" | sed -n 's#^listening on https://127\.0\.0\.1:\([0-9]*\)/$#\1#p')
}

# wait_for FILE PATTERN: up to 20 s for a line matching PATTERN in FILE.
wait_for() {
  for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

# stop PID SIGNAL: sends SIGNAL and waits; sets RC and STOP_MS.
stop() {
  local t0; t0=$(ms)
  kill "-$2" "$1"
  wait "$1"; RC=$?
  STOP_MS=$(( $(ms) - t0 ))
}

for bin in "$WS" "$EMBED"; do
  if [ ! -x "$bin" ]; then fail examples_are_built "$bin is missing: run make examples"; exit 0; fi
done
need curl examples || exit 0

# --- websocket_echo ---------------------------------------------------------
start ws "$WS"
URL="https://127.0.0.1:$PORT"
if head -n 1 "$T/ws.log" | grep -Eq '^listening on https://127\.0\.0\.1:[0-9]+/$' && [ -n "$PORT" ] && [ "$PORT" != 0 ]; then
  pass websocket_echo_first_line_is_listening_on_the_real_port
else
  fail websocket_echo_first_line_is_listening_on_the_real_port "got: $(head -n 1 "$T/ws.log") $(cat "$T/ws.err")"
fi

page=$(curl_ -k "$URL/")
code=$(curl_ -k -o /dev/null -w '%{http_code}' "$URL/nope")
if grep -q 'new WebSocket(' <<<"$page" && [ "$code" = 404 ]; then
  pass websocket_echo_serves_a_test_page_with_a_js_client
else fail websocket_echo_serves_a_test_page_with_a_js_client "404 check got $code; page: $(head -c 200 <<<"$page")"; fi

# A handshake with curl: only the 400 is checked (curl speaks no frames).
out=$(curl_ -k -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' "$URL/" 2>&1)
if grep -q '^HTTP/1.1 400' <<<"$out"; then pass websocket_echo_handshake_without_a_key_gets_400_by_curl
else fail websocket_echo_handshake_without_a_key_gets_400_by_curl "got: $(head -c 300 <<<"$out")"; fi

# client SCENARIO ARGS...: runs ws_client.py; its PASS/FAIL lines are ours.
client() {
  local out="$T/client-$1.out"
  timeout 120 python3 c-tests/peers/ws_client.py --port "$PORT" "$@" > "$out" 2> "$out.err"
  local rc=$?
  cat "$out"
  if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
    fail "websocket_client_$1" "ws_client.py exited with $rc: $(tail -n 5 "$out.err")"
  fi
}

if need python3 websocket_client; then
  client echo
  client errors
  client many 8
fi

# A second, independent client: Node's WebSocket (undici), global in Node
# 22 and behind --experimental-websocket from Node 20.10. An older Node
# is SKIPPED, on CI too: the Python client above is the required one.
node_ws=()
if command -v node >/dev/null; then
  if node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then node_ws=(node)
  elif node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
    node_ws=(node --experimental-websocket)
  fi
fi
if ! command -v node >/dev/null; then
  need node websocket_echo_talks_with_nodes_websocket_client
elif [ ${#node_ws[@]} = 0 ]; then
  echo "SKIP websocket_echo_talks_with_nodes_websocket_client: *** SKIPPED: node $(node --version) has no WebSocket client (Node 20.10+ or 22 has) ***"
elif kill -0 "$PID" 2>/dev/null; then
  out=$(NODE_TLS_REJECT_UNAUTHORIZED=0 NODE_NO_WARNINGS=1 timeout 60 "${node_ws[@]}" -e '
    const ws = new WebSocket(`wss://127.0.0.1:${process.argv[1]}/`);
    ws.binaryType = "arraybuffer";
    const sent = ["hello ✓", Uint8Array.from([0, 1, 2, 255]), "x".repeat(70000),
                  Uint8Array.from({ length: 100000 }, (_, i) => i % 251)];
    const got = [];
    const same = (a, b) => typeof a === "string" ? a === b
      : b instanceof ArrayBuffer && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
    ws.onopen = () => sent.forEach((m) => ws.send(m));
    ws.onmessage = (e) => { got.push(e.data); if (got.length === sent.length) ws.close(1000, "bye"); };
    ws.onerror = (e) => console.log("error", e.message);
    ws.onclose = (e) => {
      const bad = sent.findIndex((m, i) => !same(m, got[i]));
      console.log(bad === -1 && e.code === 1000 && e.reason === "bye" && e.wasClean
        ? "ok" : `bad: message ${bad}, close ${e.code} ${e.reason} clean=${e.wasClean}`);
    };' "$PORT" 2>&1)
  if [ "$out" = ok ]; then pass websocket_echo_talks_with_nodes_websocket_client
  else fail websocket_echo_talks_with_nodes_websocket_client "got: $(head -c 300 <<<"$out")"; fi
else
  fail websocket_echo_talks_with_nodes_websocket_client "websocket_echo is no longer running: $(tail -n 5 "$T/ws.err")"
fi

if command -v python3 >/dev/null; then
  # SIGTERM with a WebSocket open: the process exits 0 at once and the
  # client sees its connection end (nhttps cannot interrupt the blocked
  # read for a close frame: see the example's header comment).
  timeout 60 python3 c-tests/peers/ws_client.py --port "$PORT" hold > "$T/hold.out" 2> "$T/hold.err" &
  hold_pid=$!
  if wait_for "$T/hold.out" '^open$' && wait_for "$T/ws.log" 'websocket open'; then
    stop "$PID" TERM
    wait "$hold_pid"
    held=$(tr '\n' ' ' < "$T/hold.out")
    if [ "$RC" = 0 ] && [ "$STOP_MS" -lt "$stop_limit_ms" ] && [ "$held" = "open eof " ]; then
      pass websocket_echo_sigterm_with_a_websocket_open_exits_0_promptly
    else
      fail websocket_echo_sigterm_with_a_websocket_open_exits_0_promptly "exit $RC after $STOP_MS ms, client: $held $(tail -n 3 "$T/ws.err")"
    fi
  else
    fail websocket_echo_sigterm_with_a_websocket_open_exits_0_promptly "the WebSocket did not open: $(cat "$T/hold.out" "$T/hold.err")"
    kill "$hold_pid" 2>/dev/null
  fi
fi
if kill -0 "$PID" 2>/dev/null; then # when python3 was missing
  stop "$PID" TERM
  if [ "$RC" = 0 ]; then pass websocket_echo_sigterm_exits_0; else fail websocket_echo_sigterm_exits_0 "exit $RC"; fi
fi

start ws_int "$WS"
stop "$PID" INT
if [ "$RC" = 0 ]; then pass websocket_echo_sigint_exits_0
else fail websocket_echo_sigint_exits_0 "exit $RC: $(tail -n 5 "$T/ws_int.err")"; fi

# --- embed_thread -----------------------------------------------------------
start embed "$EMBED"
URL="https://127.0.0.1:$PORT"
if head -n 1 "$T/embed.log" | grep -Eq '^listening on https://127\.0\.0\.1:[0-9]+/$' && [ -n "$PORT" ] && [ "$PORT" != 0 ]; then
  pass embed_thread_first_line_is_listening_on_the_real_port
else
  fail embed_thread_first_line_is_listening_on_the_real_port "got: $(head -n 1 "$T/embed.log") $(cat "$T/embed.err")"
fi

curls=()
for i in $(seq 20); do
  curl_ -k -o "$T/c$i.out" "$URL/r$i" 2> "$T/c$i.err" &
  curls+=($!)
done
curl_failed=0
for p in "${curls[@]}"; do wait "$p" || curl_failed=$((curl_failed + 1)); done
counts=$(for i in $(seq 20); do sed -n 's/^count=\([0-9]*\) .*/\1/p' "$T/c$i.out"; done | sort -n | tr '\n' ' ')
urls_ok=yes
for i in $(seq 20); do
  grep -q "^count=[0-9]* method=GET url=/r$i body_bytes=0 ticks=[0-9]* main_thread=yes$" "$T/c$i.out" || urls_ok="no (r$i: $(cat "$T/c$i.out" "$T/c$i.err"))"
done
if [ "$curl_failed" = 0 ] && [ "$counts" = "$(seq 20 | tr '\n' ' ')" ] && [ "$urls_ok" = yes ]; then
  pass embed_thread_20_concurrent_requests_answered_by_the_main_loop_with_counts_1_to_20
else
  fail embed_thread_20_concurrent_requests_answered_by_the_main_loop_with_counts_1_to_20 "curl failures $curl_failed, counts: $counts, every answer well-formed: $urls_ok"
fi

head -c 300000 /dev/urandom > "$T/upload.bin"
body=$(curl_ -k --data-binary @"$T/upload.bin" "$URL/upload")
if grep -q '^count=21 method=POST url=/upload body_bytes=300000 ' <<<"$body"; then
  pass embed_thread_request_body_is_read_before_the_loop_answers
else fail embed_thread_request_body_is_read_before_the_loop_answers "got: $body"; fi

t0=$(ms)
body=$(curl_ -k "$URL/later")
took=$(( $(ms) - t0 ))
if grep -q '^count=22 method=GET url=/later .*main_thread=yes$' <<<"$body" && grep -q 'holding url=/later' "$T/embed.log"; then
  pass embed_thread_later_is_held_and_answered_at_a_tick
else fail embed_thread_later_is_held_and_answered_at_a_tick "got after $took ms: $body"; fi

# SIGTERM while the loop holds a request: nhttps_server_close waits for it,
# the loop answers it at its next tick, and the process exits 0 — no
# deadlock between the close and the loop that ends the responses.
curl_ -k -o "$T/held.out" "$URL/later?held" 2> "$T/held.err" &
held_curl=$!
if wait_for "$T/embed.log" 'holding url=/later?held'; then
  stop "$PID" TERM
  wait "$held_curl"; curl_rc=$?
  if [ "$RC" = 0 ] && [ "$curl_rc" = 0 ] && [ "$STOP_MS" -lt "$stop_limit_ms" ] \
     && grep -q '^count=23 method=GET url=/later?held .*main_thread=yes$' "$T/held.out"; then
    pass embed_thread_sigterm_answers_the_held_request_and_exits_0_promptly
  else
    fail embed_thread_sigterm_answers_the_held_request_and_exits_0_promptly "exit $RC after $STOP_MS ms, curl $curl_rc: $(cat "$T/held.out" "$T/held.err") $(tail -n 5 "$T/embed.err")"
  fi
else
  fail embed_thread_sigterm_answers_the_held_request_and_exits_0_promptly "the request was not held: $(tail -n 3 "$T/embed.log")"
  kill "$held_curl" 2>/dev/null
fi

start embed_int "$EMBED"
stop "$PID" INT
if [ "$RC" = 0 ] && [ "$STOP_MS" -lt "$stop_limit_ms" ]; then pass embed_thread_sigint_exits_0_promptly
else fail embed_thread_sigint_exits_0_promptly "exit $RC after $STOP_MS ms: $(tail -n 5 "$T/embed_int.err")"; fi

# --- the bench's server (bench/nhttps_server.c), so that it cannot rot ------
if ! cc -O2 -Iinclude bench/nhttps_server.c -o "$T/nhttps_server" -L"$BUILD/lib" \
     -Wl,-rpath,"$PWD/$BUILD/lib" -lnhttps 2> "$T/bench_cc.err"; then
  fail bench_server_answers_hello_and_a_mebibyte "does not build: $(head -n 5 "$T/bench_cc.err")"
elif ! bash bench/certs.sh "$T/certs" > "$T/certs.log" 2>&1; then
  fail bench_server_answers_hello_and_a_mebibyte "bench/certs.sh: $(tail -n 3 "$T/certs.log")"
else
  "${run_[@]}" "$T/nhttps_server" 0 "$T/certs/ec.pem" "$T/certs/ec.key" > "$T/bench.log" 2> "$T/bench.err" &
  PID=$!
  pids+=("$PID")
  wait_for "$T/bench.log" '^listening on' || true
  PORT=$(sed -n 's#^listening on https://127\.0\.0\.1:\([0-9]*\)/$#\1#p' "$T/bench.log")
  hello=$(curl_ --cacert "$T/certs/ca.pem" "https://localhost:$PORT/" 2>&1)
  size=$(curl_ --cacert "$T/certs/ca.pem" -o /dev/null -w '%{size_download}' "https://localhost:$PORT/1m" 2>&1)
  stop "$PID" TERM
  if [ -n "$PORT" ] && [ "$PORT" != 0 ] && [ "$hello" = "hello, world" ] && [ "$size" = 1048576 ]; then
    pass bench_server_answers_hello_and_a_mebibyte
  else
    fail bench_server_answers_hello_and_a_mebibyte "port '$PORT', / gave '$hello', /1m gave '$size' bytes: $(head -n 3 "$T/bench.err")"
  fi
fi

# --- command-line mistakes --------------------------------------------------
"$WS" --port 99999 > /dev/null 2> "$T/bad.err"; rc1=$?
"$EMBED" --bogus > /dev/null 2>> "$T/bad.err"; rc2=$?
if [ "$rc1" = 2 ] && [ "$rc2" = 2 ] && [ "$(grep -c usage "$T/bad.err")" = 2 ]; then
  pass examples_bad_arguments_exit_2_with_usage
else fail examples_bad_arguments_exit_2_with_usage "exits $rc1 $rc2: $(cat "$T/bad.err")"; fi
exit 0
