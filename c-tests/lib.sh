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

# wait_line FILE: waits (up to 20 s on a loaded machine) for serve's first
# line in FILE; prints the port it names.
wait_line() {
  for _ in $(seq 400); do [ -s "$1" ] && break; sleep 0.05; done
  head -n 1 "$1" | sed -n 's#^listening on https://[^ ]*:\([0-9]*\)/$#\1#p'
}

# serve_start NAME ARGS...: runs $SERVE ARGS in the background, stdout in
# $T/NAME.log and stderr in $T/NAME.err; sets PID (also SERVE_PID) and PORT
# once the first line is out.
serve_start() {
  local name=$1; shift
  "$SERVE" "$@" > "$T/$name.log" 2> "$T/$name.err" &
  PID=$!; SERVE_PID=$PID; pids+=("$PID")
  PORT=$(wait_line "$T/$name.log")
}
