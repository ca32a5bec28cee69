#pragma once
// Fully connected layer: y [n, out] = x [n, in] * w^T + b, with w: [out, in], b: [out] (b may be null).
// Gradient contract: dw and db accumulate (+=); dx is overwritten (pass null to skip it).
// The products run through gemm() and the bias gradient through add_column_sums() (gemm.hpp), so the
// results do not depend on where the buffers lie or on Eigen's thread count.
#include <Eigen/Core>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/gemm.hpp"
#include "ist/backend/eigen/packet_loops.hpp"

namespace ist::eigen {

namespace detail {
template <class T>
using MatMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>;
template <class T>
using ConstMatMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>;
}  // namespace detail

// In column-major views: X is (in x n), W is (in x out), Y is (out x n).
template <class T>
void linear_forward(CpuContext&, int n, int in, int out, const T* x, const T* w, const T* b, T* y) {
  gemm(true, false, out, n, in, w, in, x, in, y, out, false);  // Y = W^T X
  if (b) detail::MatMap<T>(y, out, n).colwise() += Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(b, out);
}

template <class T>
void linear_backward(CpuContext&, int n, int in, int out, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db) {
  gemm(false, true, in, out, n, x, in, dy, out, dw, in, true);  // dW += X dY^T
  if (db) add_column_sums(n, out, dy, db);                      // db += the n rows of dy [n, out]
  if (dx) gemm(false, false, in, n, out, w, in, dy, out, dx, in, false);  // dX = W dY
}

// y [n, out] (row i = sample i) = s * y + b, row by row: a linear layer's input scale and bias, applied
// after a bias-free linear_forward (IST's fully connected layers).
template <class T>
void scale_add_bias(CpuContext&, int n, int out, T s, const T* b, T* y) {
  for (int i = 0; i < n; ++i) detail::scale_add(s, b, y + std::size_t(i) * std::size_t(out), std::size_t(out));
}

// db [out] += the sum over the n rows of dy [n, out], sample by sample.
template <class T>
void bias_grad_add(CpuContext&, int n, int out, const T* dy, T* db) {
  for (int i = 0; i < n; ++i) detail::add(dy + std::size_t(i) * std::size_t(out), db, std::size_t(out));
}

}  // namespace ist::eigen
