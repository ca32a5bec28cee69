#!/usr/bin/env bash
# Hostile input: builds the libFuzzer harnesses of tests/fuzz (IDX, CIFAR, Planetoid, checkpoint, image-folder and
# safetensors readers, the ISTGRAPH graph reader and its partition cache; the transfer codecs' decoders)
# with clang and -fsanitize=fuzzer,address,undefined in build-fuzz, then runs each for a bounded time, as many at
# once as there are cores, on a copy of its seed corpus tests/fuzz/corpus/<name> (the checked-in corpus is never
# written to). Fails on
# any finding: a crash, a hang (> 10 s per input), memory over 2 GiB, a sanitizer report, an exception other
# than ist::Error, or an ist::Error message that does not name the file. Findings are kept in
# build-fuzz/findings/<name>/; docs/hostile-input.md says how to reproduce and minimize them.
#
#   bash scripts/run-fuzz.sh                    every fuzzer, IST_FUZZ_SECONDS (default 45) seconds each
#   IST_FUZZ_SECONDS=600 bash scripts/run-fuzz.sh planetoid
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=${IST_FUZZ_SECONDS:-45}
build=${IST_FUZZ_BUILD:-build-fuzz}
jobs=$(nproc)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(idx cifar planetoid checkpoint image_folder safetensors codec csr_graph)
declare -A max_len=([idx]=4096 [cifar]=16384 [planetoid]=16384 [checkpoint]=4096 [image_folder]=8192 [safetensors]=16384 [codec]=8192 [csr_graph]=16384)

cxx=${IST_FUZZ_CXX:-}
for c in clang++ clang++-14; do
  [ -n "$cxx" ] || ! command -v "$c" >/dev/null 2>&1 || cxx=$c
done
[ -n "$cxx" ] || { echo "run-fuzz.sh: clang++ not found (Debian: clang-14 libclang-rt-14-dev)" >&2; exit 1; }
cmake -S tests/fuzz -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DIST_FUZZERS=ON -DIST_SANITIZER_TESTS=OFF >/dev/null
if [ $# -eq 0 ]; then
  cmake --build "$build" -j"$jobs" --target fuzzers  # all of them, in parallel
else
  cmake --build "$build" -j"$jobs" --target "${names[@]/#/fuzz_}"
fi
# IST_BUILD_ONLY=1: build the harnesses and stop (scripts/run-tests.sh builds them beside the sanitizer tests).
[ "${IST_BUILD_ONLY:-0}" = 1 ] && exit 0

work=$(mktemp -d "${TMPDIR:-/tmp}/ist-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -rf "$build/findings"
for name in "${names[@]}"; do
  [ -n "${max_len[$name]:-}" ] || { echo "run-fuzz.sh: unknown fuzzer '$name' (idx, cifar, planetoid, checkpoint, image_folder, safetensors, codec, csr_graph)" >&2; exit 2; }
done

# fuzz NAME: one fuzzer for $secs seconds on a copy of its corpus; its exit status goes to $work/rc-NAME.
fuzz() {
  local name=$1 rc=0
  local corpus="$work/corpus-$name" artifacts="$work/artifacts-$name"
  mkdir -p "$artifacts"
  cp -r "tests/fuzz/corpus/$name" "$corpus"
  echo "run-fuzz.sh: fuzz_$name for ${secs} s on $(ls "$corpus" | wc -l) seed inputs"
  "$build/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="${max_len[$name]}" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$build/fuzz-$name.log" 2>&1 || rc=$?
  echo "$rc" >"$work/rc-$name"
}

# A fuzzer is one process on one core: run as many at once as there are cores, each for its full $secs.
for name in "${names[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  fuzz "$name" &
done
wait

failed=()
summary=()
for name in "${names[@]}"; do
  artifacts="$work/artifacts-$name"
  log="$build/fuzz-$name.log"
  rc=$(cat "$work/rc-$name" 2>/dev/null || echo "?")
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
  cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\) .*/\1/p' <<<"$done_line")
  corp=$(sed -n 's/.* corp: \([^ ]*\) .*/\1/p' <<<"$done_line")
  line=$(printf '%-16s %10s runs %7s exec/s  cov %5s  ft %5s  corpus %-12s rss %s MB' "fuzz_$name" "${runs:-?}" \
         "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}")
  if [ "$rc" != 0 ] || [ -n "$(ls -A "$artifacts")" ] || [ -z "$done_line" ]; then
    mkdir -p "$build/findings/$name"
    cp "$artifacts"/* "$build/findings/$name/" 2>/dev/null || true
    echo "run-fuzz.sh: fuzz_$name FAILED (exit $rc); the end of $log:" >&2
    tail -40 "$log" >&2
    failed+=("$name")
    line="$line  FAILED"
  fi
  summary+=("$line")
done

echo "run-fuzz.sh: summary (${secs} s each)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "run-fuzz.sh: findings in ${failed[*]}: inputs in $build/findings/; reproduce with $build/fuzz_NAME FILE" >&2
  exit 1
fi
echo "run-fuzz.sh: no findings"
