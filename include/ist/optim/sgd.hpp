#pragma once
// Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay, with exactly
// the update rule of PyTorch's torch.optim.SGD (dampening = 0, maximize = False). Per element, with
// g = grad, p = param, mu = momentum, wd = weight_decay:
//   g   = g + wd * p                       weight decay is L2, coupled into the gradient like PyTorch's
//                                          SGD (NOT decoupled weight decay as in SGDW/AdamW)
//   buf = g                                on the first step after construction or reset_state()
//                                          (PyTorch's momentum_buffer is None then)
//   buf = mu * buf + g                     on every later step            (only when mu > 0)
//   u   = nesterov ? g + mu * buf : buf    (u = g when mu == 0)
//   p   = p - lr * u
// Optimizer state: the momentum buffer (one value per parameter, present only when momentum > 0). It is
// what IST carries across rounds or averages across workers: momentum_buffer() / state_buffer(0).
// Satisfies ist::optim::Optimizer. step() never allocates; arithmetic is done in T.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ist/core/error.hpp"
#include "ist/optim/optimizer.hpp"

namespace ist::optim {

struct SgdConfig {
  double lr = 0.1;            // default learning rate, used by step(params, grads)
  double momentum = 0.0;      // in [0, 1); 0 disables the momentum buffer
  double weight_decay = 0.0;  // >= 0; L2 penalty added to the gradient (coupled, like PyTorch)
  bool nesterov = false;      // requires momentum > 0

  // The OptimizerPolicy members (ist/optim/optimizer.hpp).
  static constexpr std::string_view name = "sgd";
  std::vector<std::string> state_names() const {
    return momentum > 0.0 ? std::vector<std::string>{"momentum"} : std::vector<std::string>{};
  }
  nlohmann::ordered_json hyperparameters() const {
    return {{"lr", lr}, {"momentum", momentum}, {"weight_decay", weight_decay}, {"nesterov", nesterov}};
  }
};

// Throws ist::Error naming `where` when the configuration is invalid.
inline void validate(const SgdConfig& c, const char* where = "ist::optim::SgdConfig") {
  IST_CHECK(std::isfinite(c.lr) && c.lr >= 0.0, where, ": expected lr >= 0, found ", c.lr);
  IST_CHECK(c.momentum >= 0.0 && c.momentum < 1.0, where, ": expected momentum in [0, 1), found ",
            c.momentum);
  IST_CHECK(std::isfinite(c.weight_decay) && c.weight_decay >= 0.0, where,
            ": expected weight_decay >= 0, found ", c.weight_decay);
  IST_CHECK(!c.nesterov || c.momentum > 0.0, where,
            ": expected momentum > 0 when nesterov is true, found momentum ", c.momentum);
}

template <class T>
class Sgd {
 public:
  using value_type = T;

  // Allocates the momentum buffer (num_params values) when config.momentum > 0.
  Sgd(SgdConfig config, std::size_t num_params) : config_(config), num_params_(num_params) {
    validate(config_, "ist::optim::Sgd");
    if (has_state()) buf_.assign(num_params_, T(0));
  }

