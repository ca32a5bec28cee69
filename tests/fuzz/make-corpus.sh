#!/usr/bin/env bash
# Regenerates the seed corpus tests/fuzz/corpus/{idx,cifar,planetoid,checkpoint,image_folder,safetensors,codec,csr_graph} with make_corpus
# (built in build-fuzz by scripts/run-fuzz.sh, or pass another build folder). The 24-node Cora cut comes from
# ../shared/data/planetoid/cora when that folder exists. Regression inputs (crash-*, oom-*, ...) kept next to
# the seeds are not touched.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
build=${1:-build-fuzz}
[ -x "$build/make_corpus" ] || cmake --build "$build" --target make_corpus
"$build/make_corpus" tests/fuzz/corpus ../shared/data/planetoid/cora
du -sh tests/fuzz/corpus/*
