#!/usr/bin/env bash
# build_speedups.sh DIR — compiles Nhttps::Speedups (ext/nhttps_speedups) with
# mkmf and puts speedups.so in DIR (lib/nhttps of a checkout, or of the tree a
# gem is built from). Needs Ruby's headers (Debian: ruby-dev) and a C compiler.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
ruby "$here/ext/nhttps_speedups/extconf.rb" >/dev/null
make >/dev/null
cp speedups.so "$dest/speedups.so"
