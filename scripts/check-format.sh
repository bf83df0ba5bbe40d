#!/bin/sh
# check-format.sh: fails when a C++ file of the repository differs from what clang-format makes of
# it under the root .clang-format. The test suite runs it (ctest `format`); `--fix` rewrites the
# files in place instead. Files git does not track are not looked at.
set -eu
cd "$(dirname "$0")/.."
cf=$(command -v clang-format || true)
if [ -z "$cf" ]; then
  echo "berth-skip: clang-format is not installed (scripts/install-deps.sh installs it)"
  exit 0
fi
files=$(git ls-files '*.cpp' '*.hpp' '*.h' '*.c')
if [ "${1:-}" = "--fix" ]; then
  # shellcheck disable=SC2086
  "$cf" -i $files
  exit 0
fi
bad=""
for f in $files; do
  "$cf" --dry-run --Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
  echo "these files differ from .clang-format (scripts/check-format.sh --fix rewrites them):"
  for f in $bad; do echo "  $f"; done
  exit 1
fi
echo "every C++ file matches .clang-format"
