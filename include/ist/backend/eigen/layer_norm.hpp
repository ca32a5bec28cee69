#pragma once
// Non-affine layer normalization (GIST's sub-GCN normalization): each row of x is normalized by its own
// mean and (biased) variance, with no learned scale or shift:
//
//   y = (x - mean_r) * invstd_r,  invstd_r = 1 / sqrt(var_r + eps)
//
// Per node, use rows = nodes and cols = width. GIST's reference code normalizes the whole [nodes, width]
// activation with one mean and variance (F.layer_norm(h, h.shape)): that is rows = 1, cols = nodes * width.
//
// Shapes: x, y, dx, dy: [rows, cols] row-major; mean, invstd: [rows].
// Gradient contract: dx is overwritten (no parameters). Sums are taken in double.
#include <cmath>
#include <cstddef>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/core/error.hpp"

namespace ist::eigen {

// Saves each row's mean and invstd for the backward pass. y may alias x.
template <class T>
void layer_norm_forward(CpuContext& ctx, std::size_t rows, std::size_t cols, const T* x, T* y, T* save_mean,
                        T* save_invstd, T eps = T(1e-5)) {
  IST_CHECK(cols >= 1, "ist::eigen::layer_norm_forward: expected cols >= 1, found ", cols);
#pragma omp parallel for num_threads(ctx.threads()) schedule(static) if (ctx.threads() > 1 && rows > 1)
  for (std::ptrdiff_t r = 0; r < std::ptrdiff_t(rows); ++r) {
    const T* p = x + std::size_t(r) * cols;
    T* q = y + std::size_t(r) * cols;
    double s = 0;
    for (std::size_t j = 0; j < cols; ++j) s += double(p[j]);
    const double mean = s / double(cols);
    double v = 0;
    for (std::size_t j = 0; j < cols; ++j) v += (double(p[j]) - mean) * (double(p[j]) - mean);
    const double invstd = 1.0 / std::sqrt(v / double(cols) + double(eps));
    save_mean[r] = T(mean);
    save_invstd[r] = T(invstd);
    for (std::size_t j = 0; j < cols; ++j) q[j] = T((double(p[j]) - mean) * invstd);
  }
}

// Backward of layer_norm_forward; y is its output (= xhat).
//   dx = invstd * (dy - mean(dy) - y * mean(dy * y))   per row. dx may alias dy.
template <class T>
void layer_norm_backward(CpuContext& ctx, std::size_t rows, std::size_t cols, const T* y, const T* dy,
                         const T* invstd, T* dx) {
#pragma omp parallel for num_threads(ctx.threads()) schedule(static) if (ctx.threads() > 1 && rows > 1)
  for (std::ptrdiff_t r = 0; r < std::ptrdiff_t(rows); ++r) {
    const T* py = y + std::size_t(r) * cols;
    const T* pd = dy + std::size_t(r) * cols;
    T* q = dx + std::size_t(r) * cols;
    double sd = 0, sdy = 0;
    for (std::size_t j = 0; j < cols; ++j) {
      sd += double(pd[j]);
      sdy += double(pd[j]) * double(py[j]);
    }
    const T md = T(sd / double(cols)), mdy = T(sdy / double(cols)), k = invstd[r];
    for (std::size_t j = 0; j < cols; ++j) q[j] = k * (pd[j] - md - py[j] * mdy);
  }
}

}  // namespace ist::eigen
