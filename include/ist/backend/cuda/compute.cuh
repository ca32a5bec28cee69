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
// device.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ist/backend/cuda/batch_norm.cuh"
#include "ist/backend/cuda/conv2d.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/device_buffer.cuh"
#include "ist/backend/cuda/elementwise.cuh"
#include "ist/backend/cuda/linear.cuh"
#include "ist/backend/cuda/pooling.cuh"
#include "ist/backend/cuda/softmax_cross_entropy.cuh"
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
