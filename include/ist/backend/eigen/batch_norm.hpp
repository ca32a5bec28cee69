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
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <omp.h>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/core/shape.hpp"

namespace ist::eigen {

namespace detail {

template <class T>
using BnPacket = typename Eigen::internal::packet_traits<T>::type;

// Over p[0, count): s1 = sum (p - k), s2 = sum (p - k)^2, in packets (two accumulators each).
template <class T>
inline void shifted_sums(const T* p, int count, T k, T& s1, T& s2) {
  using P = BnPacket<T>;
  constexpr int L = Eigen::internal::packet_traits<T>::size;
  const P kv = Eigen::internal::pset1<P>(k);
  P a0 = Eigen::internal::pset1<P>(T(0)), a1 = a0, b0 = a0, b1 = a0;
  int j = 0;
  for (; j + 2 * L <= count; j += 2 * L) {
    const P d0 = Eigen::internal::psub(Eigen::internal::ploadu<P>(p + j), kv);
    const P d1 = Eigen::internal::psub(Eigen::internal::ploadu<P>(p + j + L), kv);
    a0 = Eigen::internal::padd(a0, d0);
    a1 = Eigen::internal::padd(a1, d1);
    b0 = Eigen::internal::pmadd(d0, d0, b0);
    b1 = Eigen::internal::pmadd(d1, d1, b1);
  }
  if (j + L <= count) {
    const P d0 = Eigen::internal::psub(Eigen::internal::ploadu<P>(p + j), kv);
    a0 = Eigen::internal::padd(a0, d0);
    b0 = Eigen::internal::pmadd(d0, d0, b0);
    j += L;
  }
  T t1 = Eigen::internal::predux(Eigen::internal::padd(a0, a1));
  T t2 = Eigen::internal::predux(Eigen::internal::padd(b0, b1));
  for (; j < count; ++j) {
    const T d = p[j] - k;
    t1 += d;
    t2 += d * d;
  }
  s1 = t1;
  s2 = t2;
}

// Over [0, count), with g = dy masked by y > 0 when relu (else dy): sg = sum g, sgx = sum g * (x - mean).
template <class T>
inline void bn_backward_sums(const T* x, const T* y, const T* dy, int count, T mean, bool relu, T& sg, T& sgx) {
  using P = BnPacket<T>;
  constexpr int L = Eigen::internal::packet_traits<T>::size;
  const P mv = Eigen::internal::pset1<P>(mean);
  const P zero = Eigen::internal::pset1<P>(T(0));
  P a0 = zero, a1 = zero, b0 = zero, b1 = zero;
  int j = 0;
  for (; j + 2 * L <= count; j += 2 * L) {
    P g0 = Eigen::internal::ploadu<P>(dy + j), g1 = Eigen::internal::ploadu<P>(dy + j + L);
    if (relu) {
      g0 = Eigen::internal::pand(g0, Eigen::internal::pcmp_lt(zero, Eigen::internal::ploadu<P>(y + j)));
      g1 = Eigen::internal::pand(g1, Eigen::internal::pcmp_lt(zero, Eigen::internal::ploadu<P>(y + j + L)));
    }
    a0 = Eigen::internal::padd(a0, g0);
    a1 = Eigen::internal::padd(a1, g1);
    b0 = Eigen::internal::pmadd(g0, Eigen::internal::psub(Eigen::internal::ploadu<P>(x + j), mv), b0);
    b1 = Eigen::internal::pmadd(g1, Eigen::internal::psub(Eigen::internal::ploadu<P>(x + j + L), mv), b1);
  }
  if (j + L <= count) {
    P g0 = Eigen::internal::ploadu<P>(dy + j);
    if (relu) g0 = Eigen::internal::pand(g0, Eigen::internal::pcmp_lt(zero, Eigen::internal::ploadu<P>(y + j)));
    a0 = Eigen::internal::padd(a0, g0);
    b0 = Eigen::internal::pmadd(g0, Eigen::internal::psub(Eigen::internal::ploadu<P>(x + j), mv), b0);
    j += L;
  }
  T t1 = Eigen::internal::predux(Eigen::internal::padd(a0, a1));
  T t2 = Eigen::internal::predux(Eigen::internal::padd(b0, b1));
  for (; j < count; ++j) {
    const T g = (relu && !(y[j] > T(0))) ? T(0) : dy[j];
    t1 += g;
    t2 += g * (x[j] - mean);
  }
  sg = t1;
  sgx = t2;
}

// dx = k * ([y > 0] * dy) + (ax * x + bx) over [0, count), in packets. Written out because a compiler
// cannot vectorize the scalar form's conditional read of dy without masked loads: with AVX2 it stayed
// scalar, and this pass took 24% of a ResNet-20 step (AVX-512: 7%).
template <class T>
inline void bn_backward_dx(const T* x, const T* y, const T* dy, int count, T k, T ax, T bx, bool relu, T* dx) {
  using P = BnPacket<T>;
  constexpr int L = Eigen::internal::packet_traits<T>::size;
  const P kv = Eigen::internal::pset1<P>(k), av = Eigen::internal::pset1<P>(ax), bv = Eigen::internal::pset1<P>(bx);
  const P zero = Eigen::internal::pset1<P>(T(0));
  int j = 0;
  for (; j + L <= count; j += L) {
    P g = Eigen::internal::ploadu<P>(dy + j);
    if (relu) g = Eigen::internal::pand(g, Eigen::internal::pcmp_lt(zero, Eigen::internal::ploadu<P>(y + j)));
    const P lin = Eigen::internal::pmadd(av, Eigen::internal::ploadu<P>(x + j), bv);
    Eigen::internal::pstoreu(dx + j, Eigen::internal::pmadd(kv, g, lin));
  }
  for (; j < count; ++j) {
    const T g = relu && !(y[j] > T(0)) ? T(0) : dy[j];
    dx[j] = k * g + (ax * x[j] + bx);
  }
}

}  // namespace detail

// y = [relu](gamma * (x - mean_b) * invstd_b + beta); saves mean_b and invstd_b.
// One pass for the statistics: sums of (x - k) and (x - k)^2 with k = the channel's first element (a
// shift that keeps the variance free of cancellation when |mean| >> std), packet partial sums per
// image plane, accumulated over images in double; a second pass normalizes.
template <class T>
void batch_norm_forward_train(CpuContext& ctx, const BatchNormShape& s, const T* x, const T* gamma, const T* beta,
                              T* y, T* save_mean, T* save_invstd, bool relu, T eps = T(1e-5),
                              RunningStats<T> running = {}) {
  const std::size_t plane = std::size_t(s.c) * s.hw;
  const double count = double(s.n) * s.hw;
#pragma omp parallel for num_threads(ctx.threads()) schedule(static) if (ctx.threads() > 1)
  for (int ch = 0; ch < s.c; ++ch) {
    const T k = x[std::size_t(ch) * s.hw];
    double s1 = 0, s2 = 0;
    for (int i = 0; i < s.n; ++i) {
      T a, b;
      detail::shifted_sums(x + i * plane + std::size_t(ch) * s.hw, s.hw, k, a, b);
      s1 += double(a);
      s2 += double(b);
    }
    const double dmean = s1 / count;
    const double mean = double(k) + dmean;
    const double var = std::max(s2 / count - dmean * dmean, 0.0);
    const T invstd = T(1.0 / std::sqrt(var + double(eps)));
    save_mean[ch] = T(mean);
    save_invstd[ch] = invstd;
    if (running.mean) {
      const double unbiased = count > 1 ? var * count / (count - 1) : var;
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
// Two passes: packet sums of g and g * (x - mean), then dx = k * g + (a * x + b) per channel.
template <class T>
void batch_norm_backward(CpuContext& ctx, const BatchNormShape& s, const T* x, const T* y, const T* dy,
                         const T* gamma, const T* save_mean, const T* save_invstd, T* dx, T* dgamma, T* dbeta,
                         bool relu) {
  const std::size_t plane = std::size_t(s.c) * s.hw;
  const double count = double(s.n) * s.hw;
#pragma omp parallel for num_threads(ctx.threads()) schedule(static) if (ctx.threads() > 1)
  for (int ch = 0; ch < s.c; ++ch) {
    const T mean = save_mean[ch], invstd = save_invstd[ch];
    // g = dL/d(pre-relu output); sum_g = sum g, sum_gx = sum g * (x - mean).
    double sum_g = 0, sum_gx = 0;
    for (int i = 0; i < s.n; ++i) {
      const std::size_t off = i * plane + std::size_t(ch) * s.hw;
      T a, b;
      detail::bn_backward_sums(x + off, y + off, dy + off, s.hw, mean, relu, a, b);
      sum_g += double(a);
      sum_gx += double(b);
    }
    sum_gx *= double(invstd);
    dgamma[ch] += T(sum_gx);
    dbeta[ch] += T(sum_g);
    // dx = gamma * invstd * (g - sum_g/M - xhat * sum_gx/M) = k * g + (a * x + b)
    const T k = gamma[ch] * invstd;
    const T mg = T(sum_g / count), mgx = T(sum_gx / count);
    const T ax = -k * mgx * invstd;
    const T bx = -k * mg - ax * mean;
    for (int i = 0; i < s.n; ++i) {
      const std::size_t off = i * plane + std::size_t(ch) * s.hw;
      detail::bn_backward_dx(x + off, y + off, dy + off, s.hw, k, ax, bx, relu, dx + off);
    }
  }
}

}  // namespace ist::eigen
