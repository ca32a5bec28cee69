#pragma once
// The Optimizer concept: what the trainer needs from an optimizer over one flat parameter buffer.
//
// Required members of an optimizer O (T = typename O::value_type, float or double):
//   using value_type = T;
//   std::size_t num_params() const;      number of parameters it was built for (fixed for its lifetime)
//   void step(std::span<T> params, std::span<const T> grads, double lr);
//                                        one update in place; params.size() == grads.size() == num_params(),
//                                        lr >= 0 (the caller's schedule supplies it); never allocates
//   void reset_state();                  forget all history: the next step behaves like the very first one
//   bool has_state() const;              true when the optimizer carries history between steps
//   std::size_t num_state_buffers() const;   how many per-parameter state buffers it carries (0 if none)
//   std::span<T> state_buffer(std::size_t i);   buffer i, num_params() long, element j belongs to
//                                        params[j]; this is what IST carries across rounds or averages
//                                        element-wise across workers. To install state into a fresh
//                                        or reset optimizer use its load_* member (Sgd::load_momentum,
//                                        Adam::load_state), which also marks the state as live
// Shipped: Sgd (sgd.hpp, 0 or 1 buffer: momentum), Adam (adam.hpp, 2 buffers: first and second moment).
#include <concepts>
#include <cstddef>
#include <span>

namespace ist::optim {

template <class O>
concept Optimizer = requires(O& o, const O& co, std::span<typename O::value_type> params,
                             std::span<const typename O::value_type> grads, double lr, std::size_t i) {
  { co.num_params() } -> std::convertible_to<std::size_t>;
  { o.step(params, grads, lr) };
  { o.reset_state() };
  { co.has_state() } -> std::convertible_to<bool>;
  { co.num_state_buffers() } -> std::convertible_to<std::size_t>;
  { o.state_buffer(i) } -> std::same_as<std::span<typename O::value_type>>;
};

namespace detail {
// Minimal archetype: a stateless optimizer that satisfies Optimizer (compile-time check only).
struct OptimizerArchetype {
  using value_type = float;
  std::size_t num_params() const { return 0; }
  void step(std::span<float>, std::span<const float>, double) {}
  void reset_state() {}
  bool has_state() const { return false; }
  std::size_t num_state_buffers() const { return 0; }
  std::span<float> state_buffer(std::size_t) { return {}; }
};
static_assert(Optimizer<OptimizerArchetype>);
}  // namespace detail

}  // namespace ist::optim
