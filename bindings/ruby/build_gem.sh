#!/usr/bin/env bash
# build_gem.sh [OUTDIR] — builds libnhttps from this checkout (make lib) and a
# gem that bundles it (lib/nhttps/libnhttps.so.0) and Nhttps::Speedups
# (lib/nhttps/speedups.so, the Rack env in C: left out, with a warning,
# where Ruby's headers are missing — an error when CI=true), tagged for this platform
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
rm -f "$stage/lib/nhttps/speedups.so"
if ! bash "$root/bindings/ruby/build_speedups.sh" "$stage/lib/nhttps" >&2; then
  [ "${CI:-}" = true ] && { echo "build_gem.sh: Nhttps::Speedups could not be built" >&2; exit 1; }
  echo "build_gem.sh: Nhttps::Speedups could not be built (Debian: ruby-dev): the gem goes without it" >&2
fi
(cd "$stage" && gem build --silent nhttps.gemspec >/dev/null)
gem=$(ls "$stage"/nhttps-*.gem)
mv "$gem" "$out/"
echo "$out/$(basename "$gem")"
