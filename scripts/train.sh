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
mkdir -p out
if [ "$#" -eq 0 ]; then
  set -- --metrics out/resist.jsonl
fi
exec build/examples/ist-train "$@"
