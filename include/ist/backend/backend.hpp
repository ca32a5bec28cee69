#pragma once
// The Backend concept: a compute policy (tensor storage and layer ops) bundled with a communicator.
//
// Required members (b is a B&):
//   typename B::Compute           the compute policy networks run on (ist::eigen::Compute, ...)
//   b.comm()                      a Communicator (see ist/comm/communicator.hpp)
//   b.make_context()              a fresh B::Compute::Context for one worker
//   int b.threads_per_worker() const
#include <concepts>
#include <type_traits>
#include <utility>

#include "ist/backend/compute_policy.hpp"
#include "ist/comm/communicator.hpp"

namespace ist {

template <class B>
concept Backend = requires(B& b, const B& cb) {
  typename B::Compute;
  requires ComputePolicy<typename B::Compute>;
  { b.comm() } -> Communicator;
  { cb.make_context() } -> std::same_as<typename B::Compute::Context>;
  { cb.threads_per_worker() } -> std::same_as<int>;
};

// One static_assert per requirement of the concept above, so a type that misses one gets a single sentence
// naming it (and the compute policy and communicator are checked member by member too).
template <class B>
consteval bool check_backend() {
  constexpr bool has_compute = requires { typename B::Compute; };
  constexpr bool compute_ok = [] {
    if constexpr (has_compute) return check_compute_policy<typename B::Compute>();
    else return false;
  }();
  constexpr bool has_comm = requires(B& b) { b.comm(); };
  constexpr bool comm_ok = [] {
    if constexpr (has_comm) return check_communicator<std::remove_cvref_t<decltype(std::declval<B&>().comm())>>();
    else return false;
  }();
  constexpr bool has_context = [] {
    if constexpr (has_compute)
      return requires(const B& b) { { b.make_context() } -> std::same_as<typename B::Compute::Context>; };
    else
      return false;
  }();
  constexpr bool context_not_const = [] {
    if constexpr (has_compute && !has_context)
      return requires(B& b) { { b.make_context() } -> std::same_as<typename B::Compute::Context>; };
    else
      return false;
  }();
  constexpr bool has_threads = requires(const B& b) {
    { b.threads_per_worker() } -> std::same_as<int>;
  };
  constexpr bool threads_not_const = !has_threads && requires(B& b) {
    { b.threads_per_worker() } -> std::same_as<int>;
  };
  static_assert(has_compute, "ist::Backend: missing member type `Compute` (the compute policy, e.g. ist::eigen::Compute)");
  static_assert(has_comm, "ist::Backend: missing member `comm()` returning a Communicator&");
  static_assert(!has_compute || has_context || context_not_const,
                "ist::Backend: missing member `make_context() const` returning a Compute::Context");
  static_assert(!context_not_const, "ist::Backend: member `make_context` is not const: declare it "
                                    "`Compute::Context make_context() const`");
  static_assert(has_threads || threads_not_const, "ist::Backend: missing member `int threads_per_worker() const`");
  static_assert(!threads_not_const,
                "ist::Backend: member `threads_per_worker` is not const: declare it `int threads_per_worker() const`");
  constexpr bool ok = has_compute && compute_ok && has_comm && comm_ok && has_context && has_threads;
  static_assert(!ok || Backend<B>, "ist::Backend: check_backend and the Backend concept disagree (a bug in ist)");
  return ok;
}

}  // namespace ist
