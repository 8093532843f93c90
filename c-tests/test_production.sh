#!/usr/bin/env bash
# serve in production (issue 17), with the real parts: HAProxy in front of
# two serve processes with the PROXY protocol and shared ticket keys, a
# rolling restart on one SO_REUSEPORT port, systemd's socket-activation
# protocol, certificate reload on SIGHUP during a download, and the
# --status counters. The snippets of docs/deploy.md are the ones run here.
# Prints PASS/FAIL/SKIP lines for c-tests/run.sh.
set -u
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
SERVE="$PWD/$BUILD/bin/serve"
T="$PWD/$BUILD/tmp-production-$$"
mkdir -p "$T"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
need() { # need TOOL TEST: false (and SKIP/FAIL printed) when TOOL is missing
  command -v "$1" >/dev/null && return 0
  if [ "${CI:-}" = true ]; then fail "$2" "$1 is not installed (CI=true)"
  else echo "SKIP $2: *** SKIPPED: $1 is not installed ***"; fi
  return 1
}
PATH="$PATH:/usr/sbin"

# wait_line FILE: waits (up to 20 s) for FILE's first line; prints its port.
wait_line() {
  for _ in $(seq 400); do [ -s "$1" ] && break; sleep 0.05; done
  head -n 1 "$1" | sed -n 's#^listening on https://[^ ]*:\([0-9]*\)/$#\1#p'
}
# start NAME ARGS...: serve in the background, output in $T/NAME.log and
# .err; sets PID and PORT.
start() {
  local name=$1; shift
  "$SERVE" "$@" > "$T/$name.log" 2> "$T/$name.err" &
  PID=$!; pids+=("$PID")
  PORT=$(wait_line "$T/$name.log")
}
# subject HOST:PORT: the subject of the certificate a new connection gets.
subject() {
  openssl s_client -connect "$1" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null
}

need curl production || exit 0
need openssl production || exit 0
need python3 production || exit 0

# Certificates from a test CA: "old" and "new" identities for localhost.
(
  cd "$T"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=Test-CA -keyout ca.key -out ca.pem
  for name in old new; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/O=$name/CN=localhost" -keyout "$name.key" -out "$name.csr"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile san.ext -out "$name.pem"
  done
  head -c 80 /dev/urandom > ticket.keys
) > "$T/certs.log" 2>&1 || { fail production_certificates "openssl failed: $(tail -3 "$T/certs.log")"; exit 0; }
mkdir -p "$T/site"
printf 'hello\n' > "$T/site/index.html"
head -c 50000000 /dev/urandom > "$T/site/big.bin"

# --- socket activation -------------------------------------------------------
# As systemd does: the socket is bound by the parent, serve is exec'd with it
# as fd 3 and LISTEN_PID its own pid; --port is then ignored.
python3 - "$SERVE" "$T/activated.log" <<'PY' &
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
out = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.dup2(out, 1)
os.execv(sys.argv[1], [sys.argv[1], "--port", "1"])
PY
pids+=($!)
PORT=$(wait_line "$T/activated.log")
body=$(curl -sS --max-time 10 -k "https://127.0.0.1:$PORT/style.css" 2>&1 | head -c 4)
if [ -n "$PORT" ] && [ "$PORT" != 1 ] && [ "$body" = "body" ]; then
  pass socket_activation_serves_on_the_inherited_socket
else
  fail socket_activation_serves_on_the_inherited_socket "line: $(head -n1 "$T/activated.log"), body: $body"
fi

# --- --status ------------------------------------------------------------------
start status --port 0 --status /status
U="https://127.0.0.1:$PORT"
curl -sS -k "$U/a" "$U/b" "$U/c" -o /dev/null -o /dev/null -o /dev/null
printf 'GET / HTTP/1.1\r\n\r\n' | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 -ciphersuites TLS_NOT_A_SUITE >/dev/null 2>&1
python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(b"GET / HTTP/1.1\r\n\r\n"); s.recv(100)' "$PORT" 2>/dev/null
json=$(curl -sS -k "$U/status")
if python3 - "$json" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
assert list(s) == ["accepted", "open", "idle", "handshake_failures", "requests", "bytes_in", "bytes_out"], s
assert s["requests"] == 4, s          # /a /b /c on one connection, then /status
assert s["accepted"] == 3, s          # curl's two connections and the plain-HTTP one
assert s["handshake_failures"] == 1, s
assert s["open"] == 1 and s["bytes_in"] > 200 and s["bytes_out"] > 400, s
PY
then pass status_answers_the_counters_after_a_known_load
else fail status_answers_the_counters_after_a_known_load "got: $json"; fi
kill "$PID"

