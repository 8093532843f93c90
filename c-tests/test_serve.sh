#!/usr/bin/env bash
# The command-line contract of build/bin/serve (issue 2), driven with curl
# and openssl. Prints PASS/FAIL/SKIP lines for c-tests/run.sh.
set -u
cd "$(dirname "$0")/.."
. c-tests/lib.sh
BUILD="${BUILD:-build}"
SERVE="$BUILD/bin/serve"
T="$BUILD/tmp-serve-$$"
mkdir -p "$T"

curl_() { curl -sS --max-time 30 "$@"; }

# start NAME ARGS...: serve on an ephemeral port (see serve_start).
start() { serve_start "$1" --port 0 "${@:2}"; }

need curl serve || exit 0
need openssl serve || exit 0

# A site, and certificates from a test CA.
mkdir -p "$T/site/sub" "$T/outside"
printf '<h1>root</h1>\n' > "$T/site/index.html"
printf 'body { }\n' > "$T/site/style.css"
printf 'sub index\n' > "$T/site/sub/index.html"
printf '{"a":1}\n' > "$T/site/data.json"
printf 'secret\n' > "$T/outside/secret.txt"
ln -s ../outside/secret.txt "$T/site/link.txt"
(
  cd "$T"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=Test-CA -keyout ca.key -out ca.pem
  for name in localhost a.example.test; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
      -keyout "$name.key" -out "$name.csr"
    printf 'subjectAltName=DNS:%s,IP:127.0.0.1\n' "$name" > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile "$name.ext" -out "$name.pem"
  done
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=alice \
    -keyout alice.key -out alice.csr
  openssl x509 -req -in alice.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out alice.pem
  openssl ec -in localhost.key -aes256 -passout pass:sesame -out localhost-enc.key
) > "$T/certs.log" 2>&1 || { fail serve_certificates "openssl failed: $(tail -3 "$T/certs.log")"; exit 0; }

# --- the first line and the access log -------------------------------------
start main "$T/site"
URL="https://127.0.0.1:$PORT"
if head -n 1 "$T/main.log" | grep -Eq '^listening on https://127\.0\.0\.1:[0-9]+/$' && [ "$PORT" != 0 ]; then
  pass first_line_is_listening_on_the_real_port
else
  fail first_line_is_listening_on_the_real_port "got: $(head -n 1 "$T/main.log")"
fi

body=$(curl_ -k "$URL/")
if [ "$body" = "<h1>root</h1>" ]; then pass a_directory_serves_its_index_html
else fail a_directory_serves_its_index_html "got: $body"; fi

body=$(curl_ -k "$URL/sub/")
if [ "$body" = "sub index" ]; then pass a_subdirectory_serves_its_index_html
else fail a_subdirectory_serves_its_index_html "got: $body"; fi

types=$(for f in style.css data.json index.html; do curl_ -k -o /dev/null -w '%{content_type}\n' "$URL/$f"; done)
if [ "$types" = $'text/css; charset=utf-8\napplication/json\ntext/html; charset=utf-8' ]; then
  pass content_type_follows_the_extension
else fail content_type_follows_the_extension "got: $types"; fi

head_out=$(curl_ -k -I "$URL/style.css")
if grep -q '^HTTP/1.1 200' <<<"$head_out" && grep -qi '^content-length: 9' <<<"$head_out"; then
  pass head_gives_the_length_without_the_body
else fail head_gives_the_length_without_the_body "got: $head_out"; fi

code=$(curl_ -k -o /dev/null -w '%{http_code}' "$URL/missing.html")
if [ "$code" = 404 ]; then pass a_missing_file_is_404
else fail a_missing_file_is_404 "got $code"; fi

out=$(curl_ -k -i -X POST -d x "$URL/")
if grep -q '^HTTP/1.1 405' <<<"$out" && grep -qi '^allow: GET, HEAD' <<<"$out"; then
  pass other_methods_get_405_with_allow
else fail other_methods_get_405_with_allow "got: $out"; fi

leaked=no
for path in /../outside/secret.txt /sub/../../outside/secret.txt /%2e%2e/outside/secret.txt \
            /..%2foutside%2fsecret.txt /%2E%2E%2Foutside/secret.txt /sub/%2e%2e/%2e%2e/outside/secret.txt \
            /link.txt "/..%5coutside%5csecret.txt"; do
  out=$(curl_ -k --path-as-is "$URL$path")
  if grep -q secret <<<"$out"; then leaked="yes ($path)"; fi
done
if [ "$leaked" = no ]; then pass paths_escaping_the_directory_are_never_served
else fail paths_escaping_the_directory_are_never_served "served $leaked"; fi

sleep 0.2
line=$(grep 'path=/style.css ' "$T/main.log" | head -n 1)
if grep -Eq '^method=GET path=/style.css status=200 bytes=9 tls=TLSv1\.[23] alpn=[^ ]+ sni=- authorized=- peer=- remote=127\.0\.0\.1:[0-9]+$' <<<"$line"; then
  pass access_log_line_has_every_field
else fail access_log_line_has_every_field "got: $line"; fi

line=$(grep 'path=/missing.html ' "$T/main.log" | head -n 1)
if grep -q 'status=404' <<<"$line"; then pass access_log_records_errors_too
else fail access_log_records_errors_too "got: $line"; fi

# --- graceful stop ----------------------------------------------------------
head -c 20000000 /dev/zero > "$T/site/big.bin"
curl_ -k --limit-rate 20M -o "$T/big.out" "$URL/big.bin" 2> "$T/big.err" &
curl_pid=$!
for _ in $(seq 100); do [ -s "$T/big.out" ] && break; sleep 0.05; done
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"; serve_rc=$?
wait "$curl_pid"; curl_rc=$?
size=$(stat -c %s "$T/big.out" 2>/dev/null || echo 0)
if [ "$serve_rc" = 0 ] && [ "$curl_rc" = 0 ] && [ "$size" = 20000000 ]; then
  pass sigterm_finishes_the_response_in_flight_and_exits_0
