#pragma once
// ist::cuda::Sgd: ist::optim::Sgd's update rule (PyTorch's torch.optim.SGD, see ist/optim/sgd.hpp) over
// device buffers, one fused kernel per step: weight decay, momentum buffer and parameter update read and
// write each element once.
//
//   ist::cuda::Sgd sgd(ctx, {.lr = 0.1, .momentum = 0.9}, n);   // momentum buffer on the device
//   sgd.step(params, grads, lr);                                   // params, grads: device spans of n floats
//
// Same members as optim::Sgd where a trainer uses them: step, load_momentum, momentum_buffer,
// momentum_initialized, has_state, num_params, reset_state. Spans are device memory. Asynchronous on the
// context's stream.
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
#include "ist/optim/sgd.hpp"

namespace ist::cuda {

namespace kernels {

// mode 0: no momentum; 1: first step (buf = g); 2: later steps (buf = mu * buf + g).
template <int Mode, bool Nesterov>
__global__ void sgd_step(std::size_t n, float* __restrict__ p, const float* __restrict__ g, float* __restrict__ buf,
                         float lr, float wd, float mu) {
  for (std::size_t i = detail::global_thread(); i < n; i += detail::grid_threads()) {
    const float pi = p[i];
    const float gi = g[i] + wd * pi;
    if constexpr (Mode == 0) {
      p[i] = pi - lr * gi;
    } else {
      const float bi = Mode == 1 ? gi : mu * buf[i] + gi;
      buf[i] = bi;
      p[i] = pi - lr * (Nesterov ? gi + mu * bi : bi);
    }
  }
}

}  // namespace kernels

class Sgd {
 public:
  using value_type = float;

  // The momentum buffer (num_params floats on ctx's device) is allocated when config.momentum > 0.
  // ctx must outlive the optimizer.
  Sgd(CudaContext& ctx, optim::SgdConfig config, std::size_t num_params)
      : ctx_(&ctx), config_(config), num_params_(num_params) {
    optim::validate(config_, "ist::cuda::Sgd");
    if (has_state()) buf_.resize(num_params_);
  }

  // One update in place; params and grads are device spans of num_params() floats.
  void step(std::span<float> params, std::span<const float> grads, double lr) {
    IST_CHECK(params.size() == num_params_ && grads.size() == num_params_, "ist::cuda::Sgd::step: expected params "
              "and grads of ", num_params_, " values (num_params), found ", params.size(), " and ", grads.size());
    IST_CHECK(std::isfinite(lr) && lr >= 0.0, "ist::cuda::Sgd::step: expected lr >= 0, found ", lr);
    if (num_params_ == 0) return;
    const auto n = num_params_;
    const float lr_f = float(lr), wd = float(config_.weight_decay), mu = float(config_.momentum);
    float* p = params.data();
    const float* g = grads.data();
    const unsigned grid = detail::grid_for(n);
    const int threads = detail::block_threads;
    cudaStream_t s = ctx_->stream();
    if (!has_state()) {
      kernels::sgd_step<0, false><<<grid, threads, 0, s>>>(n, p, g, nullptr, lr_f, wd, mu);
    } else if (!initialized_) {
      if (config_.nesterov) kernels::sgd_step<1, true><<<grid, threads, 0, s>>>(n, p, g, buf_.data(), lr_f, wd, mu);
      else kernels::sgd_step<1, false><<<grid, threads, 0, s>>>(n, p, g, buf_.data(), lr_f, wd, mu);
      initialized_ = true;
    } else {
      if (config_.nesterov) kernels::sgd_step<2, true><<<grid, threads, 0, s>>>(n, p, g, buf_.data(), lr_f, wd, mu);
      else kernels::sgd_step<2, false><<<grid, threads, 0, s>>>(n, p, g, buf_.data(), lr_f, wd, mu);
    }
    IST_CUDA_CHECK_LAUNCH("sgd_step");
  }
  void step(std::span<float> params, std::span<const float> grads) { step(params, grads, config_.lr); }

  // Sets the momentum buffer from device memory and marks it initialized (a carried optimizer state).
  void load_momentum(std::span<const float> momentum) {
    IST_CHECK(has_state(), "ist::cuda::Sgd::load_momentum: expected momentum > 0, found momentum ", config_.momentum);
    IST_CHECK(momentum.size() == num_params_, "ist::cuda::Sgd::load_momentum: expected ", num_params_,
              " values (num_params), found ", momentum.size());
    if (num_params_ > 0)
      IST_CUDA_CHECK(cudaMemcpyAsync(buf_.data(), momentum.data(), num_params_ * sizeof(float),
                                     cudaMemcpyDeviceToDevice, ctx_->stream()));
    initialized_ = true;
  }
  // Zeroes the momentum buffer; the next step sets buf = g, as at construction.
  void reset_state() {
    buf_.zero(ctx_->stream());
    initialized_ = false;
  }

  // The Optimizer concept (ist/optim/optimizer.hpp): the momentum buffer is the one state buffer.
  std::size_t num_state_buffers() const { return has_state() ? 1 : 0; }
  std::span<float> state_buffer(std::size_t i) {
    IST_CHECK(i < num_state_buffers(), "ist::cuda::Sgd::state_buffer: expected index < ", num_state_buffers(),
              ", found ", i);
    return momentum_buffer();
  }
  void load_state(std::span<const std::span<const float>> buffers, std::int64_t /*steps_done*/) {
    IST_CHECK(buffers.size() == num_state_buffers(), "ist::cuda::Sgd::load_state: expected ", num_state_buffers(),
              " state buffers, found ", buffers.size());
    if (has_state()) load_momentum(buffers[0]);
  }

  std::span<float> momentum_buffer() { return {buf_.data(), buf_.size()}; }
  std::span<const float> momentum_buffer() const { return {buf_.data(), buf_.size()}; }
  bool momentum_initialized() const { return initialized_; }
  bool has_state() const { return config_.momentum > 0.0; }
  std::size_t num_params() const { return num_params_; }
  const optim::SgdConfig& config() const { return config_; }

 private:
  CudaContext* ctx_;
  optim::SgdConfig config_;
  std::size_t num_params_;
  DeviceBuffer<float> buf_;
  bool initialized_ = false;
};

}  // namespace ist::cuda

namespace ist::optim {
// SGD on the CUDA compute policy: device buffers, one fused kernel per step.
template <>
struct Implementation<SgdConfig, cuda::CudaContext> {
  using type = cuda::Sgd;
  static type make(cuda::CudaContext& ctx, const SgdConfig& c, const TensorSegments& tensors) {
    return type(ctx, c, total_size(tensors));
  }
};
static_assert(Optimizer<cuda::Sgd>);
}  // namespace ist::optim
