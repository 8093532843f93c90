#!/usr/bin/env bash
# The gem that build_gem.sh makes bundles libnhttps: `gem install --local` of
# it into an empty GEM_HOME works offline (ffi comes from the system's gems),
# and `require "nhttps"` there loads the bundled library — not NHTTPS_LIBRARY,
# not this checkout's build/lib — and serves a request. Prints PASS/FAIL lines;
# without ruby, gem or the ffi gem, a SKIPPED line (a failure when CI=true).
set -uo pipefail
cd "$(dirname "$0")/../.."
missing() {
  if [ "${CI:-}" = true ]; then echo "FAIL ruby gem: $1 (CI=true)"; exit 1; fi
  echo "*** SKIPPED: ruby gem install check: $1 ***"
  exit 0
}
command -v gem >/dev/null || missing "gem is not installed"
ruby -e 'require "ffi"' 2>/dev/null || missing "the ffi gem is not installed (Debian: apt-get install ruby-ffi)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
check() {  # name, command...
  local name=$1; shift
  if out=$("$@" 2>&1); then echo "PASS $name"; else echo "FAIL $name"; echo "$out" | tail -n 20; failed=1; fi
}
system_gems=$(ruby -e 'print Gem.path.join(":")')
# Serves one request with the installed gem, from outside the checkout.
probe='
require "nhttps"
path = Nhttps::Native.library_path
abort "loaded #{path}" unless path.start_with?(ENV["GEM_HOME"])
abort "Nhttps::Speedups was not loaded" unless Nhttps::SPEEDUPS
server = Nhttps.create_server(dev_certificate: true) { |_req, res| res.end("installed") }
server.listen(0, "127.0.0.1")
body = Nhttps.get("https://127.0.0.1:#{server.port}/", ca: server.certificate_pem).read
server.close
abort "answered #{body.inspect}" unless body == "installed"
puts path
'
check gem_build_bundles_the_library_for_this_platform bash -c "
  bash bindings/ruby/build_gem.sh '$tmp/out' >'$tmp/gem_path' &&
  grep -E '/nhttps-[0-9.]+-$(ruby -e 'print Gem::Platform.local')\.gem$' '$tmp/gem_path' &&
  tar -xOf \"\$(cat '$tmp/gem_path')\" data.tar.gz | tar -tz > '$tmp/files' &&
  grep -x lib/nhttps/libnhttps.so.0 '$tmp/files' && grep -x lib/nhttps/speedups.so '$tmp/files'"
check gem_install_local_works_offline bash -c "
  GEM_HOME='$tmp/gems' GEM_PATH='$tmp/gems:$system_gems' gem install --local --no-document \"\$(cat '$tmp/gem_path')\""
check the_installed_gem_serves_without_the_checkout bash -c "
  cd '$tmp' && env -u NHTTPS_LIBRARY -u RUBYLIB GEM_HOME='$tmp/gems' GEM_PATH='$tmp/gems:$system_gems' ruby -e '$probe'"
exit $failed
