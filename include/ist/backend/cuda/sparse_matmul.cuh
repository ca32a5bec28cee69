#pragma once
// Sparse times dense products for graph convolutions on cuSPARSE: the GPU counterparts of
// ist::eigen::spmm and spmm_transposed_add (ist/backend/eigen/sparse_matmul.hpp), same shapes and
// contracts. A CsrMatrix holds a device copy of a CSR matrix (the normalized adjacency, or sparse node
// features) and of its transpose, so both products are plain (non-transposed) cuSPARSE SpMMs with
// CUSPARSE_SPMM_CSR_ALG3, whose results were the same run to run on the H100 (with ALG2 a test caught two
// runs of the same product differing).
//
//   ist::cuda::CsrMatrix a(ctx, rows, cols, outer, inner, values);   // host CSR (e.g. Eigen's outerIndexPtr...)
//   ist::cuda::spmm(ctx, a, b, n, y);                    // y [rows, n]  = a * b [cols, n]       (overwrites)
//   ist::cuda::spmm_transposed_add(ctx, a, b, n, y);     // y [cols, n] += a^T * b [rows, n]    (accumulates)
//
// Dense matrices are row-major, device memory. `values` (optional, device) replaces a's nonzero values, in
// a's storage order (features after dropout of their nonzeros), as in the Eigen ops.
#include <cuda_runtime.h>
#include <cusparse.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/device_buffer.cuh"
#include "ist/backend/cuda/launch.cuh"
#include "ist/core/error.hpp"

