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
#include "ist/backend/eigen/dropout.hpp"
#include "ist/backend/eigen/elementwise.hpp"
#include "ist/backend/eigen/graph_ops.hpp"
#include "ist/backend/eigen/layer_norm.hpp"
#include "ist/backend/eigen/linear.hpp"
#include "ist/backend/eigen/packet_loops.hpp"
#include "ist/backend/eigen/pooling.hpp"
#include "ist/backend/eigen/softmax_cross_entropy.hpp"
#include "ist/backend/eigen/sparse_matmul.hpp"
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

  // The graph networks' ops (SageNetwork, GcnNetwork; the CUDA policy has the same members), each the call
  // those networks make on the CPU: the sparse products (sparse_matmul.hpp), dropout, the non-affine layer norm,
  // the layout steps (graph_ops.hpp), and ReLU, its backward and a scale on one thread (eigen::relu_forward and
  // scale_copy above split over ctx's threads).
  //
  // Sparse<T>: the policy's sparse matrix, here the host's compressed row-major Eigen matrix itself.
  // SparseOperand<T>: a host matrix as the operand of spmm / spmm_transposed_add; bind(ctx, host) makes `host`
  // the operand (here: remembers where it is; the CUDA policy uploads it unless it is the one uploaded last),
  // get() is the matrix, values() and nnz() its nonzeros in the policy's memory, forget() drops it.
  // sparse_row_blocks: whether spmm_rows takes any block of rows (the CUDA policy's takes the whole matrix).
  template <class T>
  using Sparse = SparseRowMatrix<T>;
  template <class T>
  class SparseOperand {
   public:
    void bind(CpuContext&, const Sparse<T>& host) { m_ = &host; }
    void forget() { m_ = nullptr; }
    const Sparse<T>& get() const {
      IST_CHECK(m_, "ist::eigen::Compute::SparseOperand: no matrix bound");
      return *m_;
    }
    const T* values() const { return get().valuePtr(); }
    std::size_t nnz() const { return std::size_t(get().nonZeros()); }

   private:
    const Sparse<T>* m_ = nullptr;
  };
  static constexpr bool sparse_row_blocks = true;

  template <class... A> static void spmm(A&&... a) { eigen::spmm(std::forward<A>(a)...); }
  template <class... A> static void spmm_rows(A&&... a) { eigen::spmm_rows(std::forward<A>(a)...); }
  template <class... A> static void spmm_transposed_add(A&&... a) { eigen::spmm_transposed_add(std::forward<A>(a)...); }
  template <class... A> static void dropout_forward(A&&... a) { eigen::dropout_forward(std::forward<A>(a)...); }
  template <class... A> static void dropout_backward(A&&... a) { eigen::dropout_backward(std::forward<A>(a)...); }
  template <class... A> static void layer_norm_forward(A&&... a) { eigen::layer_norm_forward(std::forward<A>(a)...); }
  template <class... A> static void layer_norm_backward(A&&... a) { eigen::layer_norm_backward(std::forward<A>(a)...); }
  template <class... A> static void concat_rows(A&&... a) { eigen::concat_rows(std::forward<A>(a)...); }
  template <class... A> static void split_rows(A&&... a) { eigen::split_rows(std::forward<A>(a)...); }
  template <class... A> static void transpose(A&&... a) { eigen::transpose(std::forward<A>(a)...); }
  template <class... A> static void transpose_add(A&&... a) { eigen::transpose_add(std::forward<A>(a)...); }
  template <class... A> static void fill_zero(A&&... a) { eigen::fill_zero(std::forward<A>(a)...); }
  // y = max(x, 0) (y may alias x); dx = dy where y > 0, else 0 (dx may alias dy); y = s x (y may alias x).
  template <class T>
  static void relu(CpuContext&, std::size_t count, const T* x, T* y) { detail::relu(x, y, count); }
  template <class T>
  static void relu_mask(CpuContext&, std::size_t count, const T* y, const T* dy, T* dx) {
    detail::relu_mask(y, dy, dx, count);
  }
  template <class T>
  static void scale(CpuContext&, std::size_t count, T s, const T* x, T* y) { detail::scale(s, x, y, count); }

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
