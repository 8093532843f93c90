#!/usr/bin/env bash
# `pip install ./bindings/python` in a fresh virtual environment builds
# libnhttps from this checkout (cargo) and ships it in the package: `import
# nhttps` works there without NHTTPS_LIBRARY, make or this checkout on the
# path, with nhttps._speedups (the WSGI server's C calls) built; `pip wheel`
# makes a wheel tagged for this interpreter and platform that installs into
# another fresh environment and works too. Prints PASS/FAIL lines.
set -uo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
check() {  # name, command...
  local name=$1; shift
  if out=$("$@" 2>&1); then echo "PASS $name"; else echo "FAIL $name"; echo "$out" | tail -n 20; failed=1; fi
}
# Serves one request with the installed package, from outside the checkout.
probe='
import nhttps, nhttps._lib as lib, nhttps.wsgi, sys
assert lib.path.startswith(sys.prefix), "loaded " + lib.path
assert nhttps.wsgi._speedups is not None, "nhttps._speedups was not built"
with nhttps.create_server(lambda req, res: res.end(b"installed"), dev_certificate=True) as s:
    s.listen(0, "127.0.0.1")
    r = nhttps.get("https://127.0.0.1:%d/" % s.port, ca=s.certificate_pem)
    assert r.read() == b"installed"
print(lib.path)
'
run_probe() {  # venv
  (cd "$tmp" && env -u NHTTPS_LIBRARY -u PYTHONPATH "$1/bin/python" -c "$probe")
}
install_into() {  # venv, what to install
  python3 -m venv "$1" && "$1/bin/pip" install -q --disable-pip-version-check "$2"
}
check pip_install_builds_and_ships_the_library install_into "$tmp/venv" ./bindings/python
check the_installed_package_serves_without_the_checkout run_probe "$tmp/venv"
check pip_wheel_is_tagged_for_this_interpreter_and_platform bash -c "
  '$tmp/venv/bin/pip' wheel -q --disable-pip-version-check --no-deps -w '$tmp/wheels' ./bindings/python &&
  ls '$tmp/wheels' | grep -E '^nhttps-[0-9.]+-cp3[0-9]+-cp3[0-9]+-linux_[a-z0-9_]+\.whl$'"
check the_wheel_installs_and_serves bash -c "
  python3 -m venv '$tmp/venv2' && '$tmp/venv2/bin/pip' install -q --disable-pip-version-check '$tmp'/wheels/nhttps-*.whl &&
  cd '$tmp' && env -u NHTTPS_LIBRARY -u PYTHONPATH '$tmp/venv2/bin/python' -c '$probe'"
exit $failed
