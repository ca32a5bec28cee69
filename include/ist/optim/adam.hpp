#pragma once
// Adam with exactly the update rule of PyTorch's torch.optim.Adam (amsgrad = False, maximize = False).
// Per element, with g = grad, p = param, t = step count after increment (1 on the first step):
//   g  = g + wd * p                        weight decay is L2, coupled into the gradient like PyTorch's
//                                          Adam (NOT decoupled weight decay as in AdamW)
//   m  = beta1 * m + (1 - beta1) * g       (computed as PyTorch's lerp: m + (1 - beta1) * (g - m))
//   v  = beta2 * v + (1 - beta2) * g * g
//   p  = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Optimizer state: the first moment m, the second moment v (num_params values each, zero after
// construction or reset_state()) and the step count t. m and v are what IST carries across rounds or
// averages across workers: state_buffer(0) = m, state_buffer(1) = v.
// Satisfies ist::optim::Optimizer. step() never allocates; element arithmetic is done in T, the bias
// corrections in double.
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

struct AdamConfig {
  double lr = 1e-3;           // default learning rate, used by step(params, grads)
  double beta1 = 0.9;         // in [0, 1)
  double beta2 = 0.999;       // in [0, 1)
  double eps = 1e-8;          // >= 0
  double weight_decay = 0.0;  // >= 0; L2 penalty added to the gradient (coupled, like PyTorch)

  // The OptimizerPolicy members (ist/optim/optimizer.hpp).
  static constexpr std::string_view name = "adam";
  std::vector<std::string> state_names() const { return {"exp_avg", "exp_avg_sq"}; }
  nlohmann::ordered_json hyperparameters() const {
    return {{"lr", lr}, {"beta1", beta1}, {"beta2", beta2}, {"eps", eps}, {"weight_decay", weight_decay}};
  }
};

// Throws ist::Error naming `where` when the configuration is invalid.
inline void validate(const AdamConfig& c, const char* where = "ist::optim::AdamConfig") {
  IST_CHECK(std::isfinite(c.lr) && c.lr >= 0.0, where, ": expected lr >= 0, found ", c.lr);
  IST_CHECK(c.beta1 >= 0.0 && c.beta1 < 1.0, where, ": expected beta1 in [0, 1), found ", c.beta1);
  IST_CHECK(c.beta2 >= 0.0 && c.beta2 < 1.0, where, ": expected beta2 in [0, 1), found ", c.beta2);
  IST_CHECK(std::isfinite(c.eps) && c.eps >= 0.0, where, ": expected eps >= 0, found ", c.eps);
  IST_CHECK(std::isfinite(c.weight_decay) && c.weight_decay >= 0.0, where,
            ": expected weight_decay >= 0, found ", c.weight_decay);
}

template <class T>
class Adam {
 public:
  using value_type = T;

  // Allocates m and v (num_params values each), zeroed.
  Adam(AdamConfig config, std::size_t num_params)
      : config_(config), num_params_(num_params), m_(num_params, T(0)), v_(num_params, T(0)) {
    validate(config_, "ist::optim::Adam");
  }

