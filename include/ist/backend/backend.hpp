#pragma once
// The Backend concept: a compute policy (tensor storage and layer ops) bundled with a communicator.
//
// Required members (b is a B&):
//   typename B::Compute           the compute policy networks run on (ist::eigen::Compute, ...)
//   b.comm()                      a Communicator (see ist/comm/communicator.hpp)
//   b.make_context()              a fresh B::Compute::Context for one worker
//   int b.threads_per_worker() const
#include <concepts>

#include "ist/comm/communicator.hpp"

namespace ist {

template <class B>
concept Backend = requires(B& b, const B& cb) {
  typename B::Compute;
  { b.comm() } -> Communicator;
  { cb.make_context() } -> std::same_as<typename B::Compute::Context>;
  { cb.threads_per_worker() } -> std::same_as<int>;
};

template <class B>
consteval bool check_backend() {
  constexpr bool has_compute = requires { typename B::Compute; };
  constexpr bool has_comm = requires(B& b) {
    { b.comm() } -> Communicator;
  };
  constexpr bool has_context = requires(const B& b) { b.make_context(); };
  constexpr bool has_threads = requires(const B& b) {
    { b.threads_per_worker() } -> std::same_as<int>;
  };
  static_assert(has_compute, "ist::Backend: missing member type `Compute` (the compute policy, e.g. ist::eigen::Compute)");
  static_assert(has_comm, "ist::Backend: missing member `comm()` returning a Communicator&");
  static_assert(has_context, "ist::Backend: missing member `make_context() const` returning a Compute::Context");
  static_assert(has_threads, "ist::Backend: missing member `int threads_per_worker() const`");
  return has_compute && has_comm && has_context && has_threads;
}

}  // namespace ist
