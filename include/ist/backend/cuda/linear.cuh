#pragma once
// Fully connected layer on cuBLAS: y [n, out] = x [n, in] * w^T + b, with w: [out, in], b: [out] (b may be
// null). Same contract as ist/backend/eigen/linear.hpp and the same column-major views:
// X is (in x n), W is (in x out), Y is (out x n).
// Gradient contract: dw and db accumulate (+=); dx is overwritten (pass null to skip it).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/launch.cuh"
#include "ist/core/error.hpp"

namespace ist::cuda {

namespace kernels {

// Y(o, i) += b(o) over Y of `out` rows.
template <class T>
__global__ void add_bias(std::size_t count, int out, const T* b, T* y) {
  for (std::size_t i = detail::global_thread(); i < count; i += detail::grid_threads()) y[i] += b[i % out];
}

// db(o) += sum_i dY(o, i): one thread per output, reading across a warp's outputs (coalesced).
template <class T>
__global__ void bias_grad(int n, int out, const T* dy, T* db) {
  for (std::size_t o = detail::global_thread(); o < std::size_t(out); o += detail::grid_threads()) {
    T sum = 0;
    for (int i = 0; i < n; ++i) sum += dy[std::size_t(i) * out + o];
    db[o] += sum;
  }
}

// y(i, c) = s * y(i, c) + b(c) over rows of `out` values.
template <class T>
__global__ void scale_add_bias(std::size_t count, int out, T s, const T* b, T* y) {
  for (std::size_t i = detail::global_thread(); i < count; i += detail::grid_threads()) y[i] = s * y[i] + b[i % out];
}

}  // namespace kernels

namespace detail {
inline void check_linear(int n, int in, int out, const char* where) {
  IST_CHECK(n > 0 && in > 0 && out > 0, where, ": expected positive sizes, found n=", n, " in=", in, " out=", out);
}
}  // namespace detail

inline void linear_forward(CudaContext& ctx, int n, int in, int out, const float* x, const float* w, const float* b,
                           float* y) {
  detail::check_linear(n, in, out, "ist::cuda::linear_forward");
  const float one = 1.f, zero = 0.f;
  // Y (out x n) = W^T (out x in) * X (in x n)
  IST_CUBLAS_CHECK(cublasSgemm(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, in, x, in, &zero, y, out));
  if (b) {
    const std::size_t count = std::size_t(n) * out;
    kernels::add_bias<<<detail::grid_for(count), detail::block_threads, 0, ctx.stream()>>>(count, out, b, y);
    IST_CUDA_CHECK_LAUNCH("add_bias");
  }
}

inline void linear_backward(CudaContext& ctx, int n, int in, int out, const float* x, const float* w, const float* dy,
                            float* dx, float* dw, float* db) {
  detail::check_linear(n, in, out, "ist::cuda::linear_backward");
  const float one = 1.f, zero = 0.f;
  // dW (in x out) += X (in x n) * dY^T (n x out)
  IST_CUBLAS_CHECK(cublasSgemm(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, in, dy, out, &one, dw, in));
  if (db) {
    kernels::bias_grad<<<detail::grid_for(std::size_t(out)), detail::block_threads, 0, ctx.stream()>>>(n, out, dy, db);
    IST_CUDA_CHECK_LAUNCH("bias_grad");
  }
  // dX (in x n) = W (in x out) * dY (out x n)
  if (dx)
    IST_CUBLAS_CHECK(
        cublasSgemm(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, w, in, dy, out, &zero, dx, in));
}

// y [n, out] = s * y + b, row by row (a bias-free linear_forward's output, then its input scale and bias).
inline void scale_add_bias(CudaContext& ctx, int n, int out, float s, const float* b, float* y) {
  const std::size_t count = std::size_t(n) * std::size_t(out);
  if (count == 0) return;
  kernels::scale_add_bias<<<detail::grid_for(count), detail::block_threads, 0, ctx.stream()>>>(count, out, s, b, y);
  IST_CUDA_CHECK_LAUNCH("scale_add_bias");
}

// db [out] += the sum over the n rows of dy [n, out].
inline void bias_grad_add(CudaContext& ctx, int n, int out, const float* dy, float* db) {
  if (n <= 0 || out <= 0) return;
  kernels::bias_grad<<<detail::grid_for(std::size_t(out)), detail::block_threads, 0, ctx.stream()>>>(n, out, dy, db);
  IST_CUDA_CHECK_LAUNCH("bias_grad");
}

}  // namespace ist::cuda