  // One update in place. params and grads must both have num_params() elements; lr >= 0.
  void step(std::span<T> params, std::span<const T> grads, double lr) {
    IST_CHECK(params.size() == num_params_, "ist::optim::Adam::step: expected params of size ", num_params_,
              " (num_params), found ", params.size());
    IST_CHECK(grads.size() == num_params_, "ist::optim::Adam::step: expected grads of size ", num_params_,
              " (num_params), found ", grads.size());
    IST_CHECK(std::isfinite(lr) && lr >= 0.0, "ist::optim::Adam::step: expected lr >= 0, found ", lr);
    ++step_count_;
    const double t = static_cast<double>(step_count_);
    const double bias_correction1 = 1.0 - std::pow(config_.beta1, t);
    const double bias_correction2 = 1.0 - std::pow(config_.beta2, t);
    const T neg_step_size = static_cast<T>(-(lr / bias_correction1));
    const T bc2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
    const T eps = static_cast<T>(config_.eps);
    const T wd = static_cast<T>(config_.weight_decay);
    const T b2 = static_cast<T>(config_.beta2);
    const T w1 = static_cast<T>(1.0 - config_.beta1);  // lerp weight
    const T w2 = static_cast<T>(1.0 - config_.beta2);

    const std::size_t n = num_params_;
    T* p = params.data();
    const T* g = grads.data();
    T* m = m_.data();
    T* v = v_.data();
    if (1.0 - config_.beta1 < 0.5) {
      // PyTorch's lerp(m, g, w) for w < 0.5: m + w * (g - m).
      for (std::size_t i = 0; i < n; ++i) {
        const T gi = g[i] + wd * p[i];
        const T mi = m[i] + w1 * (gi - m[i]);
        const T vi = b2 * v[i] + w2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] += neg_step_size * (mi / (std::sqrt(vi) / bc2_sqrt + eps));
      }
    } else {
      // PyTorch's lerp(m, g, w) for w >= 0.5: g - (g - m) * (1 - w).
      const T one_minus_w1 = T(1) - w1;
      for (std::size_t i = 0; i < n; ++i) {
        const T gi = g[i] + wd * p[i];
        const T mi = gi - (gi - m[i]) * one_minus_w1;
        const T vi = b2 * v[i] + w2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] += neg_step_size * (mi / (std::sqrt(vi) / bc2_sqrt + eps));
      }
    }
  }

  // One update with config().lr.
  void step(std::span<T> params, std::span<const T> grads) { step(params, grads, config_.lr); }

  // Zeroes m and v and the step count: the next step is a first step again.
  void reset_state() {
    std::fill(m_.begin(), m_.end(), T(0));
    std::fill(v_.begin(), v_.end(), T(0));
    step_count_ = 0;
  }

  // Installs carried-over or averaged state: copies m and v and sets the step count (>= 0).
  void load_state(std::span<const T> first_moment, std::span<const T> second_moment, std::int64_t step_count) {
    IST_CHECK(first_moment.size() == num_params_, "ist::optim::Adam::load_state: expected first moment of size ",
              num_params_, " (num_params), found ", first_moment.size());
    IST_CHECK(second_moment.size() == num_params_,
              "ist::optim::Adam::load_state: expected second moment of size ", num_params_,
              " (num_params), found ", second_moment.size());
    IST_CHECK(step_count >= 0, "ist::optim::Adam::load_state: expected step_count >= 0, found ", step_count);
    std::copy(first_moment.begin(), first_moment.end(), m_.begin());
    std::copy(second_moment.begin(), second_moment.end(), v_.begin());
    step_count_ = step_count;
  }

  // The Optimizer concept's form: buffers = {m, v}; steps_done becomes the step count.
  void load_state(std::span<const std::span<const T>> buffers, std::int64_t steps_done) {
    IST_CHECK(buffers.size() == 2, "ist::optim::Adam::load_state: expected 2 state buffers (m, v), found ",
              buffers.size());
    load_state(buffers[0], buffers[1], steps_done);
  }

  std::span<T> first_moment() { return m_; }
  std::span<const T> first_moment() const { return m_; }
  std::span<T> second_moment() { return v_; }
  std::span<const T> second_moment() const { return v_; }
  // Number of steps taken since construction or reset_state() (PyTorch's state['step']).
  std::int64_t step_count() const { return step_count_; }

  bool has_state() const { return true; }
  std::size_t num_state_buffers() const { return 2; }
  std::span<T> state_buffer(std::size_t i) {
    IST_CHECK(i < 2, "ist::optim::Adam::state_buffer: expected index < 2, found ", i);
    return i == 0 ? std::span<T>(m_) : std::span<T>(v_);
  }

  std::size_t num_params() const { return num_params_; }
  const AdamConfig& config() const { return config_; }

 private:
  AdamConfig config_;
  std::size_t num_params_;
  std::vector<T> m_;
  std::vector<T> v_;
  std::int64_t step_count_ = 0;
};

static_assert(Optimizer<Adam<float>> && Optimizer<Adam<double>>);
static_assert(OptimizerPolicy<AdamConfig>);

// Adam on the Eigen compute policy: host buffers.
template <>
struct Implementation<AdamConfig, eigen::CpuContext> {
  using type = Adam<float>;
  static type make(eigen::CpuContext&, const AdamConfig& c, const TensorSegments& tensors) { return type(c, total_size(tensors)); }
};

}  // namespace ist::optim
