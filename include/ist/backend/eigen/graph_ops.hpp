#pragma once
// The graph networks' (SageNetwork, GcnNetwork) layout steps on the CPU: row concatenation [a ‖ b] and its
// inverse, a matrix transposed into (or added to) another, and zeroing. The Eigen counterparts of
// ist/backend/cuda/graph_ops.cuh's ops of the same names, with the same shapes; plain loops on one thread
// (copies, and one add per element, so the values do not depend on the order).
// Shapes: row-major; every pointer covers the elements its shape says. No op may write over its input.
#include <algorithm>
#include <cstddef>

#include "ist/backend/eigen/cpu_context.hpp"

namespace ist::eigen {

// out [n, a_cols + b_cols]: row i = [a_i ‖ b_i], a [n, a_cols], b [n, b_cols].
template <class T>
void concat_rows(CpuContext&, std::size_t n, std::size_t a_cols, const T* a, std::size_t b_cols, const T* b,
                 T* out) {
  const std::size_t w = a_cols + b_cols;
  for (std::size_t i = 0; i < n; ++i) {
    std::copy(a + i * a_cols, a + (i + 1) * a_cols, out + i * w);
    std::copy(b + i * b_cols, b + (i + 1) * b_cols, out + i * w + a_cols);
  }
}

// The inverse of concat_rows: a_i = the first a_cols values of row i of in [n, a_cols + b_cols], b_i the rest.
template <class T>
void split_rows(CpuContext&, std::size_t n, std::size_t a_cols, std::size_t b_cols, const T* in, T* a, T* b) {
  const std::size_t w = a_cols + b_cols;
  for (std::size_t i = 0; i < n; ++i) {
    std::copy(in + i * w, in + i * w + a_cols, a + i * a_cols);
    std::copy(in + i * w + a_cols, in + (i + 1) * w, b + i * b_cols);
  }
}

// dst [cols, rows] = src^T for src [rows, cols].
template <class T>
void transpose(CpuContext&, int rows, int cols, const T* src, T* dst) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) dst[std::size_t(c) * rows + r] = src[std::size_t(r) * cols + c];
}

// dst [cols, rows] += src^T for src [rows, cols] (a row of dst at a time).
template <class T>
void transpose_add(CpuContext&, int rows, int cols, const T* src, T* dst) {
  for (int r = 0; r < cols; ++r)
    for (int c = 0; c < rows; ++c) dst[std::size_t(r) * rows + c] += src[std::size_t(c) * cols + r];
}

// p[0, count) = 0.
template <class T>
void fill_zero(CpuContext&, std::size_t count, T* p) {
  std::fill(p, p + count, T(0));
}

}  // namespace ist::eigen
