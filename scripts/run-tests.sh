#!/usr/bin/env bash
# The test command: installs missing dependencies, configures a Release build in build/, builds it and
# runs every test (unit tests, packaging tests). Extra arguments go to ctest, e.g. `-R cmake_`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure --no-tests=error -j"$jobs" "$@"
