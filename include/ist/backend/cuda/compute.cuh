#pragma once
// The CUDA compute policy: device storage and layer ops with the members of ist::eigen::Compute, so a
// network template runs on the GPU unchanged:
//
//   ist::cuda::CudaContext ctx;                                   // device 0
//   ist::ResNetNetwork<Net, float, ist::cuda::Compute> net(ctx);
//   net.configure(128, 28, 28);
//   const float* logits = net.forward(params, layout, x);         // params, x: device pointers
//   auto loss = ist::cuda::Compute::softmax_cross_entropy(ctx, 128, Net::num_classes, logits, labels,
//                                                         net.dlogits());   // labels: device int32
//   net.backward(params, grads, layout);                          // grads += dL/dparams (device)
//
// Every pointer is device memory. Ops are asynchronous on ctx.stream(); softmax_cross_entropy returns
// the loss to the host and so synchronizes. Float only: convolutions and batch norm on cuDNN, the linear
// layer on cuBLAS, the rest in the kernels of this folder.
// Differences from ist::eigen::Compute: softmax_cross_entropy takes the context first, and labels on the
// device; the graph networks' sparse operands are device copies of the host's matrices (SparseOperand), and
// spmm_rows multiplies whole matrices only (sparse_row_blocks = false).
#include <Eigen/SparseCore>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>

#include "ist/backend/cuda/batch_norm.cuh"
#include "ist/backend/cuda/conv2d.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/device_buffer.cuh"
#include "ist/backend/cuda/elementwise.cuh"
#include "ist/backend/cuda/graph_ops.cuh"
#include "ist/backend/cuda/linear.cuh"
#include "ist/backend/cuda/pooling.cuh"
#include "ist/backend/cuda/softmax_cross_entropy.cuh"
#include "ist/backend/cuda/sparse_matmul.cuh"
#include "ist/core/error.hpp"
#include "ist/core/shape.hpp"

namespace ist::cuda {

struct Compute {
  using Context = CudaContext;
  template <class T>
  using Buffer = DeviceBuffer<T>;

  static void conv2d_forward(CudaContext& ctx, const ConvShape& s, const float* x, const float* w, float* y) {
    cuda::conv2d_forward(ctx, s, x, w, y);
  }
  static void conv2d_backward(CudaContext& ctx, const ConvShape& s, const float* x, const float* w, const float* dy,
                              float* dx, float* dw, bool accumulate_dx = false) {
    cuda::conv2d_backward(ctx, s, x, w, dy, dx, dw, accumulate_dx);
  }
  static void batch_norm_forward_train(CudaContext& ctx, const BatchNormShape& s, const float* x, const float* gamma,
                                       const float* beta, float* y, float* save_mean, float* save_invstd, bool relu,
                                       float eps = 1e-5f, RunningStats<float> running = {}) {
    cuda::batch_norm_forward_train(ctx, s, x, gamma, beta, y, save_mean, save_invstd, relu, eps, running);
  }
  static void batch_norm_forward_infer(CudaContext& ctx, const BatchNormShape& s, const float* x, const float* gamma,
                                       const float* beta, const float* mean, const float* var, float* y, bool relu,
                                       float eps = 1e-5f) {
    cuda::batch_norm_forward_infer(ctx, s, x, gamma, beta, mean, var, y, relu, eps);
  }
  static void batch_norm_backward(CudaContext& ctx, const BatchNormShape& s, const float* x, const float* y,
                                  const float* dy, const float* gamma, const float* save_mean,
                                  const float* save_invstd, float* dx, float* dgamma, float* dbeta, bool relu) {
    cuda::batch_norm_backward(ctx, s, x, y, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta, relu);
  }
  // Batch norm of fully connected activations [n, c] (per feature over the batch): cuDNN's spatial batch
  // norm of an n x c x 1 x 1 tensor, the same statistics and contracts as eigen::batch_norm_1d_*.
  static void batch_norm_1d_forward_train(CudaContext& ctx, int n, int c, const float* x, const float* gamma,
                                          const float* beta, float* y, float* save_mean, float* save_invstd, bool relu,
                                          float eps = 1e-5f) {
    cuda::batch_norm_forward_train(ctx, BatchNormShape{n, c, 1}, x, gamma, beta, y, save_mean, save_invstd, relu, eps);
  }
  static void batch_norm_1d_backward(CudaContext& ctx, int n, int c, const float* x, const float* y, const float* dy,
                                     const float* gamma, const float* mean, const float* invstd, float* dx,
                                     float* dgamma, float* dbeta, bool relu) {
    cuda::batch_norm_backward(ctx, BatchNormShape{n, c, 1}, x, y, dy, gamma, mean, invstd, dx, dgamma, dbeta, relu);
  }
  static void scale_add_bias(CudaContext& ctx, int n, int out, float s, const float* b, float* y) {
    cuda::scale_add_bias(ctx, n, out, s, b, y);
  }
  static void bias_grad_add(CudaContext& ctx, int n, int out, const float* dy, float* db) {
    cuda::bias_grad_add(ctx, n, out, dy, db);
  }
  static void residual_add(CudaContext& ctx, std::size_t count, float scale, const float* shortcut, float* out) {
    cuda::residual_add(ctx, count, scale, shortcut, out);
  }
  static void scale_copy(CudaContext& ctx, std::size_t count, float scale, const float* x, float* y) {
    cuda::scale_copy(ctx, count, scale, x, y);
  }
  static void add_to(CudaContext& ctx, std::size_t count, const float* x, float* y) { cuda::add_to(ctx, count, x, y); }
  static void global_avg_pool_forward(CudaContext& ctx, int n, int c, int hw, const float* x, float* y) {
    cuda::global_avg_pool_forward(ctx, n, c, hw, x, y);
  }
  static void global_avg_pool_backward(CudaContext& ctx, int n, int c, int hw, const float* dy, float* dx) {
    cuda::global_avg_pool_backward(ctx, n, c, hw, dy, dx);
  }
  static void linear_forward(CudaContext& ctx, int n, int in, int out, const float* x, const float* w, const float* b,
                             float* y) {
    cuda::linear_forward(ctx, n, in, out, x, w, b, y);
  }
  static void linear_backward(CudaContext& ctx, int n, int in, int out, const float* x, const float* w,
                              const float* dy, float* dx, float* dw, float* db) {
    cuda::linear_backward(ctx, n, in, out, x, w, dy, dx, dw, db);
  }
  static LossResult softmax_cross_entropy(CudaContext& ctx, int n, int classes, const float* logits,
                                          const std::int32_t* labels, float* dlogits) {
    return cuda::softmax_cross_entropy(ctx, n, classes, logits, labels, dlogits);
  }

