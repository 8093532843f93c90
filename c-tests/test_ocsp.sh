#!/usr/bin/env bash
# OCSP stapling through build/bin/serve (issue 17), with OpenSSL's own
# tools: a test CA signs the leaves, an OpenSSL CA index file says which
# are valid and which revoked, `openssl ocsp -index` answers for each leaf
# (-respout, DER), and `openssl s_client -status` and `curl --cert-status`
# read what serve staples. Prints PASS/FAIL/SKIP lines for c-tests/run.sh.
set -u
cd "$(dirname "$0")/.."
. c-tests/lib.sh
BUILD="${BUILD:-build}"
SERVE="$BUILD/bin/serve"
T="$BUILD/tmp-ocsp-$$"
mkdir -p "$T"

# start NAME ARGS...: serve on an ephemeral port (see serve_start).
start() { serve_start "$1" --port 0 "${@:2}"; }

# status [ARGS...]: what `openssl s_client -status` says on 127.0.0.1:$PORT.
status() {
  timeout 30 openssl s_client -connect "127.0.0.1:$PORT" -status "$@" </dev/null 2>&1
}

# serial WHO: the serial number of WHO.pem, as the OCSP response prints it.
serial() { openssl x509 -in "$T/$1.pem" -noout -serial | cut -d= -f2; }

need openssl ocsp || exit 0

