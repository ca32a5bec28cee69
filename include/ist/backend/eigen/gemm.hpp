#pragma once
// Dense matrix products and column sums whose bits depend only on the values and the shapes: never on where
// the buffers lie in memory, on Eigen's thread count, or on which kernel Eigen would pick for the shape.
//
// Eigen's `C = A * B` dispatches at run time: a coefficient-based product when rows + cols + depth < 20,
// a matrix-vector product when C has one row or column, an inner product when it is 1x1, else its packed
// GEMM, split over Eigen::nbThreads() threads with blocking sizes chosen for that count. The
// coefficient-based products evaluate the first unaligned elements of the destination one way (scalar)
// and the rest another (packets), so their bits follow the address; the thread count changes the blocking
// and so the order of the sums. Partial reductions (`rowwise().sum()`) do the same as the small products.
// A training run whose buffers sit elsewhere on the heap (another flag, a resumed process) then drifts.
//
// gemm() always runs Eigen's packed GEMM on the calling thread: both operands are copied into aligned
// panels, the blocking depends only on the shape (and on the cache sizes of the machine), and the
// destination is read and written with unaligned packet operations in an order fixed by the shape.
// add_column_sums() sums rows of a row-major matrix in row order, packets over columns from the first
// column, with the same per-element order in its scalar tail.
#include <Eigen/Core>
#include <algorithm>
#include <cstddef>

#if !EIGEN_VERSION_AT_LEAST(3, 4, 0)
#error "ist::eigen::gemm needs Eigen 3.4 (general_matrix_matrix_product with an inner result stride)"
#endif

namespace ist::eigen {

// Column-major views: C (m x n, leading dimension ldc) = or += op(A) * op(B), op(A): m x k, op(B): k x n.
// A is stored m x k (lda >= m) or, with trans_a, k x m (lda >= k); B likewise (k x n, or n x k with
// trans_b). With accumulate false C is overwritten (its old contents, NaN included, are not read).
template <class T>
void gemm(bool trans_a, bool trans_b, int m, int n, int k, const T* a, int lda, const T* b, int ldb, T* c, int ldc,
          bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (!accumulate)
    for (int j = 0; j < n; ++j) std::fill(c + std::size_t(j) * ldc, c + std::size_t(j) * ldc + m, T(0));
  if (k <= 0) return;
  using Eigen::ColMajor;
  using Eigen::Dynamic;
  using Eigen::Index;
  using Eigen::RowMajor;
  Eigen::internal::gemm_blocking_space<ColMajor, T, T, Dynamic, Dynamic, Dynamic> blocking(m, n, k, 1, true);
  // Serial: no GemmParallelInfo, so Eigen::nbThreads() is never consulted.
  if (!trans_a && !trans_b)
    Eigen::internal::general_matrix_matrix_product<Index, T, ColMajor, false, T, ColMajor, false, ColMajor, 1>::run(
        m, n, k, a, lda, b, ldb, c, 1, ldc, T(1), blocking, nullptr);
  else if (trans_a && !trans_b)
    Eigen::internal::general_matrix_matrix_product<Index, T, RowMajor, false, T, ColMajor, false, ColMajor, 1>::run(
        m, n, k, a, lda, b, ldb, c, 1, ldc, T(1), blocking, nullptr);
  else if (!trans_a && trans_b)
    Eigen::internal::general_matrix_matrix_product<Index, T, ColMajor, false, T, RowMajor, false, ColMajor, 1>::run(
        m, n, k, a, lda, b, ldb, c, 1, ldc, T(1), blocking, nullptr);
  else
    Eigen::internal::general_matrix_matrix_product<Index, T, RowMajor, false, T, RowMajor, false, ColMajor, 1>::run(
        m, n, k, a, lda, b, ldb, c, 1, ldc, T(1), blocking, nullptr);
}

// s[c] += sum over i of x[i * cols + c], for c in [0, cols): x is [rows, cols] row-major. Each column is
// summed from 0 in row order and then added to s[c], the same order in packets and in the scalar tail.
template <class T>
void add_column_sums(int rows, int cols, const T* x, T* s) {
  using P = typename Eigen::internal::packet_traits<T>::type;
  constexpr int L = Eigen::internal::packet_traits<T>::size;
  constexpr int B = 4;  // packets of columns per pass: four independent accumulators
  int c = 0;
  for (; c + B * L <= cols; c += B * L) {
    P acc[B];
    for (int j = 0; j < B; ++j) acc[j] = Eigen::internal::pset1<P>(T(0));
    for (int i = 0; i < rows; ++i) {
      const T* p = x + std::size_t(i) * cols + c;
      for (int j = 0; j < B; ++j) acc[j] = Eigen::internal::padd(acc[j], Eigen::internal::ploadu<P>(p + j * L));
    }
    for (int j = 0; j < B; ++j)
      Eigen::internal::pstoreu(s + c + j * L, Eigen::internal::padd(Eigen::internal::ploadu<P>(s + c + j * L), acc[j]));
  }
  for (; c + L <= cols; c += L) {
    P acc = Eigen::internal::pset1<P>(T(0));
    for (int i = 0; i < rows; ++i) acc = Eigen::internal::padd(acc, Eigen::internal::ploadu<P>(x + std::size_t(i) * cols + c));
    Eigen::internal::pstoreu(s + c, Eigen::internal::padd(Eigen::internal::ploadu<P>(s + c), acc));
  }
  for (; c < cols; ++c) {
    T acc = T(0);
    for (int i = 0; i < rows; ++i) acc += x[std::size_t(i) * cols + c];
    s[c] += acc;
  }
}

}  // namespace ist::eigen
