#pragma once
// NovoGrad (Ginsburg et al., 2019): stochastic normalized gradients with layer-wise second moments. Per
// tensor k with gradient g_k (the slice of grads that tensor k occupies), then per element of it:
//   n_k = ||g_k||^2
//   v_k = n_k                                   on the first step after construction, reset_state() or
//                                               load_state()
//   v_k = beta2 * v_k + (1 - beta2) * n_k       on every later step
//   m   = beta1 * m + g / (sqrt(v_k) + eps) + wd * p
//   p   = p - lr * m
// Weight decay is decoupled from the normalization: it enters m after the gradient is normalized (the
// paper's rule), not the gradient itself.
//
// State: m, one value per parameter (state_buffer(0), "exp_avg"), and v, one value per tensor. Only m is a
// state buffer in the engine's sense, carried between rounds and averaged across workers like the
// parameters. v belongs to a whole tensor; when a worker holds a slice of a tensor (width-wise plans) the
// norm over its slice is not the norm over the tensor, so v is never carried: load_state() starts it anew
// (v = n_k at the next step), as GIST resets Adam every round. See docs/optim.md.
//
// Memory: one buffer of the parameters' size plus one value per tensor: half of Adam's. Norms are summed
// in double in a fixed order (8 lanes, then the lanes in order), so the result does not depend on the
// buffer's address. Satisfies ist::optim::Optimizer; step() never allocates.
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
#include "ist/optim/adam.hpp"
#include "ist/optim/optimizer.hpp"

namespace ist::optim {

struct NovoGradConfig {
  double lr = 0.01;           // base learning rate
  double beta1 = 0.95;        // in [0, 1): momentum of m
  double beta2 = 0.98;        // in [0, 1): decay of the per-tensor second moment
  double eps = 1e-8;          // >= 0
  double weight_decay = 0.0;  // >= 0; decoupled: added to m after normalization

  // The OptimizerPolicy members (ist/optim/optimizer.hpp).
  static constexpr std::string_view name = "novograd";
  std::vector<std::string> state_names() const { return {"exp_avg"}; }
  // NovoGrad's hyperparameters are Adam's (the same ranges and the same JSON object).
  AdamConfig as_adam() const { return AdamConfig{lr, beta1, beta2, eps, weight_decay}; }
  nlohmann::ordered_json hyperparameters() const { return as_adam().hyperparameters(); }
};

// Throws ist::Error naming `where` when the configuration is invalid: Adam's checks.
inline void validate(const NovoGradConfig& c, const char* where = "ist::optim::NovoGradConfig") {
  validate(c.as_adam(), where);
}

namespace detail {
// Sum of squares of x[0..n) in double, in a fixed order: 8 interleaved partial sums, then added in order.
template <class T>
double sum_of_squares(const T* x, std::size_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) lane[j] += double(x[i + std::size_t(j)]) * double(x[i + std::size_t(j)]);
  for (; i < n; ++i) lane[0] += double(x[i]) * double(x[i]);
  double s = 0;
  for (double l : lane) s += l;
  return s;
}
}  // namespace detail

template <class T>
class NovoGrad {
 public:
  using value_type = T;

  // tensors: the tensors' segments of the buffer; together they must cover [0, n) without overlap, in order.
  NovoGrad(NovoGradConfig config, TensorSegments tensors) : config_(config), tensors_(std::move(tensors)) {
    validate(config_, "ist::optim::NovoGrad");
    std::size_t next = 0;
    for (std::size_t k = 0; k < tensors_.size(); ++k) {
      IST_CHECK(tensors_[k].offset == next, "ist::optim::NovoGrad: tensor segment ", k, " starts at ",
                tensors_[k].offset, ", expected ", next, " (segments must tile the buffer in order)");
      next += tensors_[k].size;
    }
    num_params_ = next;
    m_.assign(num_params_, T(0));
    v_.assign(tensors_.size(), 0.0);
  }

  void step(std::span<T> params, std::span<const T> grads, double lr) {
    IST_CHECK(params.size() == num_params_, "ist::optim::NovoGrad::step: expected params of size ", num_params_,
              " (num_params), found ", params.size());
    IST_CHECK(grads.size() == num_params_, "ist::optim::NovoGrad::step: expected grads of size ", num_params_,
              " (num_params), found ", grads.size());
    IST_CHECK(std::isfinite(lr) && lr >= 0.0, "ist::optim::NovoGrad::step: expected lr >= 0, found ", lr);
    const T lr_t = T(lr), b1 = T(config_.beta1), wd = T(config_.weight_decay);
    for (std::size_t k = 0; k < tensors_.size(); ++k) {
      const std::size_t off = tensors_[k].offset, n = tensors_[k].size;
      const double norm2 = detail::sum_of_squares(grads.data() + off, n);
      v_[k] = first_ ? norm2 : config_.beta2 * v_[k] + (1.0 - config_.beta2) * norm2;
      const T inv = T(1.0 / (std::sqrt(v_[k]) + config_.eps));
      T* p = params.data() + off;
      const T* g = grads.data() + off;
      T* m = m_.data() + off;
      for (std::size_t i = 0; i < n; ++i) {
        const T mi = b1 * m[i] + g[i] * inv + wd * p[i];
        m[i] = mi;
        p[i] -= lr_t * mi;
      }
    }
    first_ = false;
  }
  void step(std::span<T> params, std::span<const T> grads) { step(params, grads, config_.lr); }

  // Zeroes m; the next step is a first step (v_k = n_k).
  void reset_state() {
    std::fill(m_.begin(), m_.end(), T(0));
    std::fill(v_.begin(), v_.end(), 0.0);
    first_ = true;
  }
  // buffers = {m}. The per-tensor v is not carried: the next step starts it anew (v_k = n_k).
  void load_state(std::span<const std::span<const T>> buffers, std::int64_t /*steps_done*/) {
    IST_CHECK(buffers.size() == 1, "ist::optim::NovoGrad::load_state: expected 1 state buffer (m), found ",
              buffers.size());
    IST_CHECK(buffers[0].size() == num_params_, "ist::optim::NovoGrad::load_state: expected m of size ", num_params_,
              " (num_params), found ", buffers[0].size());
    std::copy(buffers[0].begin(), buffers[0].end(), m_.begin());
    std::fill(v_.begin(), v_.end(), 0.0);
    first_ = true;
  }

  std::size_t num_state_buffers() const { return 1; }
  std::span<T> state_buffer(std::size_t i) {
    IST_CHECK(i < 1, "ist::optim::NovoGrad::state_buffer: expected index < 1, found ", i);
    return m_;
  }
  std::span<T> first_moment() { return m_; }
  // The per-tensor second moments, one per segment.
  std::span<const double> second_moments() const { return v_; }
  std::size_t num_params() const { return num_params_; }
  const NovoGradConfig& config() const { return config_; }

 private:
  NovoGradConfig config_;
  TensorSegments tensors_;
  std::size_t num_params_ = 0;
  std::vector<T> m_;
  std::vector<double> v_;
  bool first_ = true;
};

static_assert(Optimizer<NovoGrad<float>> && Optimizer<NovoGrad<double>>);
static_assert(OptimizerPolicy<NovoGradConfig>);

// NovoGrad on the Eigen compute policy: host buffers.
template <>
struct Implementation<NovoGradConfig, eigen::CpuContext> {
  using type = NovoGrad<float>;
  static type make(eigen::CpuContext&, const NovoGradConfig& c, const TensorSegments& tensors) {
    return type(c, tensors);
  }
};

}  // namespace ist::optim
