#pragma once
// The Eigen CPU compute policy: the tensor storage and layer ops that networks are written against.
// A network template calls Compute::conv2d_forward(ctx, ...) etc.; a GPU compute policy provides the
// same members over device memory.
#include <algorithm>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "ist/backend/eigen/batch_norm.hpp"
#include "ist/backend/eigen/batch_norm_1d.hpp"
#include "ist/backend/eigen/conv2d.hpp"
#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/elementwise.hpp"
#include "ist/backend/eigen/linear.hpp"
#include "ist/backend/eigen/pooling.hpp"
#include "ist/backend/eigen/softmax_cross_entropy.hpp"
#include "ist/core/error.hpp"

namespace ist::eigen {

struct Compute {
  using Context = CpuContext;
  template <class T>
  using Buffer = std::vector<T>;

  template <class... A> static void conv2d_forward(A&&... a) { eigen::conv2d_forward(std::forward<A>(a)...); }
  template <class... A> static void conv2d_backward(A&&... a) { eigen::conv2d_backward(std::forward<A>(a)...); }
  template <class... A> static void batch_norm_forward_train(A&&... a) { eigen::batch_norm_forward_train(std::forward<A>(a)...); }
  template <class... A> static void batch_norm_forward_infer(A&&... a) { eigen::batch_norm_forward_infer(std::forward<A>(a)...); }
  template <class... A> static void batch_norm_backward(A&&... a) { eigen::batch_norm_backward(std::forward<A>(a)...); }
  template <class... A> static void batch_norm_1d_forward_train(A&&... a) { eigen::batch_norm_1d_forward_train(std::forward<A>(a)...); }
  template <class... A> static void batch_norm_1d_backward(A&&... a) { eigen::batch_norm_1d_backward(std::forward<A>(a)...); }
  template <class... A> static void scale_add_bias(A&&... a) { eigen::scale_add_bias(std::forward<A>(a)...); }
  template <class... A> static void bias_grad_add(A&&... a) { eigen::bias_grad_add(std::forward<A>(a)...); }
  template <class... A> static void residual_add(A&&... a) { eigen::residual_add(std::forward<A>(a)...); }
  template <class... A> static void scale_copy(A&&... a) { eigen::scale_copy(std::forward<A>(a)...); }
  template <class... A> static void add_to(A&&... a) { eigen::add_to(std::forward<A>(a)...); }
  template <class... A> static void global_avg_pool_forward(A&&... a) { eigen::global_avg_pool_forward(std::forward<A>(a)...); }
  template <class... A> static void global_avg_pool_backward(A&&... a) { eigen::global_avg_pool_backward(std::forward<A>(a)...); }
  template <class... A> static void linear_forward(A&&... a) { eigen::linear_forward(std::forward<A>(a)...); }
  template <class... A> static void linear_backward(A&&... a) { eigen::linear_backward(std::forward<A>(a)...); }
  template <class... A> static LossResult softmax_cross_entropy(A&&... a) { return eigen::softmax_cross_entropy(std::forward<A>(a)...); }

  // A copy between two buffers of this policy (the engine copies a worker's optimizer state with it; the GPU
  // policy provides the same member). Optimizers are policies of their own (ist/optim/optimizer.hpp).
  static void copy(CpuContext&, std::span<const float> src, std::span<float> dst) {
    IST_CHECK(src.size() == dst.size(), "ist::eigen::Compute::copy: expected equal sizes, found ", src.size(), " and ",
              dst.size());
    std::copy(src.begin(), src.end(), dst.begin());
  }
  // Host memory into a buffer of this policy: the same copy (the GPU policy uploads).
  static void upload(CpuContext& ctx, std::span<const float> host, std::span<float> dst) { copy(ctx, host, dst); }
};

}  // namespace ist::eigen
