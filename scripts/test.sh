#!/bin/sh
# test.sh: from a fresh Debian 12 machine to the whole test suite: installs what is needed,
# builds, and runs every test with ctest (unit tests, and end-to-end tests that start their own
# berthd and boot real VMs). Exits non-zero if anything fails; ctest prints the summary last.
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh
exec ctest --test-dir build -j 2 --output-on-failure --timeout 900
