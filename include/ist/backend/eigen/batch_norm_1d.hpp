#pragma once
// Batch normalization of fully connected activations, per feature over the batch, from the batch's own
// statistics (IST's hidden layers), optionally followed by ReLU (fused: one pass).
//
//   y = [relu](gamma * (x - mean_b) * invstd_b + beta),  mean_b, var_b over the n rows (biased variance,
//   as PyTorch), invstd_b = 1 / sqrt(var_b + eps)
//
// Shapes: x, y, dx, dy: [n, c] row-major (a row is a sample); gamma, beta, mean, invstd, dgamma, dbeta: [c].
// Gradient contract: dgamma and dbeta accumulate (+=); dx is overwritten.
// Threads split the features into contiguous blocks; statistics are summed in double in row order, so
// results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <omp.h>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/core/error.hpp"

namespace ist::eigen {

namespace detail {
// Calls f(thread, first, last) on ctx.threads() contiguous blocks of [0, count), in parallel.
template <class F>
void for_feature_blocks(CpuContext& ctx, int count, F&& f) {
  const int threads = std::max(1, std::min(ctx.threads(), count / 16));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = threads > 1 ? omp_get_thread_num() : 0;
    const int per = (count + threads - 1) / threads;
    const int first = std::min(count, t * per), last = std::min(count, first + per);
    if (first < last) f(t, first, last);
  }
}
}  // namespace detail

// Saves mean_b and invstd_b for the backward pass.
template <class T>
void batch_norm_1d_forward_train(CpuContext& ctx, int n, int c, const T* x, const T* gamma, const T* beta, T* y,
                                 T* save_mean, T* save_invstd, bool relu, T eps = T(1e-5)) {
  IST_CHECK(n >= 1 && c >= 1, "ist::eigen::batch_norm_1d_forward_train: expected n >= 1 and c >= 1, found n = ", n,
            ", c = ", c);
  detail::for_feature_blocks(ctx, c, [&](int t, int first, int last) {
    const int len = last - first;
    double* s1 = ctx.scratch<double>(t, 2 * std::size_t(len));
    double* s2 = s1 + len;
    std::fill(s1, s1 + 2 * len, 0.0);
    for (int i = 0; i < n; ++i) {
      const T* p = x + std::size_t(i) * c + first;
      for (int j = 0; j < len; ++j) s1[j] += double(p[j]);
    }
    for (int j = 0; j < len; ++j) s1[j] /= n;
    for (int i = 0; i < n; ++i) {
      const T* p = x + std::size_t(i) * c + first;
      for (int j = 0; j < len; ++j) {
        const double d = double(p[j]) - s1[j];
        s2[j] += d * d;
      }
    }
    for (int j = 0; j < len; ++j) {
      save_mean[first + j] = T(s1[j]);
      save_invstd[first + j] = T(1.0 / std::sqrt(s2[j] / n + double(eps)));
    }
    for (int i = 0; i < n; ++i) {
      const T* p = x + std::size_t(i) * c;
      T* q = y + std::size_t(i) * c;
      for (int j = first; j < last; ++j) {
        const T v = gamma[j] * (p[j] - save_mean[j]) * save_invstd[j] + beta[j];
        q[j] = relu ? std::max(v, T(0)) : v;
      }
    }
  });
}

// Backward of batch_norm_1d_forward_train; y is its output (the ReLU mask when relu).
//   g = dy (masked by y > 0 with relu), xhat = (x - mean) * invstd
//   dx = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat)),  dgamma += sum g * xhat,  dbeta += sum g
template <class T>
void batch_norm_1d_backward(CpuContext& ctx, int n, int c, const T* x, const T* y, const T* dy, const T* gamma,
                            const T* mean, const T* invstd, T* dx, T* dgamma, T* dbeta, bool relu) {
  detail::for_feature_blocks(ctx, c, [&](int t, int first, int last) {
    const int len = last - first;
    double* sg = ctx.scratch<double>(t, 2 * std::size_t(len));
    double* sgx = sg + len;
    std::fill(sg, sg + 2 * len, 0.0);
    for (int i = 0; i < n; ++i) {
      const std::size_t row = std::size_t(i) * c + first;
      const T *px = x + row, *py = y + row, *pd = dy + row;
      for (int j = 0; j < len; ++j) {
        const double g = (relu && !(py[j] > T(0))) ? 0.0 : double(pd[j]);
        sg[j] += g;
        sgx[j] += g * (double(px[j]) - double(mean[first + j]));
      }
    }
    for (int j = 0; j < len; ++j) {
      sgx[j] *= double(invstd[first + j]);  // now sum g * xhat
      dgamma[first + j] += T(sgx[j]);
      dbeta[first + j] += T(sg[j]);
      sg[j] /= n;   // mean g
      sgx[j] /= n;  // mean g * xhat
    }
    for (int i = 0; i < n; ++i) {
      const std::size_t row = std::size_t(i) * c + first;
      const T *px = x + row, *py = y + row, *pd = dy + row;
      T* q = dx + row;
      for (int j = 0; j < len; ++j) {
        const int f = first + j;
        const T g = (relu && !(py[j] > T(0))) ? T(0) : pd[j];
        const T xhat = (px[j] - mean[f]) * invstd[f];
        q[j] = gamma[f] * invstd[f] * (g - T(sg[j]) - xhat * T(sgx[j]));
      }
    }
  });
}

}  // namespace ist::eigen
