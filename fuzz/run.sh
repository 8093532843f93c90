#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS (default 20), one after
# the other, each in one process on one core. Exits non-zero when a target
# crashes (the input is kept in fuzz/artifacts/<target>/) or cannot be built.
#
#   bash fuzz/run.sh [SECONDS]          FUZZ_TARGETS="request" bash fuzz/run.sh 60
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). By default the targets are
# built on the stable toolchain with `-s none`: the code under test is safe
# Rust, whose bugs show as panics, and it runs about 4 times as many inputs
# per second as with AddressSanitizer. FUZZ_SANITIZER=address builds with
# ASan on the nightly toolchain (it also watches httparse's unsafe SIMD code).
# Either way debug assertions and overflow checks are on.
# The committed seeds in fuzz/corpus/<target>/ are read, never written:
# what libFuzzer finds goes to fuzz/work/<target>/ (not committed).
set -u
cd "$(dirname "$0")"
seconds="${1:-20}"
targets=(${FUZZ_TARGETS:-request response accessors proxy_header})

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL fuzz: cargo-fuzz is not installed (cargo install cargo-fuzz)"; exit 1
  fi
  echo "SKIP fuzz: *** SKIPPED: cargo-fuzz is not installed (cargo install cargo-fuzz) ***"
  exit 0
fi
sanitizer="${FUZZ_SANITIZER:-none}"
toolchain=()
[ "$sanitizer" != none ] && toolchain=(+nightly)

echo "== fuzz: ${targets[*]}, ${seconds} s each, sanitizer: $sanitizer"
mkdir -p work
# Built once, then the binaries run directly (`cargo fuzz run` would
# rebuild before each target).
if ! cargo "${toolchain[@]}" fuzz build -O -a -s "$sanitizer" > work/build.log 2>&1; then
  echo "FAIL fuzz: the targets do not build:"; tail -n 30 work/build.log; exit 1
fi
bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"
# As cargo fuzz run sets it: Rust's sanitizer runtime trips on ODR checks.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"
failed=0
for target in "${targets[@]}"; do
  mkdir -p "work/$target" "corpus/$target" "artifacts/$target"
  log="work/$target.log"
  start=$(date +%s)
  "$bin/$target" -artifact_prefix="artifacts/$target/" \
    -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "work/$target" "corpus/$target" > "$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs in.*/\1/p' "$log" | tail -n 1)
  if [ $rc -eq 0 ]; then
    echo "PASS fuzz_$target: ${runs:-?} runs in $(( $(date +%s) - start )) s"
  else
    failed=$((failed + 1))
    echo "FAIL fuzz_$target: exit $rc after $(( $(date +%s) - start )) s; the input is in fuzz/artifacts/$target/:"
    grep -E -A3 "panicked|ERROR: " "$log" | head -n 12
    grep -E "Test unit written" "$log"
  fi
done
[ $failed -eq 0 ]
