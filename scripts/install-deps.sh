#!/usr/bin/env bash
# Installs the Debian packages needed to build and test ist; with --bench also those the benchmark
# comparisons need (PyTorch reference, plots). Idempotent: asks dpkg which packages are missing and only
# then runs apt-get. Uses sudo only when not root.
set -euo pipefail

packages=(cmake g++ make libeigen3-dev doctest-dev libbenchmark-dev zlib1g-dev dataset-fashion-mnist
          libcli11-dev nlohmann-json3-dev libxxhash-dev openmpi-bin libopenmpi-dev
          libturbojpeg0-dev libpng-dev  # JPEG and PNG decoders of the image-folder reader (ist::data)
          libssl-dev                    # libcrypto's SHA-256 for the Planetoid manifests (ist::data)
          libmetis-dev                  # METIS: Cluster-GCN's graph partitions (ist::data)
          clang-14 libclang-rt-14-dev)  # clang + libFuzzer runtime for scripts/run-fuzz.sh
bench_packages=(python3-torch python3-matplotlib python3-pil)

usage() { echo "usage: $0 [--bench]"; }
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=("${bench_packages[@]}") ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-deps.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps.sh: dpkg-query not found (not a Debian system); install these yourself: ${packages[*]}" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == *" installed" ]] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps.sh: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps.sh: missing: ${missing[*]}"
echo "install-deps.sh: running ${sudo[*]:+${sudo[*]} }apt-get update"
"${sudo[@]}" apt-get update
echo "install-deps.sh: running ${sudo[*]:+${sudo[*]} }apt-get install -y --no-install-recommends ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