  // The graph networks' ops (SageNetwork, GcnNetwork), the members of the same names in ist::eigen::Compute:
  // cuSPARSE products (sparse_matmul.cuh), dropout with the Eigen masks, layer norm and the layout steps
  // (graph_ops.cuh), ReLU and scale (elementwise.cuh).
  //
  // Sparse<T>: a device CSR matrix and its transpose (CsrMatrix; float only).
  // SparseOperand<T>: a host matrix (Eigen, compressed row-major) as the operand of the sparse products:
  // bind(ctx, host) uploads it unless it is the matrix uploaded last (the same object, arrays and sizes: a
  // matrix changed in place keeps them, so forget() first), get() is the device matrix, values() and nnz() its
  // nonzeros on the device, forget() frees the device copy.
  template <class T>
  using Sparse = CsrMatrix;
  template <class T>
  class SparseOperand {
    static_assert(std::is_same_v<T, float>, "ist::cuda::Compute::SparseOperand: float only");

   public:
    using Host = Eigen::SparseMatrix<float, Eigen::RowMajor, int>;
    void bind(CudaContext& ctx, const Host& host) {
      IST_CHECK(host.isCompressed(),
                "ist::cuda::Compute::SparseOperand::bind: expected a compressed sparse matrix (call makeCompressed())");
      const Key key{&host, host.outerIndexPtr(), host.innerIndexPtr(), host.valuePtr(), host.nonZeros(), host.rows(),
                    host.cols()};
      if (m_ && key == key_) return;
      const std::size_t rows = std::size_t(host.rows()), nnz = std::size_t(host.nonZeros());
      m_.reset();
      m_ = std::make_unique<CsrMatrix>(ctx, int(host.rows()), int(host.cols()),
                                       std::span<const int>(host.outerIndexPtr(), rows + 1),
                                       std::span<const int>(host.innerIndexPtr(), nnz),
                                       std::span<const float>(host.valuePtr(), nnz));
      key_ = key;
    }
    void forget() {
      m_.reset();
      key_ = Key{};
    }
    CsrMatrix& get() const {
      IST_CHECK(m_, "ist::cuda::Compute::SparseOperand: no matrix bound");
      return *m_;
    }
    const float* values() const { return get().values(); }
    std::size_t nnz() const { return get().nnz(); }

   private:
    struct Key {
      const Host* host = nullptr;
      const int* outer = nullptr;
      const int* inner = nullptr;
      const float* values = nullptr;
      Eigen::Index nnz = -1, rows = -1, cols = -1;
      bool operator==(const Key&) const = default;
    };
    std::unique_ptr<CsrMatrix> m_;
    Key key_;
  };
  static constexpr bool sparse_row_blocks = false;

