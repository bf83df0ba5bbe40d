#!/bin/sh
# check-test-names.sh: fails on a Catch2 test name that ctest cannot run as written. ctest's
# test discovery splits names at ';' (CMake's list separator) and hands a name that starts with
# '-' to Catch as an option: either way the entry matches no test case, and Catch reports "No
# test cases matched" as a pass, so a failing case hides. The suite runs this (ctest
# `test_names`).
set -eu
cd "$(dirname "$0")/.."
bad=$(git grep -nE '(TEST_CASE|TEST_CASE_METHOD|SCENARIO)\([^"]*"(-|[^"]*;)' -- '*.cpp' || true)
if [ -n "$bad" ]; then
  echo "test names with ';' or a leading '-' (ctest runs none of them):"
  echo "$bad"
  exit 1
fi
echo "every test name can be run by ctest"