# --- a CA, three leaves, an index, and one response per leaf ----------------
(
  set -e
  cd "$T"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=Test-CA -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -keyout ca.key -out ca.pem
  for name in localhost a.example.test revoked.test; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
      -keyout "$name.key" -out "$name.csr"
    printf 'subjectAltName=DNS:%s,IP:127.0.0.1\n' "$name" > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile "$name.ext" -out "$name.pem"
    # The chain a server sends: curl --cert-status finds the issuer there.
    cat "$name.pem" ca.pem > "$name.chain.pem"
  done
  # OpenSSL's CA database: status, expiry, revocation time, serial, file, subject.
  : > index.txt
  for name in localhost a.example.test revoked.test; do
    expires=$(date -u -d "$(openssl x509 -in "$name.pem" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
    serial=$(openssl x509 -in "$name.pem" -noout -serial | cut -d= -f2)
    if [ "$name" = revoked.test ]; then
      printf 'R\t%s\t%s,keyCompromise\t%s\tunknown\t/CN=%s\n' \
        "$expires" "$(date -u +%y%m%d%H%M%SZ)" "$serial" "$name" >> index.txt
    else
      printf 'V\t%s\t\t%s\tunknown\t/CN=%s\n' "$expires" "$serial" "$name" >> index.txt
    fi
  done
  # -no_nonce: a stapled response answers no particular request.
  for name in localhost a.example.test revoked.test; do
    openssl ocsp -index index.txt -rsigner ca.pem -rkey ca.key -CA ca.pem -issuer ca.pem \
      -cert "$name.pem" -respout "$name.ocsp.der" -ndays 1 -no_nonce
  done
  printf 'not an OCSP response\n' > garbage.der
) > "$T/pki.log" 2>&1 || { fail ocsp_test_pki "openssl failed: $(tail -5 "$T/pki.log")"; exit 0; }

# --- the staple, asked for or not -------------------------------------------
start good --cert "$T/localhost.chain.pem" --key "$T/localhost.key" --ocsp "$T/localhost.ocsp.der"
out13=$(status)
out12=$(status -tls1_2)
for version in 13 12; do
  out=out$version
  out=${!out}
  if grep -q 'OCSP Response Status: successful' <<<"$out" && grep -q 'Cert Status: good' <<<"$out" \
     && grep -q "Serial Number: $(serial localhost)" <<<"$out"; then
    pass "s_client_status_gets_a_successful_good_response_tls1_${version#1}"
  else fail "s_client_status_gets_a_successful_good_response_tls1_${version#1}" "got: $(grep -A3 OCSP <<<"$out" | head -8)"; fi
done

out=$(printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' \
  | timeout 30 openssl s_client -connect "127.0.0.1:$PORT" -ign_eof 2>&1)
if ! grep -qi 'OCSP response' <<<"$out" && grep -q '^HTTP/1.1 200' <<<"$out"; then
  pass a_client_that_does_not_ask_gets_no_staple_and_its_answer
else fail a_client_that_does_not_ask_gets_no_staple_and_its_answer "got: $(grep -iE 'OCSP response|^HTTP' <<<"$out")"; fi

if need curl curl_cert_status_verifies_the_staple; then
  body=$(curl -sS --max-time 30 --cert-status --cacert "$T/ca.pem" "https://localhost:$PORT/" 2>&1)
  if grep -q 'Hello from nhttps' <<<"$body"; then pass curl_cert_status_verifies_the_staple
  else fail curl_cert_status_verifies_the_staple "got: $(head -c 300 <<<"$body")"; fi
fi
kill "$SERVE_PID"

# --- no --ocsp, no staple ---------------------------------------------------
start none --cert "$T/localhost.pem" --key "$T/localhost.key"
out=$(status)
if grep -q 'OCSP response: no response sent' <<<"$out" && grep -q 'CN *= *localhost' <<<"$out"; then
  pass without_ocsp_no_response_is_sent
else fail without_ocsp_no_response_is_sent "got: $(grep -i ocsp <<<"$out")"; fi
kill "$SERVE_PID"

# --- a revoked certificate --------------------------------------------------
start revoked --cert "$T/revoked.test.chain.pem" --key "$T/revoked.test.key" --ocsp "$T/revoked.test.ocsp.der"
out=$(status)
if grep -q 'OCSP Response Status: successful' <<<"$out" && grep -q 'Cert Status: revoked' <<<"$out" \
   && grep -q 'Revocation Reason: keyCompromise' <<<"$out"; then
  pass a_revoked_entry_is_stapled_as_revoked
else fail a_revoked_entry_is_stapled_as_revoked "got: $(grep -A3 'Cert Status' <<<"$out")"; fi
if need curl curl_cert_status_refuses_a_revoked_certificate; then
  curl -sS --max-time 30 --cert-status --cacert "$T/ca.pem" \
    --resolve "revoked.test:$PORT:127.0.0.1" "https://revoked.test:$PORT/" > "$T/revoked.out" 2>&1
  rc=$?
  if [ "$rc" != 0 ] && grep -q 'revocation reason: keyCompromise' "$T/revoked.out"; then
    pass curl_cert_status_refuses_a_revoked_certificate
  else fail curl_cert_status_refuses_a_revoked_certificate "curl exit $rc: $(head -c 300 "$T/revoked.out")"; fi
fi
kill "$SERVE_PID"

# --- SNI: each name staples its own -----------------------------------------
start sni --cert "$T/localhost.pem" --key "$T/localhost.key" --ocsp "$T/localhost.ocsp.der" \
  --sni "a.example.test=$T/a.example.test.pem,$T/a.example.test.key,$T/a.example.test.ocsp.der" \
  --sni "*.bare.test=$T/revoked.test.pem,$T/revoked.test.key"
a=$(status -servername a.example.test)
default=$(status -servername localhost)
bare=$(status -servername x.bare.test)
if grep -q "Serial Number: $(serial a.example.test)" <<<"$a" && grep -q 'Cert Status: good' <<<"$a" \
   && grep -q 'CN *= *a.example.test' <<<"$a" \
   && grep -q "Serial Number: $(serial localhost)" <<<"$default" && grep -q 'CN *= *localhost' <<<"$default" \
   && grep -q 'OCSP response: no response sent' <<<"$bare" && grep -q 'CN *= *revoked.test' <<<"$bare"; then
  pass each_sni_name_staples_its_own_response
else fail each_sni_name_staples_its_own_response \
  "a: $(grep -E 'Serial Number|no response' <<<"$a") default: $(grep -E 'Serial Number|no response' <<<"$default") bare: $(grep -E 'Serial Number|no response' <<<"$bare")"; fi
kill "$SERVE_PID"

# --- files that are not OCSP responses --------------------------------------
"$SERVE" --port 0 --cert "$T/localhost.pem" --key "$T/localhost.key" --ocsp "$T/garbage.der" \
  > "$T/garbage.log" 2> "$T/garbage.err"
rc=$?
"$SERVE" --port 0 --cert "$T/localhost.pem" --key "$T/localhost.key" --ocsp "$T/missing.der" \
  > "$T/missing.log" 2> "$T/missing.err"
rc2=$?
"$SERVE" --port 0 --cert "$T/localhost.pem" --key "$T/localhost.key" \
  --sni "a.example.test=$T/a.example.test.pem,$T/a.example.test.key,$T/garbage.der" \
  > "$T/sni-garbage.log" 2> "$T/sni-garbage.err"
rc3=$?
if [ "$rc" != 0 ] && grep -q 'garbage.der: certificate: OCSP response: not a DER-encoded OCSP response' "$T/garbage.err" \
   && [ "$rc2" != 0 ] && grep -q 'missing.der' "$T/missing.err" \
   && [ "$rc3" != 0 ] && grep -q 'OCSP response' "$T/sni-garbage.err" \
   && [ ! -s "$T/garbage.log" ] && [ ! -s "$T/sni-garbage.log" ]; then
  pass a_bad_ocsp_file_stops_serve_with_the_reason
else fail a_bad_ocsp_file_stops_serve_with_the_reason \
  "exits $rc $rc2 $rc3: $(cat "$T/garbage.err" "$T/missing.err" "$T/sni-garbage.err")"; fi
exit 0
