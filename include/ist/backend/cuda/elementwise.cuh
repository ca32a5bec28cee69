#pragma once
// Element-wise ops on flat device tensors: ReLU, the scaled residual add of a pre-activation block, sums.
// Same contracts as ist/backend/eigen/elementwise.hpp; every pointer covers `count` elements, all
// asynchronous on the context's stream.
// Gradient contract: input gradients overwrite unless the name says add.
#include <cuda_runtime.h>

#include <cstddef>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/launch.cuh"

namespace ist::cuda {

namespace kernels {

template <class T>
__global__ void relu_forward(std::size_t count, const T* x, T* y) {
  for (std::size_t i = detail::global_thread(); i < count; i += detail::grid_threads()) y[i] = x[i] < T(0) ? T(0) : x[i];
}

template <class T>
__global__ void relu_backward(std::size_t count, const T* y, const T* dy, T* dx) {
  for (std::size_t i = detail::global_thread(); i < count; i += detail::grid_threads())
    dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

template <class T>
__global__ void residual_add(std::size_t count, T scale, const T* shortcut, T* out) {
  for (std::size_t i = detail::global_thread(); i < count; i += detail::grid_threads())
    out[i] = scale * out[i] + shortcut[i];
}

template <class T>
__global__ void scale_copy(std::size_t count, T scale, const T* x, T* y) {
  for (std::size_t i = detail::global_thread(); i < count; i += detail::grid_threads()) y[i] = scale * x[i];
}

template <class T>
__global__ void add_to(std::size_t count, const T* x, T* y) {
  for (std::size_t i = detail::global_thread(); i < count; i += detail::grid_threads()) y[i] += x[i];
}

template <class T>
__global__ void add_scaled(std::size_t count, T a, const T* x, T* y) {
  for (std::size_t i = detail::global_thread(); i < count; i += detail::grid_threads()) y[i] = fma(a, x[i], y[i]);
}

}  // namespace kernels

// y = max(x, 0) as eigen::detail::relu (x < 0 ? 0 : x: -0 and NaN stay as they are); y may alias x.
inline void relu_forward(CudaContext& ctx, std::size_t count, const float* x, float* y) {
  if (count == 0) return;
  kernels::relu_forward<<<detail::grid_for(count), detail::block_threads, 0, ctx.stream()>>>(count, x, y);
  IST_CUDA_CHECK_LAUNCH("relu_forward");
}

// dx = dy where y > 0, else 0 (y is the forward output); dx may alias dy.
inline void relu_backward(CudaContext& ctx, std::size_t count, const float* y, const float* dy, float* dx) {
  if (count == 0) return;
  kernels::relu_backward<<<detail::grid_for(count), detail::block_threads, 0, ctx.stream()>>>(count, y, dy, dx);
  IST_CUDA_CHECK_LAUNCH("relu_backward");
}

// out = scale * out + shortcut  (out holds the residual branch on entry).
inline void residual_add(CudaContext& ctx, std::size_t count, float scale, const float* shortcut, float* out) {
  if (count == 0) return;
  kernels::residual_add<<<detail::grid_for(count), detail::block_threads, 0, ctx.stream()>>>(count, scale, shortcut,
                                                                                              out);
  IST_CUDA_CHECK_LAUNCH("residual_add");
}

// y = scale * x.
inline void scale_copy(CudaContext& ctx, std::size_t count, float scale, const float* x, float* y) {
  if (count == 0) return;
  kernels::scale_copy<<<detail::grid_for(count), detail::block_threads, 0, ctx.stream()>>>(count, scale, x, y);
  IST_CUDA_CHECK_LAUNCH("scale_copy");
}

// y += x.
inline void add_to(CudaContext& ctx, std::size_t count, const float* x, float* y) {
  if (count == 0) return;
  kernels::add_to<<<detail::grid_for(count), detail::block_threads, 0, ctx.stream()>>>(count, x, y);
  IST_CUDA_CHECK_LAUNCH("add_to");
}

// y += a x (one rounding, as the Eigen op's fused multiply-add on processors with FMA).
inline void add_scaled(CudaContext& ctx, std::size_t count, float a, const float* x, float* y) {
  if (count == 0) return;
  kernels::add_scaled<<<detail::grid_for(count), detail::block_threads, 0, ctx.stream()>>>(count, a, x, y);
  IST_CUDA_CHECK_LAUNCH("add_scaled");
}

}  // namespace ist::cuda
