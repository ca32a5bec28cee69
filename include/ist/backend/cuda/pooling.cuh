#pragma once
// Global average pooling on the GPU: x [n, c, hw] -> y [n, c]. Same contract as
// ist/backend/eigen/pooling.hpp. Forward: one warp per (image, channel) row; backward: one thread per
// element. Gradient contract: dx is overwritten.
#include <cuda_runtime.h>

#include <cstddef>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/launch.cuh"

namespace ist::cuda {

namespace kernels {

template <class T>
__global__ void global_avg_pool_forward(std::size_t rows, int hw, T inv, const T* x, T* y) {
  const int lane = int(threadIdx.x % 32);
  const std::size_t warps = detail::grid_threads() / 32;
  for (std::size_t r = detail::global_thread() / 32; r < rows; r += warps) {  // uniform within a warp
    const T* p = x + r * std::size_t(hw);
    T sum = 0;
    for (int j = lane; j < hw; j += 32) sum += p[j];
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (lane == 0) y[r] = sum * inv;
  }
}

template <class T>
__global__ void global_avg_pool_backward(std::size_t count, int hw, T inv, const T* dy, T* dx) {
  for (std::size_t i = detail::global_thread(); i < count; i += detail::grid_threads()) dx[i] = dy[i / hw] * inv;
}

}  // namespace kernels

inline void global_avg_pool_forward(CudaContext& ctx, int n, int c, int hw, const float* x, float* y) {
  IST_CHECK(n > 0 && c > 0 && hw > 0, "ist::cuda::global_avg_pool_forward: expected positive sizes, found n=", n,
            " c=", c, " hw=", hw);
  const std::size_t rows = std::size_t(n) * c;
  kernels::global_avg_pool_forward<<<detail::grid_for(rows * 32), detail::block_threads, 0, ctx.stream()>>>(
      rows, hw, 1.f / float(hw), x, y);
  IST_CUDA_CHECK_LAUNCH("global_avg_pool_forward");
}

inline void global_avg_pool_backward(CudaContext& ctx, int n, int c, int hw, const float* dy, float* dx) {
  IST_CHECK(n > 0 && c > 0 && hw > 0, "ist::cuda::global_avg_pool_backward: expected positive sizes, found n=", n,
            " c=", c, " hw=", hw);
  const std::size_t count = std::size_t(n) * c * hw;
  kernels::global_avg_pool_backward<<<detail::grid_for(count), detail::block_threads, 0, ctx.stream()>>>(
      count, hw, 1.f / float(hw), dy, dx);
  IST_CUDA_CHECK_LAUNCH("global_avg_pool_backward");
}

}  // namespace ist::cuda
