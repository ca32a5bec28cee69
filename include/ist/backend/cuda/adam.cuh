#pragma once
// ist::cuda::Adam: ist::optim::Adam's update rule (PyTorch's torch.optim.Adam, see ist/optim/adam.hpp) over
// device buffers, one fused kernel per step: weight decay, both moments and the update read and write each
// element once. Bias corrections are computed in double on the host, as in optim::Adam.
//
//   ist::cuda::Adam adam(ctx, {.lr = 0.01, .weight_decay = 5e-4}, n);
//   adam.step(params, grads, lr);        // device spans of n floats
//
// Same members as optim::Adam where a trainer uses them: step, reset_state, load_state, first_moment,
// second_moment, step_count, num_params. Spans are device memory. Asynchronous on the context's stream.
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/device_buffer.cuh"
#include "ist/backend/cuda/launch.cuh"
#include "ist/core/error.hpp"
#include "ist/optim/adam.hpp"

namespace ist::cuda {

namespace kernels {

// LerpLow: PyTorch's lerp(m, g, w) for w < 0.5 is m + w * (g - m); for w >= 0.5, g - (g - m) * (1 - w).
template <bool LerpLow>
__global__ void adam_step(std::size_t n, float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                          float* __restrict__ v, float neg_step_size, float bc2_sqrt, float eps, float wd, float b2,
                          float w1, float w2) {
  for (std::size_t i = detail::global_thread(); i < n; i += detail::grid_threads()) {
    const float gi = g[i] + wd * p[i];
    const float mi = LerpLow ? m[i] + w1 * (gi - m[i]) : gi - (gi - m[i]) * (1.0f - w1);
    const float vi = b2 * v[i] + w2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] += neg_step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
  }
}

}  // namespace kernels

class Adam {
 public:
  using value_type = float;

  Adam(CudaContext& ctx, optim::AdamConfig config, std::size_t num_params)
      : ctx_(&ctx), config_(config), num_params_(num_params), m_(num_params), v_(num_params) {
    optim::validate(config_, "ist::cuda::Adam");
  }

  void step(std::span<float> params, std::span<const float> grads, double lr) {
    IST_CHECK(params.size() == num_params_ && grads.size() == num_params_, "ist::cuda::Adam::step: expected params "
              "and grads of ", num_params_, " values (num_params), found ", params.size(), " and ", grads.size());
    IST_CHECK(std::isfinite(lr) && lr >= 0.0, "ist::cuda::Adam::step: expected lr >= 0, found ", lr);
    ++step_count_;
    if (num_params_ == 0) return;
    const double t = double(step_count_);
    const double bias_correction1 = 1.0 - std::pow(config_.beta1, t);
    const double bias_correction2 = 1.0 - std::pow(config_.beta2, t);
    const float neg_step_size = float(-(lr / bias_correction1)), bc2_sqrt = float(std::sqrt(bias_correction2));
    const float eps = float(config_.eps), wd = float(config_.weight_decay), b2 = float(config_.beta2);
    const float w1 = float(1.0 - config_.beta1), w2 = float(1.0 - config_.beta2);
    const auto n = num_params_;
    const unsigned grid = detail::grid_for(n);
    if (1.0 - config_.beta1 < 0.5)
      kernels::adam_step<true><<<grid, detail::block_threads, 0, ctx_->stream()>>>(
          n, params.data(), grads.data(), m_.data(), v_.data(), neg_step_size, bc2_sqrt, eps, wd, b2, w1, w2);
    else
      kernels::adam_step<false><<<grid, detail::block_threads, 0, ctx_->stream()>>>(
          n, params.data(), grads.data(), m_.data(), v_.data(), neg_step_size, bc2_sqrt, eps, wd, b2, w1, w2);
    IST_CUDA_CHECK_LAUNCH("adam_step");
  }
  void step(std::span<float> params, std::span<const float> grads) { step(params, grads, config_.lr); }

  // Zeroes both moments and the step count.
  void reset_state() {
    m_.zero(ctx_->stream());
    v_.zero(ctx_->stream());
    step_count_ = 0;
  }
  // Installs carried or averaged state from device memory.
  void load_state(std::span<const float> first_moment, std::span<const float> second_moment, std::int64_t step_count) {
    IST_CHECK(first_moment.size() == num_params_ && second_moment.size() == num_params_, "ist::cuda::Adam::load_state: "
              "expected moments of ", num_params_, " values (num_params), found ", first_moment.size(), " and ",
              second_moment.size());
    IST_CHECK(step_count >= 0, "ist::cuda::Adam::load_state: expected step_count >= 0, found ", step_count);
    if (num_params_ > 0) {
      IST_CUDA_CHECK(cudaMemcpyAsync(m_.data(), first_moment.data(), num_params_ * sizeof(float),
                                     cudaMemcpyDeviceToDevice, ctx_->stream()));
      IST_CUDA_CHECK(cudaMemcpyAsync(v_.data(), second_moment.data(), num_params_ * sizeof(float),
                                     cudaMemcpyDeviceToDevice, ctx_->stream()));
    }
    step_count_ = step_count;
  }

  // The Optimizer concept (ist/optim/optimizer.hpp): buffers = {m, v}; steps_done becomes the step count.
  void load_state(std::span<const std::span<const float>> buffers, std::int64_t steps_done) {
    IST_CHECK(buffers.size() == 2, "ist::cuda::Adam::load_state: expected 2 state buffers (m, v), found ",
              buffers.size());
    load_state(buffers[0], buffers[1], steps_done);
  }
  std::size_t num_state_buffers() const { return 2; }
  std::span<float> state_buffer(std::size_t i) {
    IST_CHECK(i < 2, "ist::cuda::Adam::state_buffer: expected index < 2, found ", i);
    return i == 0 ? first_moment() : second_moment();
  }

  std::span<float> first_moment() { return {m_.data(), m_.size()}; }
  std::span<float> second_moment() { return {v_.data(), v_.size()}; }
  std::int64_t step_count() const { return step_count_; }
  std::size_t num_params() const { return num_params_; }
  const optim::AdamConfig& config() const { return config_; }

 private:
  CudaContext* ctx_;
  optim::AdamConfig config_;
  std::size_t num_params_;
  DeviceBuffer<float> m_, v_;
  std::int64_t step_count_ = 0;
};

}  // namespace ist::cuda

namespace ist::optim {
// Adam on the CUDA compute policy: device buffers, one fused kernel per step.
template <>
struct Implementation<AdamConfig, cuda::CudaContext> {
  using type = cuda::Adam;
  static type make(cuda::CudaContext& ctx, const AdamConfig& c, const TensorSegments& tensors) {
    return type(ctx, c, total_size(tensors));
  }
};
static_assert(Optimizer<cuda::Adam>);
}  // namespace ist::optim
