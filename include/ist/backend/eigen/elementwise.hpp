#pragma once
// Element-wise ops on flat tensors: ReLU and the scaled residual add of a pre-activation block, in packets
// (packet_loops.hpp) over one range per thread.
// Shapes: every pointer covers `count` elements.
// Gradient contract: input gradients overwrite unless the name says add.
#include <algorithm>
#include <cstddef>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/packet_loops.hpp"

namespace ist::eigen {

namespace detail {

// f(first, n) over [0, count): one contiguous range per thread (starts 16 elements apart: whole cache lines of
// floats), at most one thread per 4096 elements; for element-wise loops, whose results do not depend on which
// thread does which element.
template <class F>
void over_ranges(CpuContext& ctx, std::size_t count, F&& f) {
  const std::size_t most = (count + 4095) / 4096;
  const int nt = int(std::min<std::size_t>(std::size_t(std::max(1, ctx.threads())), std::max<std::size_t>(1, most)));
  if (nt == 1) {
    f(std::size_t(0), count);
    return;
  }
  const std::size_t per = ((count + std::size_t(nt) - 1) / std::size_t(nt) + 15) / 16 * 16;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int t = 0; t < nt; ++t) {
    const std::size_t first = std::min(count, std::size_t(t) * per), last = std::min(count, first + per);
    if (first < last) f(first, last - first);
  }
}

}  // namespace detail

// y = max(x, 0); y may alias x.
template <class T>
void relu_forward(CpuContext& ctx, std::size_t count, const T* x, T* y) {
  detail::over_ranges(ctx, count, [&](std::size_t i, std::size_t n) { detail::relu(x + i, y + i, n); });
}

// dx = dy where y > 0, else 0 (y is the forward output); dx may alias dy.
template <class T>
void relu_backward(CpuContext& ctx, std::size_t count, const T* y, const T* dy, T* dx) {
  detail::over_ranges(ctx, count, [&](std::size_t i, std::size_t n) { detail::relu_mask(y + i, dy + i, dx + i, n); });
}

// out = scale * out + shortcut  (out holds the residual branch on entry).
template <class T>
void residual_add(CpuContext& ctx, std::size_t count, T scale, const T* shortcut, T* out) {
  detail::over_ranges(ctx, count,
                      [&](std::size_t i, std::size_t n) { detail::scale_add(scale, shortcut + i, out + i, n); });
}

// y = scale * x.
template <class T>
void scale_copy(CpuContext& ctx, std::size_t count, T scale, const T* x, T* y) {
  detail::over_ranges(ctx, count, [&](std::size_t i, std::size_t n) { detail::scale(scale, x + i, y + i, n); });
}

// y += x.
template <class T>
void add_to(CpuContext& ctx, std::size_t count, const T* x, T* y) {
  detail::over_ranges(ctx, count, [&](std::size_t i, std::size_t n) { detail::add(x + i, y + i, n); });
}

// y += a x.
template <class T>
void add_scaled(CpuContext& ctx, std::size_t count, T a, const T* x, T* y) {
  detail::over_ranges(ctx, count, [&](std::size_t i, std::size_t n) { detail::axpy(a, x + i, y + i, n); });
}

}  // namespace ist::eigen
