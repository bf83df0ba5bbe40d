#!/bin/sh
# build.sh: configures and builds berth in ./build (warnings are errors), with every core.
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTH_WERROR=ON >/dev/null
cmake --build build -j "$(nproc)"
