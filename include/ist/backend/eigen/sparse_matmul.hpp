#pragma once
// Sparse times dense products for graph convolutions: Eigen::SparseMatrix (row-major CSR, compressed)
// times a row-major dense matrix. Used for A_hat H (the normalized adjacency) and X W (sparse node
// features).
//
// Shapes: a: [rows, cols] sparse; b, y: row-major dense with n columns.
// `values` (optional) replaces a's nonzero values, in a's storage order (e.g. the features after dropout
// of their nonzeros); it must hold a.nonZeros() entries.
// Threads split rows (spmm) or output columns (spmm_transposed_add); each output element is summed in
// a's storage order, so results do not depend on the thread count.
#include <Eigen/SparseCore>
#include <algorithm>
#include <cstddef>
#include <omp.h>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/core/error.hpp"

namespace ist::eigen {

template <class T>
using SparseRowMatrix = Eigen::SparseMatrix<T, Eigen::RowMajor, int>;

// y [count, n] = rows [first, first + count) of a, times b [a.cols(), n]   (overwrites y; y holds only those rows).
// Each row is summed exactly as spmm sums it, so a product taken in row blocks equals the whole one bit for bit.
template <class T>
void spmm_rows(CpuContext& ctx, const SparseRowMatrix<T>& a, std::ptrdiff_t first, std::ptrdiff_t count, const T* b,
               int n, T* y, const T* values = nullptr) {
  IST_CHECK(a.isCompressed(), "ist::eigen::spmm: expected a compressed sparse matrix (call makeCompressed())");
  IST_CHECK(first >= 0 && count >= 0 && first + count <= a.rows(), "ist::eigen::spmm_rows: expected rows [", first,
            ", ", first + count, ") inside [0, ", a.rows(), ")");
  const int* outer = a.outerIndexPtr() + first;
  const int* inner = a.innerIndexPtr();
  const T* v = values ? values : a.valuePtr();
#pragma omp parallel for num_threads(ctx.threads()) schedule(dynamic, 64) if (ctx.threads() > 1)
  for (std::ptrdiff_t i = 0; i < count; ++i) {
    T* yr = y + std::size_t(i) * std::size_t(n);
    std::fill(yr, yr + n, T(0));
    for (int k = outer[i]; k < outer[i + 1]; ++k) {
      const T w = v[k];
      const T* br = b + std::size_t(inner[k]) * std::size_t(n);
      for (int j = 0; j < n; ++j) yr[j] += w * br[j];
    }
  }
}

// y [a.rows(), n] = a * b [a.cols(), n]   (overwrites y)
template <class T>
void spmm(CpuContext& ctx, const SparseRowMatrix<T>& a, const T* b, int n, T* y, const T* values = nullptr) {
  spmm_rows(ctx, a, 0, a.rows(), b, n, y, values);
}

// y [a.cols(), n] += a^T * b [a.rows(), n]   (accumulates into y)
template <class T>
void spmm_transposed_add(CpuContext& ctx, const SparseRowMatrix<T>& a, const T* b, int n, T* y,
                         const T* values = nullptr) {
  IST_CHECK(a.isCompressed(),
            "ist::eigen::spmm_transposed_add: expected a compressed sparse matrix (call makeCompressed())");
  const int* outer = a.outerIndexPtr();
  const int* inner = a.innerIndexPtr();
  const T* v = values ? values : a.valuePtr();
  const std::ptrdiff_t rows = a.rows();
  // Column blocks of at least 16 values per thread.
  const int threads = std::max(1, std::min(ctx.threads(), n / 16));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = threads > 1 ? omp_get_thread_num() : 0;
    const int per = (n + threads - 1) / threads;
    const int first = std::min(n, t * per), last = std::min(n, first + per);
    for (std::ptrdiff_t i = 0; i < rows && first < last; ++i) {
      const T* br = b + std::size_t(i) * std::size_t(n);
      for (int k = outer[i]; k < outer[i + 1]; ++k) {
        const T w = v[k];
        T* yr = y + std::size_t(inner[k]) * std::size_t(n);
        for (int j = first; j < last; ++j) yr[j] += w * br[j];
      }
    }
  }
}

}  // namespace ist::eigen
