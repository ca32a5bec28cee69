#pragma once
// Inverted dropout: in training, each element is kept with probability 1 - p and scaled by 1 / (1 - p),
// so the expected output equals the input and evaluation needs no rescaling.
//
// The mask is a pure function of (seed, element index): elements are drawn in chunks of 4096, chunk k
// from Rng(seed, {k}), so the result does not depend on the number of threads.
//
// Shapes: x, y, dy, dx, mask: [count]. mask holds the multiplier of each element (0 or 1 / (1 - p)).
// Gradient contract: dx is overwritten (no parameters).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/elementwise.hpp"
#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"

namespace ist::eigen {

namespace detail {

constexpr std::size_t kDropoutChunk = 4096;  // elements per random stream

// Chunk k's elements [first, last) of the mask: draw j of Rng(seed, {k}) gives elements first + 2j (its low 32
// bits) and first + 2j + 1 (its high 32 bits); an element is kept when its 32 bits are >= threshold.
template <class T>
void dropout_mask_chunk(std::uint64_t seed, std::uint64_t k, std::uint64_t threshold, T keep, std::size_t first,
                        std::size_t last, T* mask) {
  Rng rng(seed, {k});
  for (std::size_t i = first; i < last; i += 2) {
    const std::uint64_t r = rng();
    mask[i] = (r & 0xffffffffu) >= threshold ? keep : T(0);
    if (i + 1 < last) mask[i + 1] = (r >> 32) >= threshold ? keep : T(0);
  }
}

// Streams stepped side by side: as many 64-bit lanes as one vector register holds.
#if defined(__AVX512F__)
constexpr int kDropoutLanes = 8;
#elif defined(__AVX2__)
constexpr int kDropoutLanes = 4;
#else
constexpr int kDropoutLanes = 2;
#endif

// kDropoutLanes whole float chunks [k0, k0 + kDropoutLanes) at once, the same values as dropout_mask_chunk:
// the streams' xoshiro256** states step side by side in GCC/Clang vector extensions (one register per state
// word), each draw's two halves are compared with the threshold in the same register, and blocks of 16 draws
// per stream are then copied to the stream's chunk. 8-11x the one-stream loop's speed with AVX2 or AVX-512 (Zen 4).
inline void dropout_mask_lanes(std::uint64_t seed, std::uint64_t k0, std::uint32_t threshold, float keep,
                               float* mask) {
  constexpr int N = kDropoutLanes;
  using U64s = std::uint64_t __attribute__((vector_size(8 * N)));
  using U32s = std::uint32_t __attribute__((vector_size(8 * N)));
  U64s s0, s1, s2, s3;
  for (int c = 0; c < N; ++c) {
    const std::array<std::uint64_t, 4> st = Rng(seed, {k0 + std::uint64_t(c)}).state();
    s0[c] = st[0], s1[c] = st[1], s2[c] = st[2], s3[c] = st[3];
  }
  U32s thr, keep_bits;
  std::uint32_t kb;
  std::memcpy(&kb, &keep, sizeof kb);
  for (int j = 0; j < 2 * N; ++j) thr[j] = threshold, keep_bits[j] = kb;
  constexpr int kDraws = 16;  // draws per stream between copies out
  alignas(64) std::uint64_t block[kDraws][N];
  for (std::size_t d0 = 0; d0 < kDropoutChunk / 2; d0 += kDraws) {
    for (int d = 0; d < kDraws; ++d) {
      // rotl(s1 * 5, 7) * 9, the products as shifts and adds (AVX2 has no 64-bit multiply).
      const U64s x = s1 + (s1 << 2);
      const U64s y = (x << 7) | (x >> 57);
      const U64s r = y + (y << 3);
      const U64s t = s1 << 17;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 45) | (s3 >> 19);
      // Little-endian: 32-bit lane 2c is stream c's low half (element 2d), lane 2c + 1 its high half.
      U32s halves;
      std::memcpy(&halves, &r, sizeof halves);
      const U32s kept = keep_bits & (U32s)(halves >= thr);
      std::memcpy(block[d], &kept, sizeof kept);
    }
    for (int c = 0; c < N; ++c) {
      float* out = mask + std::size_t(c) * kDropoutChunk + 2 * d0;
      for (int d = 0; d < kDraws; ++d) std::memcpy(out + 2 * d, &block[d][c], 2 * sizeof(float));
    }
  }
}

}  // namespace detail

// Writes the mask only: mask[i] = 0 with probability p, else 1 / (1 - p). p in [0, 1).
template <class T>
void dropout_mask(CpuContext& ctx, std::size_t count, double p, std::uint64_t seed, T* mask) {
  IST_CHECK(p >= 0.0 && p < 1.0, "ist::eigen::dropout_mask: expected a drop probability in [0, 1), found ", p);
  constexpr std::size_t chunk = detail::kDropoutChunk;
  const std::size_t chunks = (count + chunk - 1) / chunk;
  // Keep element when its 32-bit draw is >= p * 2^32.
  const std::uint64_t threshold = std::uint64_t(p * 4294967296.0);
  const T keep = T(1.0 / (1.0 - p));
  // Float masks: groups of kDropoutLanes whole chunks in SIMD lanes, the rest (and other types) one by one.
  constexpr std::size_t G = detail::kDropoutLanes;
  const std::size_t groups = std::is_same_v<T, float> ? count / chunk / G : 0;
  const std::size_t units = groups + (chunks - G * groups);
#pragma omp parallel for num_threads(ctx.threads()) schedule(static) if (ctx.threads() > 1 && units > 1)
  for (std::ptrdiff_t u = 0; u < std::ptrdiff_t(units); ++u) {
    if (std::size_t(u) < groups) {
      if constexpr (std::is_same_v<T, float>)
        detail::dropout_mask_lanes(seed, G * std::uint64_t(u), std::uint32_t(threshold), keep,
                                   mask + G * std::size_t(u) * chunk);
      continue;
    }
    const std::size_t k = G * groups + (std::size_t(u) - groups);
    detail::dropout_mask_chunk(seed, k, threshold, keep, k * chunk, std::min(count, (k + 1) * chunk), mask);
  }
}

// y = x * mask with a fresh mask (saved). y may alias x.
template <class T>
void dropout_forward(CpuContext& ctx, std::size_t count, double p, std::uint64_t seed, const T* x, T* y, T* mask) {
  dropout_mask(ctx, count, p, seed, mask);
  detail::over_ranges(ctx, count, [&](std::size_t i, std::size_t n) { detail::multiply(x + i, mask + i, y + i, n); });
}

// dx = dy * mask. dx may alias dy.
template <class T>
void dropout_backward(CpuContext& ctx, std::size_t count, const T* mask, const T* dy, T* dx) {
  detail::over_ranges(ctx, count, [&](std::size_t i, std::size_t n) { detail::multiply(dy + i, mask + i, dx + i, n); });
}

}  // namespace ist::eigen
