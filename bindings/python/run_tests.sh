#!/usr/bin/env bash
# Runs the Python binding's tests (unittest, standard library only) from the
# repository root against build/lib/libnhttps.so (build it with `make lib`).
# nhttps._speedups (the WSGI server's C calls) is built in place first; the
# WSGI tests then run a second time through ctypes (NHTTPS_PURE_PYTHON=1),
# the path of an installation without it. Where it cannot be built (no
# Python headers) that is SKIPPED loudly, and an error with CI=true.
# Exits non-zero when a test fails.
set -eu
cd "$(dirname "$0")/../.."
if [ ! -e build/lib/libnhttps.so ] && [ -z "${NHTTPS_LIBRARY:-}" ]; then
  echo "run_tests.sh: build/lib/libnhttps.so is missing: run \`make lib\` first" >&2
  exit 2
fi
python=${PYTHON:-python3}
export PYTHONPATH="bindings/python${PYTHONPATH:+:$PYTHONPATH}"
if (cd bindings/python && "$python" setup.py -q build_ext --inplace) >build/speedups.log 2>&1; then
  "$python" -m unittest discover -s bindings/python/tests -v "$@"
  echo "== the WSGI tests again, through ctypes (NHTTPS_PURE_PYTHON=1) =="
  NHTTPS_PURE_PYTHON=1 "$python" -m unittest discover -s bindings/python/tests -p 'test_wsgi*' -v
else
  cat build/speedups.log >&2
  if [ "${CI:-}" = true ]; then
    echo "run_tests.sh: nhttps._speedups could not be built" >&2
    exit 1
  fi
  echo "*** SKIPPED: nhttps._speedups could not be built (Python headers?): the WSGI tests run through ctypes only ***"
  NHTTPS_PURE_PYTHON=1 "$python" -m unittest discover -s bindings/python/tests -v "$@"
fi
