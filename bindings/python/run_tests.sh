#!/usr/bin/env bash
# Runs the Python binding's tests (unittest, standard library only) from the
# repository root against build/lib/libnhttps.so (build it with `make lib`).
# Exits non-zero when a test fails.
set -eu
cd "$(dirname "$0")/../.."
if [ ! -e build/lib/libnhttps.so ] && [ -z "${NHTTPS_LIBRARY:-}" ]; then
  echo "run_tests.sh: build/lib/libnhttps.so is missing: run \`make lib\` first" >&2
  exit 2
fi
export PYTHONPATH="bindings/python${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m unittest discover -s bindings/python/tests -v "$@"
