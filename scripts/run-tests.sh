#!/usr/bin/env bash
# The test command: installs missing dependencies, configures a Release build in build/, builds it and
# runs every test (unit tests, packaging tests), then the fuzzers and the ASan + UBSan tests (see below).
# Extra arguments go to ctest, e.g. `-R cmake_`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
jobs=$(nproc)
# OpenMP threads that wait by sleeping, not spinning: ctest runs tests side by side (and the main job runs
# S workers plus evaluation threads) on few cores, where spinning threads steal the cores that do the work
# (docs/benchmarks.md measured a ResIST round 12x slower on a loaded 2-core machine with spinning).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# The benchmarks are built only to show that they compile: at -O0 (IST_BENCHMARKS_COMPILE_CHECK, CMakeLists.txt).
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DIST_BENCHMARKS_COMPILE_CHECK=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure --no-tests=error -j"$jobs" "$@"
# Hostile input (docs/hostile-input.md): the libFuzzer harnesses of the readers for a bounded time each, then
# the ASan + UBSan test subset. Run with the full test command (no ctest arguments) or IST_HOSTILE_INPUT=1;
# IST_HOSTILE_INPUT=0 skips them.
if [ "${IST_HOSTILE_INPUT:-$([ $# -eq 0 ] && echo 1 || echo 0)}" = 1 ]; then
  # Their two builds side by side first: the harnesses are 8 one-file programs and the sanitizer tests end on
  # their largest unity batch, so either alone leaves a core idle part of the time. The runs come after, each
  # with the machine to itself (a fuzzer's 45 s are wall time); their build steps then find nothing to do.
  IST_BUILD_ONLY=1 bash scripts/run-fuzz.sh >build/fuzz-build.log 2>&1 &
  fuzz_build=$!
  trap 'kill "$fuzz_build" 2>/dev/null || true' EXIT
  IST_BUILD_ONLY=1 bash scripts/run-sanitizers.sh
  wait "$fuzz_build" || { cat build/fuzz-build.log >&2; echo "run-tests.sh: building the fuzzers failed" >&2; exit 1; }
  trap - EXIT
  bash scripts/run-fuzz.sh
  bash scripts/run-sanitizers.sh
fi
