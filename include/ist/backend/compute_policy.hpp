#pragma once
// The ComputePolicy concept: the tensor storage and ops a backend computes with (ist::eigen::Compute,
// ist::cuda::Compute).
//
// Required members of a policy C, as the engine uses them:
//   using Context = ...;                  one worker's compute resources (threads and scratch, a CUDA stream
//                                         and library handles); the backend's make_context() returns one
//   template <class T> using Buffer = ...;  storage of T in the policy's memory (host vector, device array):
//                                         resize(n), size(), data()
//   static void copy(Context&, std::span<const float> src, std::span<float> dst)
//                                         between two buffers of the policy; returns when done
//   static void upload(Context&, std::span<const float> host, std::span<float> dst)
//                                         from host memory into a buffer of the policy; returns when done
//                                         (the engine evaluates the global model, held on the host, with it)
// Optional:
//   static void download(Context&, std::span<const float> src, std::span<float> host)
//                                         from a buffer of the policy into host memory; returns when done.
//                                         A transfer codec other than float32 encodes a worker's trained
//                                         values on the host: a policy whose Buffer is not a host vector
//                                         needs download for that (DownloadsToHost)
// The networks (ist/layers) call the policy's layer ops as well (conv2d_forward, batch_norm_*,
// linear_forward, softmax_cross_entropy, ...): a policy provides those a network it runs uses; the
// Eigen policy (ist/backend/eigen/compute.hpp) lists them all. Optimizer policies bring their
// implementation for a policy's Context (ist/optim/optimizer.hpp).
#include <concepts>
#include <cstddef>
#include <span>
#include <vector>

namespace ist {

template <class C>
concept ComputePolicy = requires(typename C::Context& ctx, typename C::template Buffer<float>& b,
                                 std::span<const float> src, std::span<float> dst, std::size_t n) {
  typename C::Context;
  b.resize(n);
  { b.size() } -> std::convertible_to<std::size_t>;
  { b.data() } -> std::same_as<float*>;
  C::copy(ctx, src, dst);
  C::upload(ctx, src, dst);
};

// The optional member download (above).
template <class C>
concept DownloadsToHost = requires(typename C::Context& ctx, std::span<const float> src, std::span<float> host) {
  C::download(ctx, src, host);
};

// One static_assert per required member, so a type that misses one gets a single sentence naming it.
template <class C>
consteval bool check_compute_policy() {
  constexpr bool has_context = requires { typename C::Context; };
  constexpr bool has_buffer = requires(typename C::template Buffer<float>& b, std::size_t n) {
    b.resize(n);
    { b.size() } -> std::convertible_to<std::size_t>;
    { b.data() } -> std::same_as<float*>;
  };
  constexpr bool has_copy = [] {
    if constexpr (has_context)
      return requires(typename C::Context& ctx, std::span<const float> s, std::span<float> d) { C::copy(ctx, s, d); };
    else
      return false;
  }();
  static_assert(has_context, "ist::ComputePolicy: missing member type `Context` (one worker's compute resources)");
  static_assert(has_buffer, "ist::ComputePolicy: missing member template `Buffer<T>` with resize(n), size(), data()");
  constexpr bool has_upload = [] {
    if constexpr (has_context)
      return requires(typename C::Context& ctx, std::span<const float> s, std::span<float> d) { C::upload(ctx, s, d); };
    else
      return false;
  }();
  static_assert(!has_context || has_copy, "ist::ComputePolicy: missing member "
                                          "`static void copy(Context&, std::span<const float>, std::span<float>)`");
  static_assert(!has_context || has_upload, "ist::ComputePolicy: missing member "
                                            "`static void upload(Context&, std::span<const float>, std::span<float>)`");
  return has_context && has_buffer && has_copy && has_upload;
}

namespace archetypes {
// The smallest ComputePolicy: host vectors and a context with nothing in it.
struct ComputePolicyArchetype {
  struct Context {};
  template <class T>
  using Buffer = std::vector<T>;
  static void copy(Context&, std::span<const float> src, std::span<float> dst) {
    for (std::size_t i = 0; i < src.size() && i < dst.size(); ++i) dst[i] = src[i];
  }
  static void upload(Context& ctx, std::span<const float> host, std::span<float> dst) { copy(ctx, host, dst); }
};
static_assert(ComputePolicy<ComputePolicyArchetype>);
}  // namespace archetypes

}  // namespace ist
