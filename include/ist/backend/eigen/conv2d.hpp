#pragma once
// 2-D convolution on Eigen, NCHW, square kernels, zero padding, no bias.
//
// Each image is one matrix product. With col = im2col(x_n) stored [c*r*r][out_h*out_w]:
//   y_n [k][out_hw] = w [k][c*r*r] * col
// which in Eigen's column-major view is Y(out_hw x k) = Col(out_hw x crr) * W(crr x k).
// Images are spread over the context's threads; each thread has its own im2col buffer and, in the
// backward pass, its own weight-gradient buffer, summed in thread order (deterministic for a given
// thread count). A pointwise convolution (1x1, stride 1, no padding) skips im2col.
//
// Gradient contract: weight gradients accumulate (+=); input gradients overwrite unless
// accumulate_dx is set, in which case they are added.
#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <omp.h>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/core/shape.hpp"

namespace ist::eigen {

namespace detail {

template <class T>
using ColMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>;
template <class T>
using ConstColMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>;

// col[(ci*r + kh)*r + kw][oh*ow + ow_] = x[ci][oh*stride - pad + kh][ow_*stride - pad + kw] (0 outside).
template <class T>
void im2col(const ConvShape& s, const T* x, T* col) {
  const int oh = s.out_h(), ow = s.out_w();
  for (int ci = 0; ci < s.c; ++ci) {
    const T* xc = x + std::size_t(ci) * s.h * s.w;
    for (int kh = 0; kh < s.r; ++kh) {
      for (int kw = 0; kw < s.r; ++kw) {
        T* dst = col + (std::size_t(ci * s.r + kh) * s.r + kw) * oh * ow;
        // Output columns whose input column is inside the image: ow_lo <= o < ow_hi.
        const int off = kw - s.pad;
        const int ow_lo = std::clamp((-off + s.stride - 1) / s.stride, 0, ow);
        const int ow_hi = std::clamp((s.w - off + s.stride - 1) / s.stride, ow_lo, ow);
        for (int o = 0; o < oh; ++o) {
          const int ih = o * s.stride - s.pad + kh;
          T* d = dst + std::size_t(o) * ow;
          if (ih < 0 || ih >= s.h) {
            std::fill(d, d + ow, T(0));
            continue;
          }
          const T* src = xc + std::size_t(ih) * s.w + off;
          std::fill(d, d + ow_lo, T(0));
          if (s.stride == 1) {
            std::copy(src + ow_lo, src + ow_hi, d + ow_lo);
          } else {
            for (int q = ow_lo; q < ow_hi; ++q) d[q] = src[q * s.stride];
          }
          std::fill(d + ow_hi, d + ow, T(0));
        }
      }
    }
  }
}

// Adjoint of im2col: dx[ci][ih][iw] += sum of the col entries that were copied from it.
// dx must be zeroed (or hold values to add to) before the call.
template <class T>
void col2im_add(const ConvShape& s, const T* col, T* dx) {
  const int oh = s.out_h(), ow = s.out_w();
  for (int ci = 0; ci < s.c; ++ci) {
    T* xc = dx + std::size_t(ci) * s.h * s.w;
    for (int kh = 0; kh < s.r; ++kh) {
      for (int kw = 0; kw < s.r; ++kw) {
        const T* src = col + (std::size_t(ci * s.r + kh) * s.r + kw) * oh * ow;
        const int off = kw - s.pad;
        const int ow_lo = std::clamp((-off + s.stride - 1) / s.stride, 0, ow);
        const int ow_hi = std::clamp((s.w - off + s.stride - 1) / s.stride, ow_lo, ow);
        for (int o = 0; o < oh; ++o) {
          const int ih = o * s.stride - s.pad + kh;
          if (ih < 0 || ih >= s.h) continue;
          T* d = xc + std::size_t(ih) * s.w + off;
          const T* c = src + std::size_t(o) * ow;
          if (s.stride == 1) {
            for (int q = ow_lo; q < ow_hi; ++q) d[q] += c[q];
          } else {
            for (int q = ow_lo; q < ow_hi; ++q) d[q * s.stride] += c[q];
          }
        }
      }
    }
  }
}

inline void check_conv_shape(const ConvShape& s, const char* where) {
  IST_CHECK(s.n > 0 && s.c > 0 && s.h > 0 && s.w > 0 && s.k > 0 && s.r > 0 && s.stride > 0 && s.pad >= 0,
            where, ": expected positive sizes, found n=", s.n, " c=", s.c, " h=", s.h, " w=", s.w, " k=", s.k,
            " r=", s.r, " stride=", s.stride, " pad=", s.pad);
  IST_CHECK(s.out_h() > 0 && s.out_w() > 0, where, ": kernel ", s.r, " with pad ", s.pad,
            " does not fit input ", s.h, "x", s.w);
}

}  // namespace detail

// y: [n, k, oh, ow] (overwritten); x: [n, c, h, w]; w: [k, c, r, r].
template <class T>
void conv2d_forward(CpuContext& ctx, const ConvShape& s, const T* x, const T* w, T* y) {
  detail::check_conv_shape(s, "ist::eigen::conv2d_forward");
  const int ohw = s.out_h() * s.out_w();
  const int crr = s.c * s.r * s.r;
  const std::size_t in_img = std::size_t(s.c) * s.h * s.w;
  const std::size_t out_img = std::size_t(s.k) * ohw;
  const int nt = std::min(ctx.threads(), s.n);
  if (!s.is_pointwise())
    for (int t = 0; t < nt; ++t) ctx.scratch<T>(t, std::size_t(crr) * ohw);
  detail::ConstColMap<T> W(w, crr, s.k);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int i = 0; i < s.n; ++i) {
    const T* xi = x + i * in_img;
    detail::ColMap<T> Y(y + i * out_img, ohw, s.k);
    if (s.is_pointwise()) {
      Y.noalias() = detail::ConstColMap<T>(xi, ohw, crr) * W;
    } else {
      T* col = ctx.scratch<T>(omp_get_thread_num(), std::size_t(crr) * ohw);
      detail::im2col(s, xi, col);
      Y.noalias() = detail::ConstColMap<T>(col, ohw, crr) * W;
    }
  }
}

