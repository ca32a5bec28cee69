#pragma once
// Gather and scatter of a SliceSet (ist/decompose/slices.hpp) in device memory: the GPU counterparts of
// ist::gather / ist::scatter for width-wise plans (kept rows and columns of weight matrices), where a
// worker's compact sub-network is a scattered subset of the global parameters.
//
//   ist::cuda::SliceIndex index(ctx, slices);                 // once per plan: one global index per value
//   ist::cuda::gather(ctx, index, global, compact);            // compact[i] = global[index[i]]
//   ist::cuda::scatter(ctx, index, compact, global);           // global[index[i]] = compact[i]
//
// The index lists every compact value's global position (built on the host with the same walk as the CPU
// functions, so the compact order is theirs), which keeps the kernels one coalesced pass over the compact
// side whatever the plan's shape. Asynchronous on the context's stream.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/device_buffer.cuh"
#include "ist/backend/cuda/launch.cuh"
#include "ist/core/error.hpp"
#include "ist/decompose/slices.hpp"

namespace ist::cuda {

class SliceIndex {
 public:
  SliceIndex(CudaContext& ctx, const SliceSet& set) {
    std::vector<std::uint32_t> host;
    host.reserve(set.size());
    ::ist::detail::for_each_run(set, [&](std::size_t global, std::size_t, std::size_t length) {
      IST_CHECK(global + length <= std::numeric_limits<std::uint32_t>::max(), "ist::cuda::SliceIndex: global "
                "positions past 2^32 are not supported, found ", global + length);
      for (std::size_t k = 0; k < length; ++k) host.push_back(std::uint32_t(global + k));
      end_ = std::max(end_, global + length);
    });
    index_ = DeviceBuffer<std::uint32_t>(std::span<const std::uint32_t>(host), ctx.stream());
  }
  std::size_t size() const { return index_.size(); }
  // One past the largest global position the set touches: the global buffer must be at least this long.
  std::size_t global_extent() const { return end_; }
  const std::uint32_t* data() const { return index_.data(); }

 private:
  DeviceBuffer<std::uint32_t> index_;
  std::size_t end_ = 0;
};

namespace kernels {

// Templates (instantiated for float), so that two translation units including this header do not both define them.
template <class T>
__global__ void gather_slices(std::size_t n, const std::uint32_t* index, const T* global, T* compact) {
  for (std::size_t i = detail::global_thread(); i < n; i += detail::grid_threads()) compact[i] = global[index[i]];
}
template <class T>
__global__ void scatter_slices(std::size_t n, const std::uint32_t* index, const T* compact, T* global) {
  for (std::size_t i = detail::global_thread(); i < n; i += detail::grid_threads()) global[index[i]] = compact[i];
}

}  // namespace kernels

// compact[i] = global[index[i]]; compact holds index.size() values, global at least index.global_extent().
inline void gather(CudaContext& ctx, const SliceIndex& index, std::span<const float> global, std::span<float> compact) {
  IST_CHECK(compact.size() == index.size() && global.size() >= index.global_extent(), "ist::cuda::gather: expected a "
            "compact buffer of ", index.size(), " values and a global one of at least ", index.global_extent(),
            ", found ", compact.size(), " and ", global.size());
  if (compact.empty()) return;
  kernels::gather_slices<float><<<detail::grid_for(compact.size()), detail::block_threads, 0, ctx.stream()>>>(
      compact.size(), index.data(), global.data(), compact.data());
  IST_CUDA_CHECK_LAUNCH("gather_slices");
}

// global[index[i]] = compact[i]; the other global values are left alone.
inline void scatter(CudaContext& ctx, const SliceIndex& index, std::span<const float> compact, std::span<float> global) {
  IST_CHECK(compact.size() == index.size() && global.size() >= index.global_extent(), "ist::cuda::scatter: expected a "
            "compact buffer of ", index.size(), " values and a global one of at least ", index.global_extent(),
            ", found ", compact.size(), " and ", global.size());
  if (compact.empty()) return;
  kernels::scatter_slices<float><<<detail::grid_for(compact.size()), detail::block_threads, 0, ctx.stream()>>>(
      compact.size(), index.data(), compact.data(), global.data());
  IST_CUDA_CHECK_LAUNCH("scatter_slices");
}

}  // namespace ist::cuda
