#!/usr/bin/env bash
# Runs every Google Benchmark program of bench/ and writes one JSON file each (--benchmark_out), then prints
# each kernel's GFLOP/s next to the measured square-SGEMM rate. Builds what is missing first.
#
#   bash scripts/run-benchmarks.sh [--build DIR] [--out DIR] [--jobs N] [--min-time S] [--filter REGEX] [--mpi]
#
#   --build DIR     CMake build folder (default build-bench; configured Release with IST_BUILD_BENCHMARKS=ON)
#   --out DIR       where the JSON files go (default out/bench): kernels.json sparse.json step.json
#                   subnet.json round.json custom.json (and mpi_np4.json with --mpi)
#   --jobs N        build jobs (default: nproc)
#   --min-time S    --benchmark_min_time for each benchmark (default: Google Benchmark's own, 0.5 s)
#   --filter REGEX  --benchmark_filter for every program (default: all)
#   --mpi           also run ist_bench_mpi under mpirun -np 4 (needs ist::mpi)
# IST_THREADS sets the compute threads (default 2); the round benchmarks also read IST_ROUND_L and
# IST_ROUND_BATCH (docs/benchmarks.md). Shares the machine? Check `uptime` first: load changes every figure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=build-bench
out=out/bench
jobs=$(nproc)
min_time=""
filter=""
mpi=0
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --min-time) min_time="$2"; shift 2 ;;
    --filter) filter="$2"; shift 2 ;;
    --mpi) mpi=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run-benchmarks.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

programs=(kernels sparse step subnet round custom)
targets=()
for p in "${programs[@]}"; do targets+=("ist_bench_$p"); done
[ "$mpi" -eq 1 ] && targets+=(ist_bench_mpi)

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DIST_BUILD_BENCHMARKS=ON
fi
cmake --build "$build" -j"$jobs" --target "${targets[@]}"
mkdir -p "$out"

echo "run-benchmarks.sh: $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg), IST_THREADS=${IST_THREADS:-2}"
for p in "${programs[@]}"; do
  args=("--benchmark_out=$out/$p.json" "--benchmark_out_format=json")
  [ -n "$min_time" ] && args+=("--benchmark_min_time=$min_time")
  [ -n "$filter" ] && args+=("--benchmark_filter=$filter")
  echo "run-benchmarks.sh: $build/bench/ist_bench_$p -> $out/$p.json"
  "$build/bench/ist_bench_$p" "${args[@]}"
done
if [ "$mpi" -eq 1 ]; then
  root=()
  [ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
  echo "run-benchmarks.sh: mpirun -np 4 $build/bench/ist_bench_mpi -> $out/mpi_np4.json"
  mpirun "${root[@]}" --oversubscribe -np 4 "$build/bench/ist_bench_mpi" --json "$out/mpi_np4.json"
fi

# Every benchmark with a FLOPS counter, against the best square SGEMM rate of this run.
python3 - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
rows, sgemm = [], 0.0
for name in ("kernels", "sparse", "step", "subnet"):
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        continue
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration" or "FLOPS" not in b:
            continue
        if b["name"].startswith("SGEMM/1024"):
            sgemm = max(sgemm, b["FLOPS"])
        rows.append((b["name"] + (" " + b["label"] if b.get("label") else ""), b["FLOPS"]))
if rows:
    print(f"\nGFLOP/s next to the measured square SGEMM ({sgemm / 1e9:.0f} GFLOP/s; JSON in {out}/)" if sgemm
          else f"\nGFLOP/s (no SGEMM/1024 in this run; JSON in {out}/)")
    for n, f in rows:
        print(f"  {n:<62} {f / 1e9:8.1f}" + (f" {f / sgemm:7.0%}" if sgemm else ""))
EOF
