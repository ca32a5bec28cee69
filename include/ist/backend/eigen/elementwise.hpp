#pragma once
// Element-wise ops on flat tensors: ReLU and the scaled residual add of a pre-activation block.
// Shapes: every pointer covers `count` elements.
// Gradient contract: input gradients overwrite unless the name says add.
#include <algorithm>
#include <cstddef>

#include "ist/backend/eigen/cpu_context.hpp"

namespace ist::eigen {

// y = max(x, 0); y may alias x.
template <class T>
void relu_forward(CpuContext& ctx, std::size_t count, const T* x, T* y) {
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(count); ++i) y[i] = std::max(x[i], T(0));
}

// dx = dy where y > 0, else 0 (y is the forward output); dx may alias dy.
template <class T>
void relu_backward(CpuContext& ctx, std::size_t count, const T* y, const T* dy, T* dx) {
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(count); ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

// out = scale * out + shortcut  (out holds the residual branch on entry).
template <class T>
void residual_add(CpuContext& ctx, std::size_t count, T scale, const T* shortcut, T* out) {
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(count); ++i) out[i] = scale * out[i] + shortcut[i];
}

// y = scale * x.
template <class T>
void scale_copy(CpuContext& ctx, std::size_t count, T scale, const T* x, T* y) {
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(count); ++i) y[i] = scale * x[i];
}

// y += x.
template <class T>
void add_to(CpuContext& ctx, std::size_t count, const T* x, T* y) {
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(count); ++i) y[i] += x[i];
}

}  // namespace ist::eigen
