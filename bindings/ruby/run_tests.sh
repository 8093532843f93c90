#!/usr/bin/env bash
# Runs the Ruby binding's minitest suite (bindings/ruby/test/test_*.rb)
# against this repository's build/lib (or $NHTTPS_LIBRARY). Exits non-zero
# on any failure. Without Ruby or the ffi gem it prints a SKIPPED line and
# exits 0 — unless CI=true, where that is a failure.
#
#   bash bindings/ruby/run_tests.sh            # from the repository root
#   TESTOPTS="-v" bash bindings/ruby/run_tests.sh
set -u
cd "$(dirname "$0")/../.."

missing() {
  if [ "${CI:-}" = true ]; then echo "FAIL ruby: $1 (CI=true)"; exit 1; fi
  echo "*** SKIPPED: ruby binding tests: $1 ***"
  exit 0
}
command -v ruby >/dev/null || missing "ruby is not installed"
ruby -e 'require "ffi"' 2>/dev/null || missing "the ffi gem is not installed (Debian: apt-get install ruby-ffi)"

if [ -z "${NHTTPS_LIBRARY:-}" ] && [ ! -e build/lib/libnhttps.so.0 ]; then
  make lib >/dev/null || { echo "FAIL ruby: make lib failed"; exit 1; }
fi

ruby -Ibindings/ruby/lib -e 'require "nhttps"' || { echo "FAIL ruby: require \"nhttps\" failed"; exit 1; }

# shellcheck disable=SC2086 # TESTOPTS holds minitest options, split on purpose
exec timeout -s KILL 300 ruby -w -Ibindings/ruby/lib -Ibindings/ruby/test -e '
  Dir.glob(File.join("bindings/ruby/test", "test_*.rb")).sort.each { |f| require File.expand_path(f) }
' -- ${TESTOPTS:-}
