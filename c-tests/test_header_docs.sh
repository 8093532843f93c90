#!/usr/bin/env bash
# The manual states ownership (issue 18, point 2): every function of
# include/nhttps.h that returns a pointer or takes a string, bytes, a
# `userdata` or an out-pointer says in its own comment what becomes of them.
# c-tests/check_ownership_docs.py reads the header and prints the PASS/FAIL
# line; this script hands it to run.sh.
set -u
cd "$(dirname "$0")/.."
. c-tests/lib.sh

need python3 header_docs || exit 0
out=$(python3 c-tests/check_ownership_docs.py include/nhttps.h 2>&1)
rc=$?
echo "$out"
if [ $rc -ne 0 ] && ! grep -q '^FAIL ' <<< "$out"; then
  fail header_docs "check_ownership_docs.py exited with $rc"
fi
exit 0
