#!/usr/bin/env bash
# Runs the tests named: NAME is the shell test c-tests/NAME.sh when that
# file exists, else the C test build/tests/NAME, run under valgrind
# memcheck (no errors, no definite leaks). `make test-c` names them all;
# `bash c-tests/run.sh test_misuse test_serve` runs two.
# Prints PASS/FAIL/SKIP lines and, last, `N passed, N failed`.
# A missing tool is SKIPPED loudly on a developer machine; with CI=true it
# is a failure.
set -u
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
export BUILD
passed=0 failed=0 skipped=0
log="$BUILD/c-tests.log"
: > "$log"
mkdir -p "$BUILD/tests"

count() { # counts PASS/FAIL/SKIP lines of a test's output file
  passed=$((passed + $(grep -c '^PASS ' "$1")))
  failed=$((failed + $(grep -c '^FAIL ' "$1")))
  skipped=$((skipped + $(grep -c '^SKIP ' "$1")))
}

valgrind_cmd=()
if command -v valgrind >/dev/null; then
  valgrind_cmd=(valgrind -q --error-exitcode=99 --leak-check=full
                --show-leak-kinds=definite --errors-for-leak-kinds=definite
                --suppressions=c-tests/valgrind.supp)
  echo "== C tests under valgrind memcheck"
elif [ "${CI:-}" = true ]; then
  echo "FAIL valgrind: not installed (CI=true)"; failed=$((failed + 1))
else
  echo "*** SKIPPED: valgrind is not installed: C tests run without memcheck ***"
  skipped=$((skipped + 1))
fi

for name in "$@"; do
  [ -e "c-tests/$name.sh" ] && continue
  out="$BUILD/tests/$name.out"
  echo "-- $name"
  "${valgrind_cmd[@]}" "$BUILD/tests/$name" > "$out" 2> "$out.err"
  rc=$?
  cat "$out"
  count "$out"
  if [ $rc -eq 99 ]; then
    echo "FAIL $name: valgrind reported errors or definite leaks:"; cat "$out.err"
    failed=$((failed + 1))
  elif [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
    echo "FAIL $name: exited with $rc"; tail -n 30 "$out.err"
    failed=$((failed + 1))
  fi
  cat "$out" >> "$log"
done

for name in "$@"; do
  script="c-tests/$name.sh"
  [ -e "$script" ] || continue
  out="$BUILD/tests/$name.out"
  echo "-- $name"
  bash "$script" > "$out" 2> "$out.err"
  rc=$?
  cat "$out"
  count "$out"
  if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
    echo "FAIL $name: exited with $rc"; tail -n 30 "$out.err"
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed${skipped:+, $skipped skipped}"
[ $failed -eq 0 ]