  static void spmm(CudaContext& ctx, CsrMatrix& a, const float* b, int n, float* y, const float* values = nullptr) {
    cuda::spmm(ctx, a, b, n, y, values);
  }
  // Rows [first, first + count) of a times b: the whole matrix only (first = 0, count = a.rows()).
  static void spmm_rows(CudaContext& ctx, CsrMatrix& a, std::ptrdiff_t first, std::ptrdiff_t count, const float* b,
                        int n, float* y, const float* values = nullptr) {
    IST_CHECK(first == 0 && count == a.rows(), "ist::cuda::Compute::spmm_rows: expected all ", a.rows(),
              " rows (the CUDA policy multiplies whole matrices), found rows [", first, ", ", first + count, ")");
    cuda::spmm(ctx, a, b, n, y, values);
  }
  static void spmm_transposed_add(CudaContext& ctx, CsrMatrix& a, const float* b, int n, float* y,
                                  const float* values = nullptr) {
    cuda::spmm_transposed_add(ctx, a, b, n, y, values);
  }
  static void dropout_forward(CudaContext& ctx, std::size_t count, double p, std::uint64_t seed, const float* x,
                              float* y, float* mask) {
    cuda::dropout_forward(ctx, count, p, seed, x, y, mask);
  }
  static void dropout_backward(CudaContext& ctx, std::size_t count, const float* mask, const float* dy, float* dx) {
    cuda::dropout_backward(ctx, count, mask, dy, dx);
  }
  static void layer_norm_forward(CudaContext& ctx, std::size_t rows, std::size_t cols, const float* x, float* y,
                                 float* save_mean, float* save_invstd, float eps = 1e-5f) {
    cuda::layer_norm_forward(ctx, rows, cols, x, y, save_mean, save_invstd, eps);
  }
  static void layer_norm_backward(CudaContext& ctx, std::size_t rows, std::size_t cols, const float* y,
                                  const float* dy, const float* invstd, float* dx) {
    cuda::layer_norm_backward(ctx, rows, cols, y, dy, invstd, dx);
  }
  static void concat_rows(CudaContext& ctx, std::size_t n, std::size_t a_cols, const float* a, std::size_t b_cols,
                          const float* b, float* out) {
    cuda::concat_rows(ctx, n, a_cols, a, b_cols, b, out);
  }
  static void split_rows(CudaContext& ctx, std::size_t n, std::size_t a_cols, std::size_t b_cols, const float* in,
                         float* a, float* b) {
    cuda::split_rows(ctx, n, a_cols, b_cols, in, a, b);
  }
  static void transpose(CudaContext& ctx, int rows, int cols, const float* src, float* dst) {
    cuda::transpose(ctx, rows, cols, src, dst);
  }
  static void transpose_add(CudaContext& ctx, int rows, int cols, const float* src, float* dst) {
    cuda::transpose_add(ctx, rows, cols, src, dst);
  }
  static void fill_zero(CudaContext& ctx, std::size_t count, float* p) { cuda::fill_zero(ctx, count, p); }
  static void relu(CudaContext& ctx, std::size_t count, const float* x, float* y) {
    cuda::relu_forward(ctx, count, x, y);
  }
  static void relu_mask(CudaContext& ctx, std::size_t count, const float* y, const float* dy, float* dx) {
    cuda::relu_backward(ctx, count, y, dy, dx);
  }
  static void scale(CudaContext& ctx, std::size_t count, float s, const float* x, float* y) {
    cuda::scale_copy(ctx, count, s, x, y);
  }

  // A device-to-device copy that returns when done (the Eigen policy has the same member). Optimizers are
  // policies of their own (ist/optim/optimizer.hpp; their CUDA implementations in sgd.cuh, adam.cuh, ...).
  // Returns when done, like the host copy: a communicator may read dst next.
  static void copy(CudaContext& ctx, std::span<const float> src, std::span<float> dst) {
    copy_and_wait(ctx, src, dst, cudaMemcpyDeviceToDevice, "copy");
  }
  // Host memory into device memory; returns when done (the host memory may be reused at once).
  static void upload(CudaContext& ctx, std::span<const float> host, std::span<float> dst) {
    copy_and_wait(ctx, host, dst, cudaMemcpyHostToDevice, "upload");
  }
  // Device memory into host memory; returns when done (a transfer codec encodes a worker's values on the host).
  static void download(CudaContext& ctx, std::span<const float> src, std::span<float> host) {
    copy_and_wait(ctx, src, host, cudaMemcpyDeviceToHost, "download");
  }

 private:
  static void copy_and_wait(CudaContext& ctx, std::span<const float> src, std::span<float> dst, cudaMemcpyKind kind,
                            const char* what) {
    IST_CHECK(src.size() == dst.size(), "ist::cuda::Compute::", what, ": expected equal sizes, found ", src.size(),
              " and ", dst.size());
    if (src.empty()) return;
    IST_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.size_bytes(), kind, ctx.stream()));
    ctx.synchronize();
  }
};

}  // namespace ist::cuda
