#!/usr/bin/env bash
# Which vector width the multiply-adds of ist's CPU kernels have in a built x86-64 binary: per function of
# ist's Eigen backend (ist::eigen::...) and Eigen's GEMM kernel (gebp_kernel), the FMA instructions on zmm
# (AVX-512, 16 floats), ymm (AVX2, 8), xmm (128-bit, 4) and scalar registers, from objdump. The convolution
# micro-kernels (ist::eigen::detail::direct_* and nhwc_block: the multiply-adds of a ResNet step's convolutions
# but the 1x1 ones' weight gradients and the stem's) must have only packed FMAs of
# the expected width: a build for AVX2 that fell back to scalar or 128-bit code, or an AVX-512 build that
# did not use zmm, fails. Scalar FMAs elsewhere are loop tails and per-channel arithmetic.
#
#   bash bench/check_isa.sh BINARY zmm|ymm     e.g. build/bench/ist_bench_step zmm (-march=native on AVX-512)
#                                              or  build-avx2/bench/ist_bench_step ymm (-march=haswell)
# Needs objdump (binutils) and FMA code (-march with FMA: haswell or later); exit 1 when the check fails.
set -euo pipefail
if [ $# -ne 2 ] || [[ ! "$2" =~ ^(zmm|ymm)$ ]]; then
  echo "check_isa.sh: expected BINARY zmm|ymm, found: $*" >&2
  exit 2
fi
binary=$1
want=$2
objdump -d --no-show-raw-insn -C "$binary" | awk -v want="$want" '
  /^[0-9a-f]+ <.*>:$/ {
    fn = substr($0, index($0, "<") + 1); sub(/>:$/, "", fn)
    keep = fn ~ /ist::eigen::|gebp_kernel/
    if (keep) {
      short = fn; sub(/\(.*/, "", short); sub(/^void /, "", short)
      if (length(short) > 70) short = substr(short, 1, 67) "..."
      if (!(short in seen)) { seen[short] = 1; order[++n] = short }
    }
    next
  }
  keep && /\tv?fn?m(add|sub)[0-9]*[ps][sd] / {
    w = ($0 ~ /%zmm/) ? "zmm" : ($0 ~ /%ymm/) ? "ymm" : ($0 ~ /[0-9]s[sd] /) ? "scalar" : "xmm"
    c[short, w]++; total[w]++
  }
  END {
    printf "%-70s %6s %6s %6s %6s\n", "function (FMA instructions by register)", "zmm", "ymm", "xmm", "scalar"
    bad = 0; hot = 0
    for (i = 1; i <= n; ++i) {
      f = order[i]
      z = c[f, "zmm"] + 0; y = c[f, "ymm"] + 0; x = c[f, "xmm"] + 0; s = c[f, "scalar"] + 0
      if (z + y + x + s == 0) continue
      mark = ""
      if (f ~ /ist::eigen::detail::(direct_|nhwc_block)/) {
        hot++
        if (c[f, want] + 0 == 0 || z + y + x + s != c[f, want]) { mark = "  <- expected only " want; bad++ }
      }
      printf "%-70s %6d %6d %6d %6d%s\n", f, z, y, x, s, mark
    }
    printf "%-70s %6d %6d %6d %6d\n", "all of the above", total["zmm"], total["ymm"], total["xmm"], total["scalar"]
    if (hot == 0) { print "check_isa.sh: no ist::eigen::detail::direct_* or nhwc_block kernel with FMAs found (no FMA target, or inlined)"; exit 1 }
    if (bad > 0) { print "check_isa.sh: " bad " convolution kernel(s) not entirely on " want; exit 1 }
    print "check_isa.sh: the " hot " convolution kernels use only " want " FMAs"
  }'
