#pragma once
// ist::cuda::NovoGrad: ist::optim::NovoGrad's update rule (ist/optim/novograd.hpp) over device buffers.
// Per step two kernels: one block per tensor sums ||g_k||^2 in double in a fixed order (a fixed-size tree
// per block, so the result does not depend on scheduling) and updates v_k; then the element-wise update of m
// and the parameters, with grid.y over the tensors.
//
//   ist::cuda::NovoGrad opt(ctx, ist::optim::NovoGradConfig{.lr = 0.01}, tensors);   // segments of the buffer
//   opt.step(params, grads, lr);                                                     // device spans
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/device_buffer.cuh"
#include "ist/backend/cuda/launch.cuh"
#include "ist/core/error.hpp"
#include "ist/optim/novograd.hpp"

namespace ist::cuda {

namespace kernels {

inline constexpr int novograd_norm_threads = 256;

// The kernels are templates (instantiated for float), so that two translation units including this header do not
// both define them.
// Block k: v[k] from ||g over segment k||^2 (first: v = n; else beta2 * v + (1 - beta2) * n).
template <class T>
__global__ void novograd_norms(const std::uint64_t* __restrict__ offsets, const std::uint64_t* __restrict__ sizes,
                               const T* __restrict__ g, double* __restrict__ v, int first, double beta2) {
  __shared__ double partial[novograd_norm_threads];
  const int k = blockIdx.x;
  const std::uint64_t off = offsets[k], n = sizes[k];
  double s = 0;
  for (std::uint64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double gi = g[off + i];
    s += gi * gi;
  }
  partial[threadIdx.x] = s;
  __syncthreads();
  for (int stride = novograd_norm_threads / 2; stride > 0; stride /= 2) {
    if (int(threadIdx.x) < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) v[k] = first ? partial[0] : beta2 * v[k] + (1.0 - beta2) * partial[0];
}

// grid.y = tensor k; grid-stride over its elements.
template <class T>
__global__ void novograd_update(const std::uint64_t* __restrict__ offsets, const std::uint64_t* __restrict__ sizes,
                                const double* __restrict__ v, T* __restrict__ p, const T* __restrict__ g,
                                T* __restrict__ m, T lr, T beta1, T wd, double eps) {
  const int k = blockIdx.y;
  const std::uint64_t off = offsets[k], n = sizes[k];
  const T inv = T(1.0 / (sqrt(v[k]) + eps));
  for (std::uint64_t i = std::uint64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += std::uint64_t(gridDim.x) * blockDim.x) {
    const std::uint64_t j = off + i;
    const T mi = beta1 * m[j] + g[j] * inv + wd * p[j];
    m[j] = mi;
    p[j] -= lr * mi;
  }
}

}  // namespace kernels

class NovoGrad {
 public:
  using value_type = float;

  // tensors must tile [0, n) in order (as optim::NovoGrad checks). ctx must outlive the optimizer.
  NovoGrad(CudaContext& ctx, optim::NovoGradConfig config, const optim::TensorSegments& tensors)
      : ctx_(&ctx), config_(config), tensors_(tensors.size()) {
    optim::validate(config_, "ist::cuda::NovoGrad");
    std::vector<std::uint64_t> off, size;
    std::size_t next = 0, largest = 0;
    for (std::size_t k = 0; k < tensors.size(); ++k) {
      IST_CHECK(tensors[k].offset == next, "ist::cuda::NovoGrad: tensor segment ", k, " starts at ",
                tensors[k].offset, ", expected ", next, " (segments must tile the buffer in order)");
      next += tensors[k].size;
      largest = std::max(largest, tensors[k].size);
      off.push_back(tensors[k].offset);
      size.push_back(tensors[k].size);
    }
    num_params_ = next;
    largest_ = largest;
    m_.resize(num_params_);
    m_.zero(ctx.stream());
    v_.resize(tensors_);
    offsets_.resize(tensors_);
    sizes_.resize(tensors_);
    if (tensors_ > 0) {
      IST_CUDA_CHECK(cudaMemcpyAsync(offsets_.data(), off.data(), tensors_ * sizeof(std::uint64_t),
                                     cudaMemcpyHostToDevice, ctx.stream()));
      IST_CUDA_CHECK(cudaMemcpyAsync(sizes_.data(), size.data(), tensors_ * sizeof(std::uint64_t),
                                     cudaMemcpyHostToDevice, ctx.stream()));
      ctx.synchronize();  // the host vectors go out of scope
    }
  }

