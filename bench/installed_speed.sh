#!/usr/bin/env bash
# ist as installed vs ist in its own build: one local training step (bench/downstream/step.cpp: PreAct
# ResNet-20, 1x28x28, batch 128, forward + loss + backward + SGD update) built three ways and run side by
# side, alternately, in one invocation:
#   own     inside ist's own build (bench/CMakeLists.txt, ist_downstream_step: ist_dev_flags, IST_NATIVE)
#   readme  a downstream project against the installed package, exactly as README.md ("Install and use
#           from CMake") says: a configure-only tree installed with cmake --install, find_package(ist),
#           ist::ist + ist::native, CMAKE_BUILD_TYPE=Release (bench/downstream/CMakeLists.txt)
#   plain   the same downstream project without ist::native (ist::ist alone: the compiler's default target)
# and prints each one's CPU time per step (median over rounds of each run's median) and its ratio to `own`.
#
#   nice -n 15 bash bench/installed_speed.sh [WORK_DIR (default build-installed-speed)]
#   environment: ROUNDS (default 5) runs of each program, STEPS (default 5) timed steps per run, THREADS
#   (default 1) OpenMP threads, JOBS (default 2) parallel compile jobs.
# Build logs go to WORK_DIR/log.txt; the three builds take a few minutes on 2 cores, the runs about a minute.
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(realpath -m "${1:-build-installed-speed}")
rounds=${ROUNDS:-5}
steps=${STEPS:-5}
threads=${THREADS:-1}
jobs=${JOBS:-2}
mkdir -p "$work"
log="$work/log.txt"
: >"$log"
run() { "$@" >>"$log" 2>&1 || { echo "installed_speed.sh: failed: $* (see $log)" >&2; tail -20 "$log" >&2; exit 1; }; }

echo "1/4 ist's own build: $work/own, target ist_downstream_step"
run cmake -S "$src" -B "$work/own" -DCMAKE_BUILD_TYPE=Release -DIST_BUILD_TESTS=OFF -DIST_BUILD_EXAMPLES=OFF \
  -DIST_BUILD_BENCHMARKS=ON
run cmake --build "$work/own" --target ist_downstream_step -j"$jobs"

echo "2/4 README.md's install: configure only, then cmake --install into $work/ist-install"
rm -rf "$work/ist-build" "$work/ist-install"
run cmake -S "$src" -B "$work/ist-build" -DCMAKE_INSTALL_PREFIX="$work/ist-install"
run cmake --install "$work/ist-build"

echo "3/4 the downstream project bench/downstream, as README.md says (readme) and without ist::native (plain)"
for v in readme plain; do
  native=ON
  [ "$v" = plain ] && native=OFF
  rm -rf "${work:?}/$v"
  run cmake -S "$src/bench/downstream" -B "$work/$v" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$work/ist-install" -DWITH_IST_NATIVE=$native
  run cmake --build "$work/$v" -j"$jobs"
done

declare -A bin=([own]="$work/own/bench/ist_downstream_step" [readme]="$work/readme/ist_downstream_step"
                [plain]="$work/plain/ist_downstream_step")
declare -A flags=([own]="$work/own/bench/CMakeFiles/ist_downstream_step.dir/flags.make"
                  [readme]="$work/readme/CMakeFiles/ist_downstream_step.dir/flags.make"
                  [plain]="$work/plain/CMakeFiles/ist_downstream_step.dir/flags.make")
variants=(own readme plain)
echo
echo "compile flags (CMake's flags.make):"
for v in "${variants[@]}"; do
  if [ -f "${flags[$v]}" ]; then
    printf '  %-7s %s\n' "$v" "$(grep '^CXX_FLAGS' "${flags[$v]}" | sed 's/^CXX_FLAGS = //')"
  fi
done

echo
echo "4/4 $rounds rounds, each program once per round (order rotated), $steps timed steps per run, $threads thread(s);"
echo "    load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
declare -A cpu simd
for ((r = 0; r < rounds; ++r)); do
  for ((i = 0; i < 3; ++i)); do
    v=${variants[$(((r + i) % 3))]}
    line=$("${bin[$v]}" "$steps" "$threads")
    ms=$(awk '{print $2}' <<<"$line")
    cpu[$v]="${cpu[$v]:-} $ms"
    simd[$v]=${line#*simd }
    printf '  round %d  %-7s %8.1f CPU ms/step\n' $((r + 1)) "$v" "$ms"
  done
done
echo "    load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
own=$(median <<<"${cpu[own]}")
echo
printf '%-8s %-48s %12s %14s\n' program "vector instructions" "CPU ms/step" "ratio to own"
for v in "${variants[@]}"; do
  m=$(median <<<"${cpu[$v]}")
  printf '%-8s %-48s %12.1f %14.3f\n' "$v" "${simd[$v]}" "$m" "$(awk -v a="$m" -v b="$own" 'BEGIN {print a / b}')"
done
