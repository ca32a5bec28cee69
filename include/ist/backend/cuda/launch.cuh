#pragma once
// Launch shapes for the backend's element-wise kernels: 256-thread blocks, grid-stride loops.
#include <algorithm>
#include <cstddef>

namespace ist::cuda::detail {

inline constexpr int block_threads = 256;

// Blocks for `count` elements, one per thread, capped (the kernels loop over the rest).
inline unsigned grid_for(std::size_t count) {
  const std::size_t blocks = (count + block_threads - 1) / block_threads;
  return unsigned(std::clamp<std::size_t>(blocks, 1, std::size_t(1) << 16));
}

// Grid-stride loop index helpers, in size_t so tensors past 2^31 elements work.
__device__ inline std::size_t global_thread() {
  return std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::size_t grid_threads() { return std::size_t(gridDim.x) * blockDim.x; }

}  // namespace ist::cuda::detail
