#!/usr/bin/env bash
# build_gem.sh [OUTDIR] — builds libnhttps from this checkout (make lib) and a
# gem that bundles it (lib/nhttps/libnhttps.so.0), tagged for this platform
# (e.g. nhttps-0.1.0-x86_64-linux.gem); prints the gem's path. Install it
# offline with `gem install --local PATH` (the ffi gem must be there: Debian's
# ruby-ffi). The checkout is left as it was: the gem is built from a copy.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "${1:-$root/build/gem}" && cd "${1:-$root/build/gem}" && pwd)
make -C "$root" lib >&2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -r "$root/bindings/ruby/." "$stage/"
cp -L "$root/build/lib/libnhttps.so.0" "$stage/lib/nhttps/libnhttps.so.0"
(cd "$stage" && gem build --silent nhttps.gemspec >/dev/null)
gem=$(ls "$stage"/nhttps-*.gem)
mv "$gem" "$out/"
echo "$out/$(basename "$gem")"
