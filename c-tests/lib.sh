# Sourced by the shell tests: the PASS/FAIL/SKIP lines c-tests/run.sh
# counts, and the cleanup of what a test started. A test sets T (its
# scratch directory) and adds the pid of each background process to `pids`;
# both go when it exits (a test may define its own `cleanup` afterwards).

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; [ -n "${T:-}" ] && rm -rf "$T"; }
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
need() { # need TOOL TEST: false (and SKIP/FAIL printed) when TOOL is missing
  command -v "$1" >/dev/null && return 0
  if [ "${CI:-}" = true ]; then fail "$2" "$1 is not installed (CI=true)"
  else echo "SKIP $2: *** SKIPPED: $1 is not installed ***"; fi
  return 1
}