namespace ist::cuda {

namespace kernels {

// dst[i] = src[from[i]]. (A template only so that it is inline: this header is in every .cu file that includes
// compute.cuh.)
template <class T>
__global__ void permute_values(std::size_t n, const int* from, const T* src, T* dst) {
  for (std::size_t i = detail::global_thread(); i < n; i += detail::grid_threads()) dst[i] = src[from[i]];
}

}  // namespace kernels

class CsrMatrix {
 public:
  // outer: rows + 1 offsets; inner: nnz column indices; values: nnz values (host memory, CSR, zero-based).
  CsrMatrix(CudaContext& ctx, int rows, int cols, std::span<const int> outer, std::span<const int> inner,
            std::span<const float> values)
      : rows_(rows), cols_(cols), nnz_(inner.size()) {
    IST_CHECK(rows >= 0 && cols >= 0 && outer.size() == std::size_t(rows) + 1 && values.size() == inner.size() &&
                  (rows == 0 || std::size_t(outer[std::size_t(rows)]) == inner.size()),
              "ist::cuda::CsrMatrix: expected ", rows, " + 1 row offsets ending at nnz and as many values as column "
              "indices, found ", outer.size(), " offsets, ", inner.size(), " indices, ", values.size(), " values");
    for (int c : inner)
      IST_CHECK(c >= 0 && c < cols, "ist::cuda::CsrMatrix: expected column indices in [0, ", cols, "), found ", c);
    // The transpose in CSR (= a in CSC), and where each of its entries sits in a's storage order.
    std::vector<int> t_outer(std::size_t(cols) + 1, 0), t_inner(nnz_), from(nnz_);
    std::vector<float> t_values(nnz_);
    for (int c : inner) ++t_outer[std::size_t(c) + 1];
    for (int c = 0; c < cols; ++c) t_outer[std::size_t(c) + 1] += t_outer[std::size_t(c)];
    std::vector<int> next(t_outer.begin(), t_outer.end() - 1);
    for (int r = 0; r < rows; ++r)
      for (int k = outer[std::size_t(r)]; k < outer[std::size_t(r) + 1]; ++k) {
        const int at = next[std::size_t(inner[std::size_t(k)])]++;
        t_inner[std::size_t(at)] = r;
        t_values[std::size_t(at)] = values[std::size_t(k)];
        from[std::size_t(at)] = k;
      }
    const cudaStream_t s = ctx.stream();
    outer_ = DeviceBuffer<int>(outer, s);
    inner_ = DeviceBuffer<int>(inner, s);
    values_ = DeviceBuffer<float>(values, s);
    t_outer_ = DeviceBuffer<int>(std::span<const int>(t_outer), s);
    t_inner_ = DeviceBuffer<int>(std::span<const int>(t_inner), s);
    t_values_ = DeviceBuffer<float>(std::span<const float>(t_values), s);
    from_ = DeviceBuffer<int>(std::span<const int>(from), s);
    t_override_.resize(nnz_);
    IST_CUSPARSE_CHECK(cusparseCreateCsr(&a_, rows, cols, std::int64_t(nnz_), outer_.data(), inner_.data(),
                                         values_.data(), CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                                         CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
    IST_CUSPARSE_CHECK(cusparseCreateCsr(&at_, cols, rows, std::int64_t(nnz_), t_outer_.data(), t_inner_.data(),
                                         t_values_.data(), CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                                         CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
  }
  CsrMatrix(const CsrMatrix&) = delete;
  CsrMatrix& operator=(const CsrMatrix&) = delete;
  ~CsrMatrix() {
    if (a_) cusparseDestroySpMat(a_);
    if (at_) cusparseDestroySpMat(at_);
  }

  int rows() const { return rows_; }
  int cols() const { return cols_; }
  std::size_t nnz() const { return nnz_; }
  // The nonzero values on the device, in the host matrix's storage order (what `values` overrides).
  const float* values() const { return values_.data(); }

  // y [rows_out, n] = beta * y + op * b, with op = a or a^T.
  void multiply(CudaContext& ctx, bool transpose, const float* b, int n, float* y, float beta, const float* values) {
    const int out_rows = transpose ? cols_ : rows_, in_rows = transpose ? rows_ : cols_;
    cusparseSpMatDescr_t m = transpose ? at_ : a_;
    if (values) {  // this call's nonzero values (a's storage order); the descriptor keeps them until reset below
      const float* v = values;
      if (transpose && nnz_ > 0) {
        kernels::permute_values<float><<<detail::grid_for(nnz_), detail::block_threads, 0, ctx.stream()>>>(
            nnz_, from_.data(), values, t_override_.data());
        IST_CUDA_CHECK_LAUNCH("permute_values");
        v = t_override_.data();
      }
      IST_CUSPARSE_CHECK(transpose ? cusparseCsrSetPointers(m, t_outer_.data(), t_inner_.data(), const_cast<float*>(v))
                                   : cusparseCsrSetPointers(m, outer_.data(), inner_.data(), const_cast<float*>(v)));
    }
    if (out_rows > 0 && n > 0) {
      cusparseDnMatDescr_t bd = nullptr, yd = nullptr;
      IST_CUSPARSE_CHECK(cusparseCreateDnMat(&bd, in_rows, n, n, const_cast<float*>(b), CUDA_R_32F, CUSPARSE_ORDER_ROW));
      IST_CUSPARSE_CHECK(cusparseCreateDnMat(&yd, out_rows, n, n, y, CUDA_R_32F, CUSPARSE_ORDER_ROW));
      const float alpha = 1.0f;
      std::size_t bytes = 0;
      cusparseHandle_t h = ctx.cusparse();
      const auto op = CUSPARSE_OPERATION_NON_TRANSPOSE;
      IST_CUSPARSE_CHECK(cusparseSpMM_bufferSize(h, op, op, &alpha, m, bd, &beta, yd, CUDA_R_32F,
                                                 CUSPARSE_SPMM_CSR_ALG3, &bytes));
      void* work = ctx.workspace(bytes);
      IST_CUSPARSE_CHECK(cusparseSpMM(h, op, op, &alpha, m, bd, &beta, yd, CUDA_R_32F, CUSPARSE_SPMM_CSR_ALG3, work));
      cusparseDestroyDnMat(bd);
      cusparseDestroyDnMat(yd);
    }
    if (values)
      IST_CUSPARSE_CHECK(transpose ? cusparseCsrSetPointers(m, t_outer_.data(), t_inner_.data(), t_values_.data())
                                   : cusparseCsrSetPointers(m, outer_.data(), inner_.data(), values_.data()));
  }

 private:
  int rows_, cols_;
  std::size_t nnz_;
  DeviceBuffer<int> outer_, inner_, t_outer_, t_inner_, from_;
  DeviceBuffer<float> values_, t_values_, t_override_;
  cusparseSpMatDescr_t a_ = nullptr, at_ = nullptr;
};

// y [a.rows(), n] = a * b [a.cols(), n]   (overwrites y)
inline void spmm(CudaContext& ctx, CsrMatrix& a, const float* b, int n, float* y, const float* values = nullptr) {
  a.multiply(ctx, /*transpose=*/false, b, n, y, 0.0f, values);
}

// y [a.cols(), n] += a^T * b [a.rows(), n]   (accumulates into y)
inline void spmm_transposed_add(CudaContext& ctx, CsrMatrix& a, const float* b, int n, float* y,
                                const float* values = nullptr) {
  a.multiply(ctx, /*transpose=*/true, b, n, y, 1.0f, values);
}

}  // namespace ist::cuda
