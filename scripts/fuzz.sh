#!/bin/sh
# fuzz.sh: builds berth's libFuzzer targets (chaos-tests/fuzz) with clang in a build directory of
# their own and runs them for a bounded time, each on a copy of its committed seed corpus (the
# committed files are never written). Fails if a fuzzer reports a crash, a sanitizer finding, a
# leak or a timeout; the input that caused it is kept and its path printed.
#
#   scripts/fuzz.sh                  every target for 20 s, two at a time
#   scripts/fuzz.sh all 10           the ctest fuzz_smoke
#   scripts/fuzz.sh TARGET SECONDS   one target (or "all") for longer, by hand
#   scripts/fuzz.sh TARGET SECONDS -- -jobs=2 ...   extra libFuzzer flags after "--"
#
# Targets: rpc_decode agent_decode manifest reference unpack. docs/reliability.md says what each
# one checks. Environment: BERTH_FUZZ_BUILD_DIR (default build-fuzz), BERTH_FUZZ_PARALLEL
# (fuzzers at a time, default 2), BERTH_FUZZ_BUILD_JOBS (default 2).
set -eu
cd "$(dirname "$0")/.."
src=$(pwd)

all_targets="rpc_decode agent_decode manifest reference unpack"
targets=${1:-all}
seconds=${2:-20}
if [ $# -ge 2 ]; then shift 2; else shift $#; fi
[ "${1:-}" = "--" ] && shift
[ "$targets" = all ] && targets=$all_targets
for t in $targets; do
  case " $all_targets " in
    *" $t "*) ;;
    *) echo "fuzz.sh: unknown target '$t' (targets: $all_targets)" >&2; exit 2 ;;
  esac
done
case $seconds in
  ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a number, not '$seconds'" >&2; exit 2 ;;
esac

if ! command -v clang++ >/dev/null 2>&1 || ! command -v clang >/dev/null 2>&1; then
  echo "fuzz.sh: clang is not installed; the fuzzers need clang's libFuzzer." >&2
  echo "fuzz.sh: install it with scripts/install-deps.sh (packages clang and libclang-rt-dev)." >&2
  exit 1
fi

build=${BERTH_FUZZ_BUILD_DIR:-build-fuzz}
start=$(date +%s)
echo "==> building the fuzzers in $build (clang, ASan, UBSan, libFuzzer)"
generator=
command -v ninja >/dev/null 2>&1 && generator="-G Ninja"
mkdir -p "$build"
. scripts/ccache-env.sh
# shellcheck disable=SC2086
cmake -S . -B "$build" $generator -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTH_FUZZ=ON \
  -DCMAKE_CXX_COMPILER=clang++ ${launcher:+"$launcher"} >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  exit 1
}
cmake --build "$build" -j "${BERTH_FUZZ_BUILD_JOBS:-2}" >"$build/build.log" 2>&1 || {
  tail -n 60 "$build/build.log" >&2
  echo "fuzz.sh: the fuzz build failed (full log: $build/build.log)" >&2
  exit 1
}
built=$(date +%s)
echo "==> built in $((built - start)) s"
bin=$(cd "$build" && pwd)/bin
findings=$(cd "$build" && pwd)/findings

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# Largest input each fuzzer is given (the harnesses refuse larger ones).
max_len() {
  case $1 in
    reference) echo 1024 ;;
    unpack) echo 65536 ;;
    *) echo 16384 ;;
  esac
}

# Starts one fuzzer in the background; its log goes to $work/$1.log.
launch() {
  t=$1
  shift
  mkdir -p "$work/$t/corpus" "$work/$t/run" "$work/$t/tmp" "$findings/$t"
  cp -R "$src/chaos-tests/fuzz/corpus/$t/." "$work/$t/corpus/"
  # Separate directories for the corpus, the working directory and temporary files: the unpack
  # harness keeps only the first two (and the findings) writable for itself.
  (
    cd "$work/$t/run"
    TMPDIR="$work/$t/tmp" \
      UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$src/chaos-tests/ubsan.supp" \
      exec "$bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len="$(max_len "$t")" -artifact_prefix="$findings/$t/" \
      -print_final_stats=1 "$@" "$work/$t/corpus" >"$work/$t.log" 2>&1
  ) &
  eval "pid_$t=$!"
}

# Waits for one fuzzer and reports it; sets failed=1 if it found something.
collect() {
  t=$1
  pid=
  eval "pid=\$pid_$t"
  if wait "$pid"; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
    cov=$(sed -n 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*cov: \([0-9]*\) .*/\1/p' "$work/$t.log")
    echo "==> $t: ok, ${runs:-?} inputs in ${seconds} s, ${cov:-?} edges covered"
  else
    failed=1
    echo "==> $t: FAILED" >&2
    tail -n 80 "$work/$t.log" >&2
    cp "$work/$t.log" "$findings/$t/last.log"
    echo "fuzz.sh: $t found a problem; the input is in $findings/$t/, the log in" \
      "$findings/$t/last.log; replay it with $bin/fuzz_$t FILE" >&2
  fi
}

failed=0
parallel=${BERTH_FUZZ_PARALLEL:-2}
batch=
running=0
for t in $targets; do
  launch "$t" "$@"
  batch="$batch $t"
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    for b in $batch; do collect "$b"; done
    batch=
    running=0
  fi
done
for b in $batch; do collect "$b"; done

echo "==> fuzzing took $(($(date +%s) - built)) s; $(($(date +%s) - start)) s in all"
exit $failed
