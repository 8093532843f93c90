#!/usr/bin/env bash
# The server's TLS defaults against two scanners (issue 3): serve with a
# certificate from a test CA must pass sslyze's Mozilla "intermediate"
# profile, and testssl.sh (-p -s -f -S -U) must find nothing HIGH or CRITICAL,
# no TLS 1.0/1.1 and no cipher below "strong"
# (cert_revocation is ignored: a throwaway test PKI has no CRL or OCSP).
# The reports are kept under target/ (testssl.json, sslyze.txt).
set -u
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
T="$BUILD/tmp-scan-$$"
mkdir -p "$T"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

need() { # need TOOL TEST
  command -v "$1" >/dev/null && return 0
  if [ "${CI:-}" = true ]; then echo "FAIL $2: $1 is not installed (CI=true)"
  else echo "SKIP $2: *** SKIPPED: $1 is not installed ***"; fi
  return 1
}

# A CA and a server certificate with the extensions RFC 5280 validators
# (sslyze's) insist on.
(
  cd "$T"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 -subj /CN=Scan-CA \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -keyout ca.key -out ca.pem
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout server.key -out server.csr
  printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'keyUsage=critical,digitalSignature' \
    'extendedKeyUsage=serverAuth' 'basicConstraints=critical,CA:FALSE' \
    'authorityKeyIdentifier=keyid' 'subjectKeyIdentifier=hash' > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 90 \
    -extfile server.ext -out server.pem
) > "$T/certs.log" 2>&1 || { echo "FAIL tls_scan_certificates: $(tail -3 "$T/certs.log")"; exit 0; }

"$BUILD/bin/serve" --port 0 --cert "$T/server.pem" --key "$T/server.key" > "$T/serve.log" 2>&1 &
pid=$!
for _ in $(seq 400); do [ -s "$T/serve.log" ] && break; sleep 0.05; done
port=$(head -n 1 "$T/serve.log" | sed -n 's#^listening on https://[^ ]*:\([0-9]*\)/$#\1#p')

if need sslyze sslyze_finds_the_defaults_compliant_with_mozilla_intermediate; then
  sslyze --certinfo --certinfo_ca_file "$T/ca.pem" --mozilla_config intermediate \
    "localhost:$port" > "$T/sslyze.txt" 2>&1
  rc=$?
  if [ $rc = 0 ] && grep -q 'OK - Compliant' "$T/sslyze.txt"; then
    echo "PASS sslyze_finds_the_defaults_compliant_with_mozilla_intermediate"
  else
    echo "FAIL sslyze_finds_the_defaults_compliant_with_mozilla_intermediate: exit $rc"
    sed -n '/COMPLIANCE/,$p' "$T/sslyze.txt"
  fi
fi

testssl=$(command -v testssl || command -v testssl.sh)
if need "${testssl:-testssl}" testssl_finds_nothing_high_or_critical; then
  "$testssl" --quiet --color 0 --warnings batch -p -s -f -S -U --add-ca "$T/ca.pem" \
    --jsonfile "$T/testssl.json" "localhost:$port" > "$T/testssl.txt" 2>&1
  # Kept as CI artifacts: target/testssl.json and target/sslyze.txt.
  mkdir -p target && cp "$T/testssl.json" target/testssl.json 2>/dev/null
  cp "$T/sslyze.txt" target/sslyze.txt 2>/dev/null
  findings=$(python3 - "$T/testssl.json" <<'PY'
import json, sys
findings = json.load(open(sys.argv[1]))
if not any(f["id"] == "TLS1_3" and f["finding"].startswith("offered") for f in findings):
    print("the scan did not reach the server (no TLS 1.3 offered)")
# No TLS 1.0/1.1, nothing weaker than strong ciphers (no CBC-SHA1, 3DES, ...).
for must_be_absent in ("SSLv3", "TLS1", "TLS1_1", "cipherlist_LOW", "cipherlist_3DES_IDEA",
                       "cipherlist_AVERAGE", "cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT"):
    if not any(f["id"] == must_be_absent and f["finding"].startswith("not offered") for f in findings):
        print(must_be_absent, "is offered or was not checked")
for f in findings:
    if f["severity"] in ("HIGH", "CRITICAL") and f["id"] != "cert_revocation":
        print(f["severity"], f["id"], f["finding"])
PY
)
  if [ -s "$T/testssl.json" ] && [ -z "$findings" ]; then
    echo "PASS testssl_finds_nothing_high_or_critical"
  else
    echo "FAIL testssl_finds_nothing_high_or_critical: ${findings:-no JSON written: $(tail -5 "$T/testssl.txt")}"
  fi
fi
exit 0