# --- rolling restart on one port ----------------------------------------------
# Connections waiting in the old process's accept queue move to the new one
# as it closes only with net.ipv4.tcp_migrate_req (Linux 5.14; docs/deploy.md).
migrate=$(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null || echo missing)
if [ "$migrate" = 0 ]; then echo 1 > /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null; fi
if [ "$(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null)" != 1 ]; then
  if [ "${CI:-}" = true ]; then fail rolling_restart_on_one_port_loses_no_request "net.ipv4.tcp_migrate_req cannot be set"
  else echo "SKIP rolling_restart_on_one_port_loses_no_request: *** SKIPPED: net.ipv4.tcp_migrate_req is not 1 and cannot be set ***"; fi
else
  start old --port 0 --reuse-port --cert "$T/old.pem" --key "$T/old.key" "$T/site"
  old_pid=$PID P=$PORT
  start new --port "$P" --reuse-port --cert "$T/new.pem" --key "$T/new.key" "$T/site"
  new_pid=$PID
  # 200 curl processes, each 10 requests on one keep-alive connection.
  (
    for i in $(seq 200); do
      urls=(); for j in $(seq 10); do urls+=(-o /dev/null "https://127.0.0.1:$P/?r=$i.$j"); done
      curl -sS --max-time 20 --cacert "$T/ca.pem" -w '%{http_code}\n' "${urls[@]}" 2>&1
    done
  ) > "$T/rolling.out" &
  loop=$!
  for _ in $(seq 100); do [ "$(wc -l < "$T/rolling.out")" -ge 500 ] && break; sleep 0.05; done
  kill -TERM "$old_pid"
  wait "$loop"
  wait "$old_pid"; old_rc=$?
  ok=$(grep -c '^200$' "$T/rolling.out")
  old_served=$(grep -c '^method=GET' "$T/old.log")
  new_served=$(grep -c '^method=GET' "$T/new.log")
  if [ "$ok" = 2000 ] && [ "$old_rc" = 0 ] && [ "$old_served" -gt 0 ] && [ "$new_served" -gt 0 ]; then
    pass rolling_restart_on_one_port_loses_no_request
  else
    fail rolling_restart_on_one_port_loses_no_request "200s: $ok of 2000 (old served $old_served, exit $old_rc; new $new_served); other lines: $(grep -v '^200$' "$T/rolling.out" | sort | uniq -c | head -5)"
  fi
  kill "$new_pid"
  [ "$migrate" = 0 ] && echo 0 > /proc/sys/net/ipv4/tcp_migrate_req
fi

# --- reload on SIGHUP -----------------------------------------------------------
cp "$T/old.pem" "$T/live.pem"; cp "$T/old.key" "$T/live.key"
start reload --port 0 --cert "$T/live.pem" --key "$T/live.key" "$T/site"
# A slow 50 MB download (10 MB/s) on the old certificate...
curl -sS -v --max-time 60 --limit-rate 10M --cacert "$T/ca.pem" -o "$T/big.got" \
  "https://localhost:$PORT/big.bin" --resolve "localhost:$PORT:127.0.0.1" 2> "$T/download.err" &
download=$!
sleep 1
# ...while the files are rotated and serve told so.
cp "$T/new.pem" "$T/live.pem"; cp "$T/new.key" "$T/live.key"
kill -HUP "$PID"
for _ in $(seq 100); do grep -q '^reloaded$' "$T/reload.log" && break; sleep 0.05; done
during=$(subject "127.0.0.1:$PORT")
wait "$download"; download_rc=$?
if grep -q '^reloaded$' "$T/reload.log" && [[ "$during" == *"O = new"* ]] &&
   [ "$download_rc" = 0 ] && cmp -s "$T/big.got" "$T/site/big.bin" &&
   grep -q 'subject: O=old' "$T/download.err"; then
  pass sighup_swaps_the_certificate_for_new_connections_and_a_download_in_flight_completes
else
  fail sighup_swaps_the_certificate_for_new_connections_and_a_download_in_flight_completes \
    "log: $(tr '\n' '|' < "$T/reload.log" | head -c 300); new connection: $during; download rc $download_rc: $(grep -E 'subject:|curl:' "$T/download.err" | head -3)"
fi
# A broken key: the reload fails, says why, and the last good one stays.
echo "not a key" > "$T/live.key"
kill -HUP "$PID"
sleep 0.5
after=$(subject "127.0.0.1:$PORT")
reloads=$(grep -c '^reloaded$' "$T/reload.log")
if [ "$reloads" = 1 ] && grep -q 'reload failed' "$T/reload.err" && grep -q 'live.key' "$T/reload.err" &&
   [[ "$after" == *"O = new"* ]]; then
  pass a_reload_with_a_broken_key_keeps_serving_the_last_good_certificate
else
  fail a_reload_with_a_broken_key_keeps_serving_the_last_good_certificate \
    "reloaded $reloads times; stderr: $(tr '\n' '|' < "$T/reload.err"); certificate: $after"
fi
kill "$PID"