else fail sigterm_finishes_the_response_in_flight_and_exits_0 "serve exit $serve_rc, curl exit $curl_rc, $size bytes"; fi

start int "$T/site"
kill -INT "$SERVE_PID"; wait "$SERVE_PID"; rc=$?
if [ "$rc" = 0 ]; then pass sigint_exits_0; else fail sigint_exits_0 "exit $rc"; fi

# --- the bundled demo site and the development certificate ------------------
start demo
body=$(curl_ -k "https://127.0.0.1:$PORT/")
if grep -q 'Hello from nhttps' <<<"$body"; then pass without_dir_the_demo_site_is_served
else fail without_dir_the_demo_site_is_served "got: $body"; fi
kill "$SERVE_PID"

# --- certificates, passphrase, client certificates --------------------------
start certs --cert "$T/localhost.pem" --key "$T/localhost-enc.key" --passphrase sesame "$T/site"
body=$(curl_ --cacert "$T/ca.pem" "https://localhost:$PORT/sub/" 2>&1)
if [ "$body" = "sub index" ]; then pass cert_key_and_passphrase_are_used_and_verify
else fail cert_key_and_passphrase_are_used_and_verify "port=$PORT got: $body $(cat "$T/certs.err")"; fi
kill "$SERVE_PID"

"$SERVE" --port 0 --cert "$T/localhost.pem" --key "$T/localhost-enc.key" --passphrase wrong \
  > "$T/wrong.log" 2> "$T/wrong.err"
rc=$?
if [ "$rc" != 0 ] && grep -qi passphrase "$T/wrong.err"; then pass a_wrong_passphrase_fails_with_a_message
else fail a_wrong_passphrase_fails_with_a_message "exit $rc: $(cat "$T/wrong.err")"; fi

start mtls --cert "$T/localhost.pem" --key "$T/localhost.key" --ca "$T/ca.pem" \
  --request-cert --reject-unauthorized "$T/site"
body=$(curl_ --cacert "$T/ca.pem" --cert "$T/alice.pem" --key "$T/alice.key" "https://localhost:$PORT/sub/")
curl_ --cacert "$T/ca.pem" "https://localhost:$PORT/sub/" > /dev/null 2>&1; anon_rc=$?
sleep 0.2
line=$(grep 'path=/sub/' "$T/mtls.log" | head -n 1)
if [ "$body" = "sub index" ] && [ "$anon_rc" != 0 ] && grep -q 'sni=localhost authorized=yes peer=alice remote=[0-9.]*:[0-9]*$' <<<"$line"; then
  pass reject_unauthorized_admits_only_trusted_client_certificates
else fail reject_unauthorized_admits_only_trusted_client_certificates "body=$body anon=$anon_rc log=$line"; fi
kill "$SERVE_PID"

start optional --request-cert "$T/site"
curl_ -k "https://127.0.0.1:$PORT/index.html" > /dev/null
sleep 0.2
line=$(grep 'path=/index.html' "$T/optional.log" | head -n 1)
if grep -q 'authorized=no peer=- remote=[0-9.]*:[0-9]*$' <<<"$line"; then pass request_cert_without_rejection_logs_authorized_no
else fail request_cert_without_rejection_logs_authorized_no "got: $line"; fi
kill "$SERVE_PID"

# --- SNI and ALPN -----------------------------------------------------------
start sni --cert "$T/localhost.pem" --key "$T/localhost.key" \
  --sni "a.example.test=$T/a.example.test.pem,$T/a.example.test.key" --alpn http/1.1 "$T/site"
subject=$(openssl s_client -connect "127.0.0.1:$PORT" -servername a.example.test </dev/null 2>/dev/null \
  | openssl x509 -noout -subject 2>/dev/null)
default=$(openssl s_client -connect "127.0.0.1:$PORT" -servername other.test </dev/null 2>/dev/null \
  | openssl x509 -noout -subject 2>/dev/null)
body=$(curl_ --cacert "$T/ca.pem" --resolve "a.example.test:$PORT:127.0.0.1" "https://a.example.test:$PORT/sub/")
sleep 0.2
line=$(grep 'sni=a.example.test' "$T/sni.log" | head -n 1)
if grep -q 'CN *= *a.example.test' <<<"$subject" && grep -q 'CN *= *localhost' <<<"$default" \
   && [ "$body" = "sub index" ] && grep -q 'alpn=http/1.1 sni=a.example.test' <<<"$line"; then
  pass sni_picks_the_certificate_and_alpn_is_logged
else fail sni_picks_the_certificate_and_alpn_is_logged "subject=$subject default=$default body=$body log=$line"; fi
kill "$SERVE_PID"

# --- command-line mistakes --------------------------------------------------
"$SERVE" --port 99999 > /dev/null 2> "$T/bad.err"; rc=$?
"$SERVE" --cert only.pem > /dev/null 2>> "$T/bad.err"; rc2=$?
"$SERVE" --bogus > /dev/null 2>> "$T/bad.err"; rc3=$?
if [ "$rc" != 0 ] && [ "$rc2" != 0 ] && [ "$rc3" != 0 ] && grep -q usage "$T/bad.err"; then
  pass bad_arguments_exit_non_zero_with_usage
else fail bad_arguments_exit_non_zero_with_usage "exits $rc $rc2 $rc3"; fi
exit 0
