#pragma once
// Helpers shared by the GPU tests: the shared context, random host data, uploads and the relative
// L2 error used to compare the CUDA backend with the Eigen backend.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/device_buffer.cuh"
#include "ist/core/rng.hpp"

namespace ist::test {

// One context for all tests of the process (device 0): creating cuDNN and cuBLAS handles is slow.
inline cuda::CudaContext& gpu() {
  static cuda::CudaContext ctx(0);
  return ctx;
}

// shift + scale * N(0, 1), deterministic for a seed.
inline std::vector<float> random_floats(std::size_t n, std::uint64_t seed, double scale = 1.0, double shift = 0.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(shift + scale * rng.normal());
  return v;
}

inline cuda::DeviceBuffer<float> upload(const std::vector<float>& v) {
  return cuda::DeviceBuffer<float>(std::span<const float>(v), gpu().stream());
}

inline std::vector<float> download(const float* device, std::size_t n) { return cuda::to_host(device, n, gpu().stream()); }
inline std::vector<float> download(const cuda::DeviceBuffer<float>& b) { return b.to_host(gpu().stream()); }

// ||got - want||_2 / ||want||_2 (absolute error when want is 0).
template <class U>
double rel_l2(std::span<const float> got, std::span<const U> want) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < want.size() && i < got.size(); ++i) {
    const double d = double(got[i]) - double(want[i]);
    diff += d * d;
    norm += double(want[i]) * double(want[i]);
  }
  if (got.size() != want.size()) return INFINITY;
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}
inline double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
  return rel_l2<float>(std::span<const float>(got), std::span<const float>(want));
}

}  // namespace ist::test
