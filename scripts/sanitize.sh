#!/bin/sh
# sanitize.sh: builds the unit tests with AddressSanitizer and UndefinedBehaviorSanitizer (g++,
# -DBERTH_SANITIZE=address,undefined) in build-asan and runs them with `ctest -L unit`. Any
# sanitizer report (memory error, leak, undefined behaviour) aborts the test it happens in, so the
# run fails. Only the unit tests are built: the end-to-end tests boot VMs and are not run here.
#
#   scripts/sanitize.sh            build and run every unit test
#   scripts/sanitize.sh -R REGEX   extra ctest arguments
#
# Environment: BERTH_ASAN_BUILD_DIR (default build-asan), BERTH_SANITIZERS (default
# address,undefined), BERTH_ASAN_JOBS (compile jobs and test jobs, default 2).
set -eu
cd "$(dirname "$0")/.."

build=${BERTH_ASAN_BUILD_DIR:-build-asan}
sanitizers=${BERTH_SANITIZERS:-address,undefined}
jobs=${BERTH_ASAN_JOBS:-2}
start=$(date +%s)

generator=
command -v ninja >/dev/null 2>&1 && generator="-G Ninja"
echo "==> building the unit tests in $build with -fsanitize=$sanitizers"
# -O1: the sanitizers' usual level, and a quicker build than -O2; asserts stay on.
# shellcheck disable=SC2086
cmake -S . -B "$build" $generator -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DBERTH_SANITIZE="$sanitizers" >/dev/null
cmake --build "$build" --target unit_tests -j "$jobs"
built=$(date +%s)
echo "==> built in $((built - start)) s"

# Reports go to stderr with a stack. LeakSanitizer stays on (the default with ASan); the tests'
# child processes inherit the settings. UBSAN_OPTIONS (halt_on_error, the suppressions of
# chaos-tests/ubsan.supp) is set on every test by the build itself.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1}"
status=0
ctest --test-dir "$build" -L unit -j "$jobs" --output-on-failure --timeout 900 "$@" || status=$?
echo "==> unit tests under $sanitizers took $(($(date +%s) - built)) s; $(($(date +%s) - start)) s in all"
exit $status
