#!/usr/bin/env bash
# API misuse, generated from the header (issue 7): every function of
# include/nhttps.h called with NULL for each pointer argument in turn.
# c-tests/gen_null_test.py writes $BUILD/tests/test_null_args.c; this script
# compiles it as the Makefile compiles the C tests and runs it under valgrind
# memcheck (when installed), printing its PASS/FAIL/SKIP lines for run.sh.
set -u
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
CC="${CC:-cc}"
src="$BUILD/tests/test_null_args.c"
bin="$BUILD/tests/test_null_args"
log="$BUILD/tests/test_null_args.run"
mkdir -p "$BUILD/tests"

if ! command -v python3 >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "FAIL null_args: python3 is not installed (CI=true)"
  else echo "SKIP null_args: *** SKIPPED: python3 is not installed ***"; fi
  exit 0
fi
if [ ! -e "$BUILD/lib/libnhttps.so" ]; then
  echo "FAIL null_args: $BUILD/lib/libnhttps.so is missing (run make lib)"; exit 0
fi

if ! python3 c-tests/gen_null_test.py include/nhttps.h "$src" > "$log.gen" 2>&1; then
  echo "FAIL null_args_generator: $(tail -n 5 "$log.gen")"; exit 0
fi
if ! "$CC" -std=c11 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -Iinclude -Ic-tests "$src" \
     -L"$BUILD/lib" -lnhttps -Wl,-rpath,"$PWD/$BUILD/lib" -lpthread -o "$bin" > "$log.cc" 2>&1; then
  echo "FAIL null_args_compile: $(head -c 2000 "$log.cc")"; exit 0
fi

runner=()
if command -v valgrind >/dev/null; then
  runner=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
          --errors-for-leak-kinds=definite --suppressions=c-tests/valgrind.supp)
elif [ "${CI:-}" = true ]; then
  echo "FAIL null_args_valgrind: valgrind is not installed (CI=true)"
else
  echo "SKIP null_args_valgrind: *** SKIPPED: valgrind is not installed: run without memcheck ***"
fi

"${runner[@]}" "$bin" > "$log" 2> "$log.err"
rc=$?
cat "$log"
if [ $rc -eq 99 ]; then
  echo "FAIL null_args_valgrind: valgrind reported errors or definite leaks:"
  grep -v '^null-args: ' "$log.err" | head -n 60
elif [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$log"; then
  echo "FAIL null_args: exited with $rc; the last calls were:"
  tail -n 20 "$log.err"
fi
exit 0