// Backward of conv2d_forward. dw: [k, c, r, r] accumulated (+=). dx: [n, c, h, w], overwritten (or added
// to when accumulate_dx); pass dx = nullptr when the input gradient is not needed.
template <class T>
void conv2d_backward(CpuContext& ctx, const ConvShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     bool accumulate_dx = false) {
  detail::check_conv_shape(s, "ist::eigen::conv2d_backward");
  const int ohw = s.out_h() * s.out_w();
  const int crr = s.c * s.r * s.r;
  const std::size_t in_img = std::size_t(s.c) * s.h * s.w;
  const std::size_t out_img = std::size_t(s.k) * ohw;
  const std::size_t wsize = std::size_t(crr) * s.k;
  const std::size_t col_size = s.is_pointwise() ? 0 : std::size_t(crr) * ohw;
  const int nt = std::min(ctx.threads(), s.n);
  for (int t = 0; t < nt; ++t) ctx.scratch<T>(t, col_size + wsize);
  detail::ConstColMap<T> W(w, crr, s.k);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    T* scratch = ctx.scratch<T>(t, col_size + wsize);
    T* col = scratch;
    detail::ColMap<T> dW(scratch + col_size, crr, s.k);
    dW.setZero();
#pragma omp for schedule(static)
    for (int i = 0; i < s.n; ++i) {
      const T* xi = x + i * in_img;
      detail::ConstColMap<T> dY(dy + i * out_img, ohw, s.k);
      if (s.is_pointwise()) {
        dW.noalias() += detail::ConstColMap<T>(xi, ohw, crr).transpose() * dY;
        if (dx) {
          detail::ColMap<T> dX(dx + i * in_img, ohw, crr);
          if (accumulate_dx)
            dX.noalias() += dY * W.transpose();
          else
            dX.noalias() = dY * W.transpose();
        }
      } else {
        detail::im2col(s, xi, col);
        detail::ColMap<T> Col(col, ohw, crr);
        dW.noalias() += Col.transpose() * dY;
        if (dx) {
          Col.noalias() = dY * W.transpose();  // reuse the buffer for d(col)
          T* dxi = dx + i * in_img;
          if (!accumulate_dx) std::fill(dxi, dxi + in_img, T(0));
          detail::col2im_add(s, col, dxi);
        }
      }
    }
  }
  // Sum the per-thread weight gradients in thread order.
  detail::ColMap<T> dWout(dw, crr, s.k);
  for (int t = 0; t < nt; ++t) dWout += detail::ColMap<T>(ctx.scratch<T>(t, col_size + wsize) + col_size, crr, s.k);
}

}  // namespace ist::eigen
