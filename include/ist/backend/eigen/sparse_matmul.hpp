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
//
// The row updates are written in Eigen's packets (packet_loops.hpp: not left to the auto-vectorizer, which
// g++ runs at -O3 only): every element gets the plain loop's multiply-adds, in a's storage order; spmm keeps
// a row's column block in registers over the row's nonzeros instead of loading and storing it for each.
#include <Eigen/SparseCore>
#include <algorithm>
#include <cstddef>
#include <omp.h>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/packet_loops.hpp"
#include "ist/core/error.hpp"

namespace ist::eigen {

template <class T>
using SparseRowMatrix = Eigen::SparseMatrix<T, Eigen::RowMajor, int>;

namespace detail {

// y[0, n) = sum over the row's nonzeros e (in order) of w[e] * b[col[e]][0, n): starting from 0, one
// multiply-add per nonzero and element, as `y = 0; for e: y += w[e] * b_row` computes it. Blocks of up to
// four packets of columns stay in registers over all the nonzeros.
template <class T>
inline void sparse_row_times_dense(const T* w, const int* col, int nnz, const T* b, int n, T* y) {
  using P = LoopPacket<T>;
  constexpr int L = Eigen::internal::packet_traits<T>::size;
  const P zero = Eigen::internal::pset1<P>(T(0));
  const std::size_t pitch = std::size_t(n);
  int j = 0;
  for (; j + 4 * L <= n; j += 4 * L) {
    P a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    for (int e = 0; e < nnz; ++e) {
      const P wv = Eigen::internal::pset1<P>(w[e]);
      const T* br = b + std::size_t(col[e]) * pitch + j;
      a0 = Eigen::internal::pmadd(wv, Eigen::internal::ploadu<P>(br), a0);
      a1 = Eigen::internal::pmadd(wv, Eigen::internal::ploadu<P>(br + L), a1);
      a2 = Eigen::internal::pmadd(wv, Eigen::internal::ploadu<P>(br + 2 * L), a2);
      a3 = Eigen::internal::pmadd(wv, Eigen::internal::ploadu<P>(br + 3 * L), a3);
    }
    Eigen::internal::pstoreu(y + j, a0);
    Eigen::internal::pstoreu(y + j + L, a1);
    Eigen::internal::pstoreu(y + j + 2 * L, a2);
    Eigen::internal::pstoreu(y + j + 3 * L, a3);
  }
  for (; j + L <= n; j += L) {
    P a0 = zero;
    for (int e = 0; e < nnz; ++e)
      a0 = Eigen::internal::pmadd(Eigen::internal::pset1<P>(w[e]),
                                  Eigen::internal::ploadu<P>(b + std::size_t(col[e]) * pitch + j), a0);
    Eigen::internal::pstoreu(y + j, a0);
  }
  if (j < n) {
    std::fill(y + j, y + n, T(0));
    for (int e = 0; e < nnz; ++e) {
      const T* br = b + std::size_t(col[e]) * pitch;
      for (int c = j; c < n; ++c) y[c] = Eigen::internal::pmadd(w[e], br[c], y[c]);
    }
  }
}

}  // namespace detail

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
  for (std::ptrdiff_t i = 0; i < count; ++i)
    detail::sparse_row_times_dense(v + outer[i], inner + outer[i], outer[i + 1] - outer[i], b, n,
                                   y + std::size_t(i) * std::size_t(n));
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
      for (int k = outer[i]; k < outer[i + 1]; ++k)
        detail::axpy(v[k], br + first, y + std::size_t(inner[k]) * std::size_t(n) + first, std::size_t(last - first));
    }
  }
}

}  // namespace ist::eigen
