#pragma once
// Global average pooling: x [n, c, hw] -> y [n, c].
// Gradient contract: dx is overwritten.
#include <cstddef>

#include "ist/backend/eigen/cpu_context.hpp"

namespace ist::eigen {

template <class T>
void global_avg_pool_forward(CpuContext& ctx, int n, int c, int hw, const T* x, T* y) {
  const T inv = T(1) / T(hw);
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (int i = 0; i < n * c; ++i) {
    const T* p = x + std::size_t(i) * hw;
    T sum = 0;
    for (int j = 0; j < hw; ++j) sum += p[j];
    y[i] = sum * inv;
  }
}

template <class T>
void global_avg_pool_backward(CpuContext& ctx, int n, int c, int hw, const T* dy, T* dx) {
  const T inv = T(1) / T(hw);
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (int i = 0; i < n * c; ++i) {
    T* p = dx + std::size_t(i) * hw;
    const T g = dy[i] * inv;
    for (int j = 0; j < hw; ++j) p[j] = g;
  }
}

}  // namespace ist::eigen
