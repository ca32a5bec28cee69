#pragma once
// Optimizers as policies of the training engine, in two concepts:
//
// OptimizerPolicy: what a user picks and the engine holds, a config with a name. P is a policy when
//   static constexpr std::string_view name;   "sgd", "adam", "novograd": the --optimizer value, and the
//                                              name checkpoints record
//   double lr;                                 base learning rate (schedules scale it)
//   double weight_decay;                       L2 strength (the engine may apply it itself, see GraphBatches)
//   std::vector<std::string> state_names() const
//       the per-parameter state buffers one worker's optimizer carries, in state_buffer order, e.g.
//       {"momentum"} or {"exp_avg", "exp_avg_sq"}. Element j of each belongs to parameter j, so the engine
//       slices, sends, merges and checkpoints them like the parameters, without knowing the optimizer.
//   nlohmann::ordered_json hyperparameters() const
//       the config as a JSON object, e.g. {"lr": 0.1, "momentum": 0.9, ...}: checkpoints store it, the
//       programs print it
//   void validate(const P&, const char* where) found by ADL: throws ist::Error naming `where`
//   ist::optim::Implementation<P, Context>     one specialization per compute context (below)
//
// Optimizer: one worker's optimizer over one flat buffer (host memory for Eigen, device for CUDA).
//   using value_type = T;
//   std::size_t num_params() const;
//   void step(std::span<T> params, std::span<const T> grads, double lr);   one update in place, never
//                                              allocates; sizes == num_params(), lr >= 0
//   std::size_t num_state_buffers() const;     == policy.state_names().size()
//   std::span<T> state_buffer(std::size_t i);  buffer i, num_params() long
//   void load_state(std::span<const std::span<const T>> buffers, std::int64_t steps_done);
//       installs carried or averaged buffers (num_state_buffers() of them) as live state, as if
//       steps_done steps had been taken: the next step is a "later" step (momentum: buf = mu*buf + g)
//   void reset_state();                        the next step is a first step again
//
// Implementation<P, Context> has `using type` (an Optimizer over float) and
//   static type make(Context& ctx, const P& policy, const TensorSegments& tensors);
// `tensors` are the model's tensors as they lie in the worker's compact buffer (a layer-wise optimizer
// such as NovoGrad keeps one value per tensor). Shipped: sgd.hpp, adam.hpp, novograd.hpp (Eigen) and
// ist/backend/cuda/{sgd,adam,novograd}.cuh (CUDA).
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ist::eigen {
class CpuContext;
}

namespace ist::optim {

// Where one tensor of the model lies in a (compact) parameter buffer.
struct TensorSegment {
  std::size_t offset = 0, size = 0;
};
using TensorSegments = std::vector<TensorSegment>;

// One segment covering a whole buffer of n values (a buffer that is one tensor).
inline TensorSegments whole_buffer(std::size_t n) { return {TensorSegment{0, n}}; }
// The length of the buffer the segments tile.
inline std::size_t total_size(const TensorSegments& tensors) {
  std::size_t n = 0;
  for (const auto& t : tensors) n += t.size;
  return n;
}

template <class P, class Context>
struct Implementation;  // specialized by each optimizer for each compute context

template <class O>
concept Optimizer = requires(O& o, const O& co, std::span<typename O::value_type> params,
                             std::span<const typename O::value_type> grads, double lr, std::size_t i,
                             std::span<const std::span<const typename O::value_type>> buffers, std::int64_t steps) {
  { co.num_params() } -> std::convertible_to<std::size_t>;
  { o.step(params, grads, lr) };
  { o.reset_state() };
  { co.num_state_buffers() } -> std::convertible_to<std::size_t>;
  { o.state_buffer(i) } -> std::same_as<std::span<typename O::value_type>>;
  { o.load_state(buffers, steps) };
};

template <class P>
concept OptimizerPolicy = requires(const P& p, const char* where) {
  { P::name } -> std::convertible_to<std::string_view>;
  { p.lr } -> std::convertible_to<double>;
  { p.weight_decay } -> std::convertible_to<double>;
  { p.state_names() } -> std::same_as<std::vector<std::string>>;
  { p.hyperparameters() } -> std::convertible_to<nlohmann::ordered_json>;
  validate(p, where);
};

// One short error per missing member, for a user's policy type (ensmallen's static checks).
template <class P>
consteval bool check_optimizer_policy() {
  constexpr bool has_name = requires { { P::name } -> std::convertible_to<std::string_view>; };
  constexpr bool has_lr = requires(const P& p) { { p.lr } -> std::convertible_to<double>; };
  constexpr bool has_wd = requires(const P& p) { { p.weight_decay } -> std::convertible_to<double>; };
  constexpr bool has_state = requires(const P& p) { { p.state_names() } -> std::same_as<std::vector<std::string>>; };
  constexpr bool has_hyper = requires(const P& p) { { p.hyperparameters() } -> std::convertible_to<nlohmann::ordered_json>; };
  constexpr bool has_validate = requires(const P& p, const char* w) { validate(p, w); };
  static_assert(has_name, "ist::OptimizerPolicy: missing member `static constexpr std::string_view name`");
  static_assert(has_lr, "ist::OptimizerPolicy: missing member `double lr` (the base learning rate)");
  static_assert(has_wd, "ist::OptimizerPolicy: missing member `double weight_decay`");
  static_assert(has_state, "ist::OptimizerPolicy: missing member `std::vector<std::string> state_names() const`");
  static_assert(has_hyper, "ist::OptimizerPolicy: missing member `nlohmann::ordered_json hyperparameters() const`");
  static_assert(has_validate, "ist::OptimizerPolicy: missing free function `void validate(const P&, const char*)`");
  return has_name && has_lr && has_wd && has_state && has_hyper && has_validate;
}

namespace detail {
// Minimal archetypes (compile-time checks only): a stateless optimizer and its policy.
struct OptimizerArchetype {
  using value_type = float;
  std::size_t num_params() const { return 0; }
  void step(std::span<float>, std::span<const float>, double) {}
  void reset_state() {}
  std::size_t num_state_buffers() const { return 0; }
  std::span<float> state_buffer(std::size_t) { return {}; }
  void load_state(std::span<const std::span<const float>>, std::int64_t) {}
};
static_assert(Optimizer<OptimizerArchetype>);

struct OptimizerPolicyArchetype {
  static constexpr std::string_view name = "archetype";
  double lr = 0, weight_decay = 0;
  std::vector<std::string> state_names() const { return {}; }
  nlohmann::ordered_json hyperparameters() const { return {{"lr", lr}, {"weight_decay", weight_decay}}; }
};
inline void validate(const OptimizerPolicyArchetype&, const char*) {}
static_assert(OptimizerPolicy<OptimizerPolicyArchetype>);
}  // namespace detail

}  // namespace ist::optim
