#!/usr/bin/env bash
# The main job: installs missing dependencies, builds ist-train (Release) in build/, and runs it.
# With no arguments: ResIST with S = 4 in-process workers training the resnet26-fashion preset on
# Fashion-MNIST from /usr/share/datasets/fashion-mnist, metrics in out/resist.jsonl.
# Any arguments replace the defaults' flags: bash scripts/train.sh --protocol local-sgd --epochs 2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target ist-train
# OpenMP threads that wait by sleeping, not spinning: ctest runs tests side by side (and the main job runs
# S workers plus evaluation threads) on few cores, where spinning threads steal the cores that do the work
# (docs/benchmarks.md measured a ResIST round 12x slower on a loaded 2-core machine with spinning).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p out
if [ "$#" -eq 0 ]; then
  set -- --metrics out/resist.jsonl
fi
exec build/examples/ist-train "$@"
