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

# Nhttps::Speedups (the Rack env in C) is built in place first; the Rack
# tests then run a second time without it (NHTTPS_PURE_RUBY=1), the path of
# a gem built where Ruby's headers were missing. Where it cannot be built,
# that is SKIPPED loudly (a failure when CI=true) and the tests run without.
if bash bindings/ruby/build_speedups.sh bindings/ruby/lib/nhttps >build/ruby-speedups.log 2>&1; then
  pure_too=yes
else
  cat build/ruby-speedups.log
  if [ "${CI:-}" = true ]; then echo "FAIL ruby: Nhttps::Speedups could not be built (CI=true)"; exit 1; fi
  echo "*** SKIPPED: Nhttps::Speedups could not be built (Debian: apt-get install ruby-dev): the tests run without it ***"
  export NHTTPS_PURE_RUBY=1 pure_too=
fi

ruby -Ibindings/ruby/lib -e 'require "nhttps"' || { echo "FAIL ruby: require \"nhttps\" failed"; exit 1; }

run() {  # test files...
  # shellcheck disable=SC2086 # TESTOPTS holds minitest options, split on purpose
  timeout -s KILL 300 ruby -w -Ibindings/ruby/lib -Ibindings/ruby/test -e '
    ARGV.shift(ARGV.index("--") + 1).each { |f| require File.expand_path(f) if f.end_with?(".rb") }
  ' -- "$@" -- ${TESTOPTS:-}
}
run bindings/ruby/test/test_*.rb || exit 1
if [ -n "$pure_too" ]; then
  echo "== the Rack tests again, without Nhttps::Speedups (NHTTPS_PURE_RUBY=1) =="
  NHTTPS_PURE_RUBY=1 run bindings/ruby/test/test_rack.rb || exit 1
fi
