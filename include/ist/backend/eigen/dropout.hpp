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
#include <cstddef>
#include <cstdint>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"

namespace ist::eigen {

// Writes the mask only: mask[i] = 0 with probability p, else 1 / (1 - p). p in [0, 1).
template <class T>
void dropout_mask(CpuContext& ctx, std::size_t count, double p, std::uint64_t seed, T* mask) {
  IST_CHECK(p >= 0.0 && p < 1.0, "ist::eigen::dropout_mask: expected a drop probability in [0, 1), found ", p);
  constexpr std::size_t chunk = 4096;
  const std::size_t chunks = (count + chunk - 1) / chunk;
  // Keep element when its 32-bit draw is >= p * 2^32.
  const std::uint64_t threshold = std::uint64_t(p * 4294967296.0);
  const T keep = T(1.0 / (1.0 - p));
#pragma omp parallel for num_threads(ctx.threads()) schedule(static) if (ctx.threads() > 1 && chunks > 1)
  for (std::ptrdiff_t k = 0; k < std::ptrdiff_t(chunks); ++k) {
    Rng rng(seed, {std::uint64_t(k)});
    const std::size_t first = std::size_t(k) * chunk, last = std::min(count, first + chunk);
    for (std::size_t i = first; i < last; i += 2) {
      const std::uint64_t r = rng();
      mask[i] = (r & 0xffffffffu) >= threshold ? keep : T(0);
      if (i + 1 < last) mask[i + 1] = (r >> 32) >= threshold ? keep : T(0);
    }
  }
}

// y = x * mask with a fresh mask (saved). y may alias x.
template <class T>
void dropout_forward(CpuContext& ctx, std::size_t count, double p, std::uint64_t seed, const T* x, T* y, T* mask) {
  dropout_mask(ctx, count, p, seed, mask);
#pragma omp parallel for num_threads(ctx.threads()) schedule(static) if (ctx.threads() > 1)
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(count); ++i) y[i] = x[i] * mask[i];
}

// dx = dy * mask. dx may alias dy.
template <class T>
void dropout_backward(CpuContext& ctx, std::size_t count, const T* mask, const T* dy, T* dx) {
#pragma omp parallel for num_threads(ctx.threads()) schedule(static) if (ctx.threads() > 1)
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(count); ++i) dx[i] = dy[i] * mask[i];
}

}  // namespace ist::eigen