  void step(std::span<float> params, std::span<const float> grads, double lr) {
    IST_CHECK(params.size() == num_params_ && grads.size() == num_params_, "ist::cuda::NovoGrad::step: expected "
              "params and grads of ", num_params_, " values (num_params), found ", params.size(), " and ",
              grads.size());
    IST_CHECK(std::isfinite(lr) && lr >= 0.0, "ist::cuda::NovoGrad::step: expected lr >= 0, found ", lr);
    if (tensors_ == 0) return;
    cudaStream_t s = ctx_->stream();
    kernels::novograd_norms<float><<<unsigned(tensors_), kernels::novograd_norm_threads, 0, s>>>(
        offsets_.data(), sizes_.data(), grads.data(), v_.data(), first_ ? 1 : 0, config_.beta2);
    IST_CUDA_CHECK_LAUNCH("novograd_norms");
    const dim3 grid(detail::grid_for(largest_), unsigned(tensors_));
    kernels::novograd_update<float><<<grid, detail::block_threads, 0, s>>>(
        offsets_.data(), sizes_.data(), v_.data(), params.data(), grads.data(), m_.data(), float(lr),
        float(config_.beta1), float(config_.weight_decay), config_.eps);
    IST_CUDA_CHECK_LAUNCH("novograd_update");
    first_ = false;
  }

  void reset_state() {
    m_.zero(ctx_->stream());
    first_ = true;
  }
  // buffers = {m} in device memory; v starts anew at the next step (v_k = n_k), as optim::NovoGrad.
  void load_state(std::span<const std::span<const float>> buffers, std::int64_t /*steps_done*/) {
    IST_CHECK(buffers.size() == 1 && buffers[0].size() == num_params_, "ist::cuda::NovoGrad::load_state: expected "
              "1 state buffer (m) of ", num_params_, " values, found ", buffers.size(), " buffers");
    if (num_params_ > 0)
      IST_CUDA_CHECK(cudaMemcpyAsync(m_.data(), buffers[0].data(), num_params_ * sizeof(float),
                                     cudaMemcpyDeviceToDevice, ctx_->stream()));
    first_ = true;
  }
  std::size_t num_state_buffers() const { return 1; }
  std::span<float> state_buffer(std::size_t i) {
    IST_CHECK(i < 1, "ist::cuda::NovoGrad::state_buffer: expected index < 1, found ", i);
    return {m_.data(), m_.size()};
  }
  // The per-tensor second moments, on the device.
  std::span<const double> second_moments() const { return {v_.data(), v_.size()}; }
  std::size_t num_params() const { return num_params_; }
  const optim::NovoGradConfig& config() const { return config_; }

 private:
  CudaContext* ctx_;
  optim::NovoGradConfig config_;
  std::size_t tensors_ = 0, num_params_ = 0, largest_ = 0;
  DeviceBuffer<float> m_;
  DeviceBuffer<double> v_;
  DeviceBuffer<std::uint64_t> offsets_, sizes_;
  bool first_ = true;
};

}  // namespace ist::cuda

namespace ist::optim {
// NovoGrad on the CUDA compute policy.
template <>
struct Implementation<NovoGradConfig, cuda::CudaContext> {
  using type = cuda::NovoGrad;
  static type make(cuda::CudaContext& ctx, const NovoGradConfig& c, const TensorSegments& tensors) {
    return type(ctx, c, tensors);
  }
};
static_assert(Optimizer<cuda::NovoGrad>);
}  // namespace ist::optim
