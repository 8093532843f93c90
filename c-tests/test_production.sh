#!/usr/bin/env bash
# serve in production (issue 17), with the real parts: HAProxy in front of
# two serve processes with the PROXY protocol and shared ticket keys, a
# rolling restart on one SO_REUSEPORT port, systemd's socket-activation
# protocol, certificate reload on SIGHUP during a download, and the
# --status counters. The snippets of docs/deploy.md are the ones run here.
# Prints PASS/FAIL/SKIP lines for c-tests/run.sh.
set -u
cd "$(dirname "$0")/.."
. c-tests/lib.sh
BUILD="${BUILD:-build}"
SERVE="$PWD/$BUILD/bin/serve"
T="$PWD/$BUILD/tmp-production-$$"
mkdir -p "$T"

PATH="$PATH:/usr/sbin"

start() { serve_start "$@"; }
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

# --- docs/deploy.md's snippets --------------------------------------------------
# snippet NAME: the code block after `<!-- snippet: NAME -->` in docs/deploy.md.
snippet() {
  awk -v name="$1" '$0 == "<!-- snippet: " name " -->" { found = 1; next }
    found && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' docs/deploy.md
}
# localize: the doc's paths and commands made the test's.
localize() {
  sed -e "s#/usr/local/bin/serve#$SERVE#g" -e "s#/etc/nhttps/#$T/etc/#g" \
      -e "s#/srv/www#$T/site#g" -e "s#systemctl reload nhttps#kill -HUP \$FLEET_PIDS#g"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The machine's files, as the unit names them: a certificate whose OCSP
# responder is `openssl ocsp` on loopback, and its CA's database.
OCSP_PORT=$(free_port)
mkdir -p "$T/etc"
(
  set -e
  cd "$T/etc"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout key.pem -out cert.csr
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nauthorityInfoAccess=OCSP;URI:http://127.0.0.1:%s\n' \
    "$OCSP_PORT" > cert.ext
  openssl x509 -req -in cert.csr -CA ../ca.pem -CAkey ../ca.key -CAcreateserial -days 2 \
    -extfile cert.ext -out cert.pem
  cp ../ca.pem issuer.pem
  expires=$(date -u -d "$(openssl x509 -in cert.pem -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
  printf 'V\t%s\t\t%s\tunknown\t/CN=localhost\n' "$expires" \
    "$(openssl x509 -in cert.pem -noout -serial | cut -d= -f2)" > index.txt
  openssl ocsp -index index.txt -rsigner ../ca.pem -rkey ../ca.key -CA ../ca.pem \
    -issuer issuer.pem -cert cert.pem -no_nonce -respout ocsp.der
  head -c 80 /dev/urandom > ticket.keys
) > "$T/etc.log" 2>&1 || { fail production_fleet_files "openssl failed: $(tail -3 "$T/etc.log")"; exit 0; }

# Backend 1: socket-activated as nhttps.socket/nhttps.service do it — the
# socket bound by the parent, serve exec'd with it as fd 3 and LISTEN_PID
# its own pid (--host/--port would be ignored); backend 2: the same command
# line on a port of its own ("another machine").
exec_start=$(snippet nhttps.service | sed -n 's/^ExecStart=//p' | localize)
python3 - "$T/web1.log" $exec_start > /dev/null 2> "$T/web1.err" <<'PY' &
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.dup2(out, 1)
os.execv(sys.argv[2], sys.argv[2:])
PY
WEB1_PID=$!; pids+=("$WEB1_PID")
WEB1=$(wait_line "$T/web1.log")
$exec_start --port 0 > "$T/web2.log" 2> "$T/web2.err" &
WEB2_PID=$!; pids+=("$WEB2_PID")
WEB2=$(wait_line "$T/web2.log")
FLEET_PIDS="$WEB1_PID $WEB2_PID"
if [ -n "$WEB1" ] && [ -n "$WEB2" ] && head -n1 "$T/web1.log" | grep -q '^listening on https://127\.0\.0\.1:[0-9]*/$'; then
  pass the_units_serve_listens_on_the_socket_it_was_handed
else
  fail the_units_serve_listens_on_the_socket_it_was_handed "web1: $(head -c 300 "$T/web1.log" "$T/web1.err"); web2: $(head -c 300 "$T/web2.log" "$T/web2.err")"
fi

if need haproxy haproxy_in_front_of_two_backends; then
  FRONT=$(free_port)
  snippet haproxy.cfg > "$T/haproxy.cfg"
  FRONTEND=127.0.0.1:$FRONT WEB1=127.0.0.1:$WEB1 WEB2=127.0.0.1:$WEB2 \
    haproxy -f "$T/haproxy.cfg" -db > "$T/haproxy.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$FRONT") 2>/dev/null && break; sleep 0.05; done
  # 200 requests, each on a connection of its own (HAProxy balances connections).
  urls=(); for i in $(seq 200); do urls+=(-o /dev/null "https://localhost:$FRONT/?n=$i"); done
  curl -sS --max-time 60 --cacert "$T/ca.pem" --resolve "localhost:$FRONT:127.0.0.1" \
    -H 'Connection: close' -w '%{http_code} %{local_port}\n' "${urls[@]}" > "$T/through.out" 2>&1
  answered=$(grep -c '^200 ' "$T/through.out")
  served1=$(grep -c '^method=GET path=/?n=' "$T/web1.log")
  served2=$(grep -c '^method=GET path=/?n=' "$T/web2.log")
  sed -n 's/^200 //p' "$T/through.out" | sort > "$T/client.ports"
  cat "$T/web1.log" "$T/web2.log" | grep '^method=GET path=/?n=' |
    sed -n 's/.* remote=127\.0\.0\.1:\([0-9]*\)$/\1/p' | sort > "$T/logged.ports"
  if [ "$answered" = 200 ] && [ "$served1" -gt 0 ] && [ "$served2" -gt 0 ] &&
     [ "$((served1 + served2))" = 200 ] && cmp -s "$T/client.ports" "$T/logged.ports"; then
    pass haproxy_with_send_proxy_v2_spreads_requests_and_the_log_names_the_client
  else
    fail haproxy_with_send_proxy_v2_spreads_requests_and_the_log_names_the_client \
      "answered $answered, web1 $served1, web2 $served2, ports logged as the client's: $(comm -12 "$T/client.ports" "$T/logged.ports" | wc -l) of 200; $(grep -v '^200 ' "$T/through.out" | head -3)"
  fi

  # A session saved through HAProxy resumes on the other backend: the
  # fleet shares its ticket keys. Round robin alternates the backends.
  resume() { # resume IN|OUT FILE: one connection through HAProxy
    printf 'GET /?resume HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
      timeout 20 openssl s_client -connect "127.0.0.1:$FRONT" -servername localhost -ign_eof \
        "-sess_$1" "$2" 2>&1
  }
  before1=$(grep -c 'path=/?resume' "$T/web1.log")
  resume out "$T/session.pem" > "$T/resume0.out"
  reused=0
  for i in 1 2 3; do resume in "$T/session.pem" > "$T/resume$i.out"; grep -q '^Reused, TLSv1.3' "$T/resume$i.out" && reused=$((reused + 1)); done
  after1=$(grep -c 'path=/?resume' "$T/web1.log")
  after2=$(grep -c 'path=/?resume' "$T/web2.log")
  if grep -q '^New, TLSv1.3' "$T/resume0.out" && [ "$reused" = 3 ] &&
     [ "$((after1 - before1))" -ge 1 ] && [ "$after2" -ge 1 ]; then
    pass a_session_saved_on_one_backend_resumes_on_the_other
  else
    fail a_session_saved_on_one_backend_resumes_on_the_other "reused $reused of 3; web1 $((after1 - before1)), web2 $after2; $(grep -E '^(New|Reused)' "$T"/resume*.out | head -4)"
  fi

  # The rotation snippet (its local part), then the reload it sends: the
  # old session no longer resumes, a new one resumes fleet-wide.
  (snippet rotate-ticket-keys | sed -n '/^umask/,/^mv /p' | localize; echo 'kill -HUP $FLEET_PIDS') > "$T/rotate.sh"
  FLEET_PIDS=$FLEET_PIDS bash "$T/rotate.sh"
  for _ in $(seq 100); do [ "$(cat "$T/web1.log" "$T/web2.log" | grep -c '^reloaded$')" = 2 ] && break; sleep 0.05; done
  stale=$(resume in "$T/session.pem" | grep -E '^(New|Reused),')
  resume out "$T/session2.pem" > /dev/null
  fresh=0
  for i in 1 2; do resume in "$T/session2.pem" | grep -q '^Reused, TLSv1.3' && fresh=$((fresh + 1)); done
  if [[ "$stale" == New,* ]] && [ "$fresh" = 2 ]; then
    pass rotated_ticket_keys_end_old_sessions_and_resume_new_ones_fleet_wide
  else
    fail rotated_ticket_keys_end_old_sessions_and_resume_new_ones_fleet_wide "old session: $stale; new session reused $fresh of 2; $(cat "$T/web1.err" | tail -2)"
  fi

  # OCSP: the staple the unit names, then the refresh snippet against a
  # live `openssl ocsp` responder that now says revoked, and the reload.
  ocsp_status() {
    timeout 20 openssl s_client -connect "127.0.0.1:$FRONT" -servername localhost -status </dev/null 2>&1
  }
  first=$(ocsp_status)
  sed -i 's/^V\t\([^\t]*\)\t\t/R\t\1\t'"$(date -u +%y%m%d%H%M%SZ)"',keyCompromise\t/' "$T/etc/index.txt"
  (cd "$T/etc" && exec openssl ocsp -index index.txt -port "$OCSP_PORT" -rsigner ../ca.pem \
    -rkey ../ca.key -CA ../ca.pem) > "$T/responder.log" 2>&1 &
  responder=$!; pids+=("$responder")
  # Waits for its socket to listen without connecting to it: OpenSSL 3.0's
  # responder spins on a connection that closes without a request.
  for _ in $(seq 100); do
    grep -q ":$(printf '%04X' "$OCSP_PORT") 00000000:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null && break
    sleep 0.05
  done
  before=$(cat "$T/web1.log" "$T/web2.log" | grep -c '^reloaded$')
  snippet ocsp-refresh | grep -v '^#' | localize > "$T/refresh.sh"
  FLEET_PIDS=$FLEET_PIDS bash "$T/refresh.sh" > "$T/refresh.log" 2>&1; refresh_rc=$?
  for _ in $(seq 100); do [ "$(cat "$T/web1.log" "$T/web2.log" | grep -c '^reloaded$')" = $((before + 2)) ] && break; sleep 0.05; done
  second=$(ocsp_status)
  if grep -q 'Cert Status: good' <<<"$first" && [ "$refresh_rc" = 0 ] &&
     grep -q 'Cert Status: revoked' <<<"$second"; then
    pass ocsp_staple_and_its_refresh_by_the_documented_cron_job
  else
    fail ocsp_staple_and_its_refresh_by_the_documented_cron_job \
      "first: $(grep -E 'OCSP|Cert Status' <<<"$first" | head -2 | tr '\n' ' '); refresh rc $refresh_rc: $(tail -3 "$T/refresh.log" | tr '\n' ' '); second: $(grep -E 'OCSP|Cert Status' <<<"$second" | head -2 | tr '\n' ' ')"
  fi
fi
kill $FLEET_PIDS 2>/dev/null

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
if [ "$migrate" = 0 ]; then bash -c "$(snippet sysctl)" >/dev/null 2>&1; fi
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