  // One update in place. params and grads must both have num_params() elements; lr >= 0.
  void step(std::span<T> params, std::span<const T> grads, double lr) {
    IST_CHECK(params.size() == num_params_, "ist::optim::Sgd::step: expected params of size ", num_params_,
              " (num_params), found ", params.size());
    IST_CHECK(grads.size() == num_params_, "ist::optim::Sgd::step: expected grads of size ", num_params_,
              " (num_params), found ", grads.size());
    IST_CHECK(std::isfinite(lr) && lr >= 0.0, "ist::optim::Sgd::step: expected lr >= 0, found ", lr);
    const std::size_t n = num_params_;
    T* p = params.data();
    const T* g = grads.data();
    const T lr_t = static_cast<T>(lr);
    const T wd = static_cast<T>(config_.weight_decay);
    const T mu = static_cast<T>(config_.momentum);

    if (!has_state()) {
      if (config_.weight_decay == 0.0) {
        for (std::size_t i = 0; i < n; ++i) p[i] -= lr_t * g[i];
      } else {
        for (std::size_t i = 0; i < n; ++i) p[i] -= lr_t * (g[i] + wd * p[i]);
      }
      return;
    }

    T* b = buf_.data();
    if (!initialized_) {
      if (config_.nesterov) {
        for (std::size_t i = 0; i < n; ++i) {
          const T gi = g[i] + wd * p[i];
          b[i] = gi;
          p[i] -= lr_t * (gi + mu * gi);
        }
      } else {
        for (std::size_t i = 0; i < n; ++i) {
          const T gi = g[i] + wd * p[i];
          b[i] = gi;
          p[i] -= lr_t * gi;
        }
      }
      initialized_ = true;
      return;
    }

    if (config_.nesterov) {
      for (std::size_t i = 0; i < n; ++i) {
        const T gi = g[i] + wd * p[i];
        const T bi = mu * b[i] + gi;
        b[i] = bi;
        p[i] -= lr_t * (gi + mu * bi);
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        const T gi = g[i] + wd * p[i];
        const T bi = mu * b[i] + gi;
        b[i] = bi;
        p[i] -= lr_t * bi;
      }
    }
  }

  // One update with config().lr.
  void step(std::span<T> params, std::span<const T> grads) { step(params, grads, config_.lr); }

  // Zeroes the momentum buffer and marks it uninitialized: the next step sets buf = g, as at construction.
  void reset_state() {
    std::fill(buf_.begin(), buf_.end(), T(0));
    initialized_ = false;
  }

  // Copies `momentum` into the buffer and marks it initialized, so the next step uses buf = mu*buf + g
  // (use this to install an averaged or carried-over buffer). Requires has_state().
  void load_momentum(std::span<const T> momentum) {
    IST_CHECK(has_state(), "ist::optim::Sgd::load_momentum: expected momentum > 0, found momentum ",
              config_.momentum);
    IST_CHECK(momentum.size() == num_params_, "ist::optim::Sgd::load_momentum: expected ", num_params_,
              " values (num_params), found ", momentum.size());
    std::copy(momentum.begin(), momentum.end(), buf_.begin());
    initialized_ = true;
  }

  // The Optimizer concept's way to install carried state: buffers holds the momentum buffer (one buffer
  // when has_state(), none otherwise); steps_done does not matter to SGD.
  void load_state(std::span<const std::span<const T>> buffers, std::int64_t /*steps_done*/) {
    IST_CHECK(buffers.size() == num_state_buffers(), "ist::optim::Sgd::load_state: expected ", num_state_buffers(),
              " state buffers, found ", buffers.size());
    if (has_state()) load_momentum(buffers[0]);
  }

  // The momentum buffer: num_params() values when has_state(), empty otherwise. Writing through the
  // mutable span changes the state but not the initialized flag (see load_momentum / momentum_initialized).
  std::span<T> momentum_buffer() { return buf_; }
  std::span<const T> momentum_buffer() const { return buf_; }
  // False after construction or reset_state() until the first step (or load_momentum).
  bool momentum_initialized() const { return initialized_; }

  bool has_state() const { return config_.momentum > 0.0; }
  std::size_t num_state_buffers() const { return has_state() ? 1 : 0; }
  std::span<T> state_buffer(std::size_t i) {
    IST_CHECK(i < num_state_buffers(), "ist::optim::Sgd::state_buffer: expected index < ",
              num_state_buffers(), ", found ", i);
    return buf_;
  }

  std::size_t num_params() const { return num_params_; }
  const SgdConfig& config() const { return config_; }

 private:
  SgdConfig config_;
  std::size_t num_params_;
  std::vector<T> buf_;
  bool initialized_ = false;
};

static_assert(Optimizer<Sgd<float>> && Optimizer<Sgd<double>>);
static_assert(OptimizerPolicy<SgdConfig>);

// SGD on the Eigen compute policy: host buffers.
template <>
struct Implementation<SgdConfig, eigen::CpuContext> {
  using type = Sgd<float>;
  static type make(eigen::CpuContext&, const SgdConfig& c, const TensorSegments& tensors) { return type(c, total_size(tensors)); }
};

}  // namespace ist::optim
