#pragma once
// Batch normalization over NCHW tensors, per channel, optionally followed by ReLU (fused: one pass).
//
// Training mode normalizes with the batch's statistics (biased variance, as PyTorch) and saves the
// mean and 1/sqrt(var + eps) for the backward pass; if running statistics are given they are updated
// the PyTorch way: running = (1 - momentum) * running + momentum * batch (unbiased variance).
// Inference mode normalizes with given statistics (running or any others).
//
// Shapes: x, y, dx, dy: [n, c, hw]; gamma, beta, mean, invstd, running_*: [c].
// Gradient contract: dgamma and dbeta accumulate (+=); dx is overwritten.
#include <cmath>
#include <cstddef>
#include <omp.h>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/core/shape.hpp"

namespace ist::eigen {

// y = [relu](gamma * (x - mean_b) * invstd_b + beta); saves mean_b and invstd_b.
template <class T>
void batch_norm_forward_train(CpuContext& ctx, const BatchNormShape& s, const T* x, const T* gamma, const T* beta,
                              T* y, T* save_mean, T* save_invstd, bool relu, T eps = T(1e-5),
                              RunningStats<T> running = {}) {
  const std::size_t plane = std::size_t(s.c) * s.hw;
  const double count = double(s.n) * s.hw;
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (int ch = 0; ch < s.c; ++ch) {
    double sum = 0;
    for (int i = 0; i < s.n; ++i) {
      const T* p = x + i * plane + std::size_t(ch) * s.hw;
      T part = 0;
      for (int j = 0; j < s.hw; ++j) part += p[j];
      sum += part;
    }
    const double mean = sum / count;
    double sq = 0;
    for (int i = 0; i < s.n; ++i) {
      const T* p = x + i * plane + std::size_t(ch) * s.hw;
      const T m = T(mean);
      T part = 0;
      for (int j = 0; j < s.hw; ++j) part += (p[j] - m) * (p[j] - m);
      sq += part;
    }
    const double var = sq / count;
    const T invstd = T(1.0 / std::sqrt(var + double(eps)));
    save_mean[ch] = T(mean);
    save_invstd[ch] = invstd;
    if (running.mean) {
      const double unbiased = count > 1 ? sq / (count - 1) : var;
      running.mean[ch] = T((1 - double(running.momentum)) * running.mean[ch] + double(running.momentum) * mean);
      running.var[ch] = T((1 - double(running.momentum)) * running.var[ch] + double(running.momentum) * unbiased);
    }
    const T scale = gamma[ch] * invstd;
    const T shift = beta[ch] - T(mean) * scale;
    for (int i = 0; i < s.n; ++i) {
      const T* p = x + i * plane + std::size_t(ch) * s.hw;
      T* q = y + i * plane + std::size_t(ch) * s.hw;
      if (relu)
        for (int j = 0; j < s.hw; ++j) q[j] = std::max(p[j] * scale + shift, T(0));
      else
        for (int j = 0; j < s.hw; ++j) q[j] = p[j] * scale + shift;
    }
  }
}

// y = [relu](gamma * (x - mean) / sqrt(var + eps) + beta) with the given statistics.
template <class T>
void batch_norm_forward_infer(CpuContext& ctx, const BatchNormShape& s, const T* x, const T* gamma, const T* beta,
                              const T* mean, const T* var, T* y, bool relu, T eps = T(1e-5)) {
  const std::size_t plane = std::size_t(s.c) * s.hw;
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (int ch = 0; ch < s.c; ++ch) {
    const T scale = gamma[ch] / std::sqrt(var[ch] + eps);
    const T shift = beta[ch] - mean[ch] * scale;
    for (int i = 0; i < s.n; ++i) {
      const T* p = x + i * plane + std::size_t(ch) * s.hw;
      T* q = y + i * plane + std::size_t(ch) * s.hw;
      if (relu)
        for (int j = 0; j < s.hw; ++j) q[j] = std::max(p[j] * scale + shift, T(0));
      else
        for (int j = 0; j < s.hw; ++j) q[j] = p[j] * scale + shift;
    }
  }
}

// Backward of batch_norm_forward_train. y is the forward output (used for the ReLU mask when relu).
template <class T>
void batch_norm_backward(CpuContext& ctx, const BatchNormShape& s, const T* x, const T* y, const T* dy,
                         const T* gamma, const T* save_mean, const T* save_invstd, T* dx, T* dgamma, T* dbeta,
                         bool relu) {
  const std::size_t plane = std::size_t(s.c) * s.hw;
  const double count = double(s.n) * s.hw;
#pragma omp parallel for num_threads(ctx.threads()) schedule(static)
  for (int ch = 0; ch < s.c; ++ch) {
    const T mean = save_mean[ch], invstd = save_invstd[ch];
    // g = dL/d(pre-relu output); sum_g = sum g, sum_gx = sum g * xhat.
    double sum_g = 0, sum_gx = 0;
    for (int i = 0; i < s.n; ++i) {
      const std::size_t off = i * plane + std::size_t(ch) * s.hw;
      const T *px = x + off, *py = y + off, *pd = dy + off;
      T a = 0, b = 0;
      for (int j = 0; j < s.hw; ++j) {
        const T g = (relu && !(py[j] > T(0))) ? T(0) : pd[j];
        a += g;
        b += g * (px[j] - mean);
      }
      sum_g += a;
      sum_gx += b;
    }
    sum_gx *= double(invstd);
    dgamma[ch] += T(sum_gx);
    dbeta[ch] += T(sum_g);
    // dx = gamma * invstd * (g - sum_g/M - xhat * sum_gx/M)
    const T k = gamma[ch] * invstd;
    const T mg = T(sum_g / count), mgx = T(sum_gx / count);
    for (int i = 0; i < s.n; ++i) {
      const std::size_t off = i * plane + std::size_t(ch) * s.hw;
      const T *px = x + off, *py = y + off, *pd = dy + off;
      T* q = dx + off;
      for (int j = 0; j < s.hw; ++j) {
        const T g = (relu && !(py[j] > T(0))) ? T(0) : pd[j];
        const T xhat = (px[j] - mean) * invstd;
        q[j] = k * (g - mg - xhat * mgx);
      }
    }
  }
}

}  // namespace ist::eigen
