#pragma once
// 2-D convolution on Eigen, NCHW, square kernels, zero padding, no bias.
//
// Two algorithms, chosen by shape:
//
// * "Same" stride-1 convolutions (odd r, pad = (r-1)/2: every 3x3 pad-1 layer of a ResNet) run as a
//   direct convolution on a zero-padded copy of each image. With the input plane padded to width
//   pw = w + 2*pad, output pixel q = i*pw + j (j < w; the columns j >= w are computed and dropped) is
//     y[k][q] = sum_{c, kh, kw} w[k][c][kh][kw] * xpad[c][q + kh*pw + kw],
//   a matrix product whose right-hand rows are shifted views of the padded planes, so nothing is
//   expanded 9x (no im2col). The register-blocked micro-kernel keeps KB output channels x PB packets
//   of pixels in registers and broadcasts one weight per channel and tap. The input gradient is the
//   same kernel on the padded dy with the flipped, transposed weights (no col2im scatter, no memset),
//   and the weight gradient is a packet-wise dot product of padded dy with the shifted input views.
// * Everything else (stride 2, 1x1 projections, other paddings) is one GEMM per image,
//   col = im2col(x_n) stored [c*r*r][out_h*out_w]:  y_n [k][out_hw] = w [k][c*r*r] * col,
//   in Eigen's column-major view Y(out_hw x k) = Col(out_hw x crr) * W(crr x k). A pointwise
//   convolution (1x1, stride 1, no padding) skips im2col.
//
// Images are spread over the context's threads; each thread has its own scratch (padded planes or
// im2col buffer) and, in the backward pass, its own weight-gradient buffer, summed in thread order
// (deterministic for a given thread count).
//
// Gradient contract: weight gradients accumulate (+=); input gradients overwrite unless
// accumulate_dx is set, in which case they are added.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <omp.h>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/core/error.hpp"
#include "ist/core/shape.hpp"

namespace ist::eigen {

namespace detail {

template <class T>
using ColMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>;
template <class T>
using ConstColMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>;

// ---- im2col path ---------------------------------------------------------------------------------

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
            for (int q = 0; q < ow; ++q) d[q] = T(0);
            continue;
          }
          const T* src = xc + std::size_t(ih) * s.w + off;
          for (int q = 0; q < ow_lo; ++q) d[q] = T(0);
          if (s.stride == 1) {
            for (int q = ow_lo; q < ow_hi; ++q) d[q] = src[q];
          } else {
            for (int q = ow_lo; q < ow_hi; ++q) d[q] = src[q * s.stride];
          }
          for (int q = ow_hi; q < ow; ++q) d[q] = T(0);
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

// ---- direct path for "same" stride-1 convolutions --------------------------------------------------

template <class T>
using Packet = typename Eigen::internal::packet_traits<T>::type;
template <class T>
inline constexpr int packet_size = Eigen::internal::unpacket_traits<Packet<T>>::size;

// Output channels per register block of the direct kernels.
inline constexpr int kDirectKB = 8;

// Shapes that take the direct path: stride 1, odd r in [3, 7], pad (r-1)/2.
inline bool use_direct(const ConvShape& s) {
  return s.stride == 1 && s.r % 2 == 1 && s.r >= 3 && s.r <= 7 && 2 * s.pad == s.r - 1;
}

// Geometry of one padded plane. Pixel (i, j) of the image sits at grid position q = i*pw + j,
// pw = w + 2*pad, measured from the plane's origin, which is `front` elements (a whole number of
// packets, so the origin is aligned) into the plane; the columns j in [w, pw) and everything before
// and after the image are zero. A tap (kh, kw) of a "same" convolution reads position
// q + (kh - pad)*pw + (kw - pad). Outputs are produced on the same grid, nq positions (h*pw rounded up
// to whole packet blocks; columns j >= w are don't-care).
template <class T>
struct Padded {
  int h, w, pad, pw;
  int shift;          // pad*pw + pad: the largest backward reach of a tap
  int front;          // origin of the grid within the plane
  int nq;             // output positions computed
  std::size_t plane;  // elements per padded plane, slack included
  std::size_t oplane; // elements per output plane

  Padded(int h_, int w_, int r) : h(h_), w(w_), pad((r - 1) / 2), pw(w_ + r - 1) {
    const int L = packet_size<T>;
    shift = pad * pw + pad;
    front = (shift + L - 1) / L * L;
    nq = (h * pw + 3 * L - 1) / (3 * L) * (3 * L);  // whole blocks of the largest pixel block
    // Furthest read: the last block's position nq-1 plus the largest tap reach `shift`, plus the
    // weight-gradient kernel's tap group of 3 that may run 2 past the last tap.
    plane = (std::size_t(front) + std::size_t(nq) + std::size_t(shift) + 2 + std::size_t(L) - 1) / L * L;
    oplane = std::size_t(nq);
  }
  // Offset from the plane's start of tap (kh, kw) read at grid position 0.
  int tap(int kh, int kw) const { return front + (kh - pad) * pw + (kw - pad); }
};

// xp[c] <- the padded copy of x[c] (every element of the plane, slack included, is written).
template <class T>
void pad_planes(const Padded<T>& g, int channels, const T* x, T* xp) {
  for (int c = 0; c < channels; ++c) {
    const T* src = x + std::size_t(c) * g.h * g.w;
    T* dst = xp + std::size_t(c) * g.plane;
    for (int p = 0; p < g.front; ++p) dst[p] = T(0);
    T* d = dst + g.front;
    for (int i = 0; i < g.h; ++i, d += g.pw) {
      const T* row = src + std::size_t(i) * g.w;
      for (int j = 0; j < g.w; ++j) d[j] = row[j];
      for (int j = g.w; j < g.pw; ++j) d[j] = T(0);  // right border of row i, left border of row i+1
    }
    for (T* e = dst + g.plane; d < e; ++d) *d = T(0);
  }
}

// y[k] <- (or +=) the valid columns of the kernel's output planes yq[k].
template <class T>
void unpad_planes(const Padded<T>& g, int channels, const T* yq, T* y, bool add) {
  for (int k = 0; k < channels; ++k) {
    const T* src = yq + std::size_t(k) * g.oplane;
    T* dst = y + std::size_t(k) * g.h * g.w;
    for (int i = 0; i < g.h; ++i) {
      const T* s = src + std::size_t(i) * g.pw;
      T* d = dst + std::size_t(i) * g.w;
      if (add)
        for (int j = 0; j < g.w; ++j) d[j] += s[j];
      else
        for (int j = 0; j < g.w; ++j) d[j] = s[j];
    }
  }
}

// Weights for the direct forward kernel: wt[kb][c][tap][KB] = w[kb*KB + kk][c][tap] (0 for k >= K).
// With `flip`, the weights of the input-gradient convolution instead, whose output channels are the
// forward's inputs: wt[cb][k][tap][KB] = w[k][cb*KB + cc][r*r-1 - tap].
template <class T>
void pack_direct_weights(int k_out, int c_in, int rr, const T* w, bool flip, T* wt) {
  const int kbs = (k_out + kDirectKB - 1) / kDirectKB;
  for (int kb = 0; kb < kbs; ++kb)
    for (int c = 0; c < c_in; ++c)
      for (int t = 0; t < rr; ++t)
        for (int kk = 0; kk < kDirectKB; ++kk) {
          const int k = kb * kDirectKB + kk;
          T v = T(0);
          if (k < k_out)
            v = flip ? w[(std::size_t(c) * k_out + k) * rr + (rr - 1 - t)] : w[(std::size_t(k) * c_in + c) * rr + t];
          wt[((std::size_t(kb) * c_in + c) * rr + t) * kDirectKB + kk] = v;
        }
}

// yq[kb*KB + kk][q] = sum_{c, tap} wt[kb][c][tap][kk] * xp[c][q + off[tap]] for q in [q0, q0 + PB*L).
template <class T, int PB>
inline void direct_block(const T* xp, std::size_t plane, int c_in, int rr, const int* off, const T* wt, T* yq,
                         std::size_t oplane, int q0) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  constexpr int KB = kDirectKB;
  P acc[KB][PB];
  for (int k = 0; k < KB; ++k)
    for (int j = 0; j < PB; ++j) acc[k][j] = Eigen::internal::pset1<P>(T(0));
  for (int c = 0; c < c_in; ++c) {
    const T* xc = xp + std::size_t(c) * plane + q0;
    const T* wc = wt + std::size_t(c) * rr * KB;
    for (int t = 0; t < rr; ++t) {
      const T* xs = xc + off[t];
      P xv[PB];
      for (int j = 0; j < PB; ++j) xv[j] = Eigen::internal::ploadu<P>(xs + j * L);
      const T* wk = wc + t * KB;
      for (int k = 0; k < KB; ++k) {
        const P wv = Eigen::internal::pset1<P>(wk[k]);
        for (int j = 0; j < PB; ++j) acc[k][j] = Eigen::internal::pmadd(xv[j], wv, acc[k][j]);
      }
    }
  }
  for (int k = 0; k < KB; ++k)
    for (int j = 0; j < PB; ++j) Eigen::internal::pstoreu(yq + std::size_t(k) * oplane + q0 + j * L, acc[k][j]);
}

// Pixel packets per block: the largest of 3, 2, 1 that wastes the fewest packets on the last block.
template <class T>
int direct_pb(int positions) {
  const int L = packet_size<T>;
  const int nv = (positions + L - 1) / L;
  int best = 3, best_cost = (nv + 2) / 3 * 3;
  for (int pb : {2, 1}) {
    const int cost = (nv + pb - 1) / pb * pb;
    if (cost < best_cost) best = pb, best_cost = cost;
  }
  return best;
}

// The whole output of one image: yq[k_pad][oplane] from xp[c_in][plane].
template <class T>
void direct_conv(const Padded<T>& g, int c_in, int k_out, int r, const T* xp, const T* wt, T* yq) {
  constexpr int L = packet_size<T>;
  const int rr = r * r;
  std::array<int, 49> off{};
  for (int kh = 0; kh < r; ++kh)
    for (int kw = 0; kw < r; ++kw) off[std::size_t(kh * r + kw)] = g.tap(kh, kw);
  const int positions = g.h * g.pw;
  const int pb = direct_pb<T>(positions);
  const int blk = pb * L;
  const int kbs = (k_out + kDirectKB - 1) / kDirectKB;
  for (int kb = 0; kb < kbs; ++kb) {
    const T* wk = wt + std::size_t(kb) * c_in * rr * kDirectKB;
    T* yk = yq + std::size_t(kb) * kDirectKB * g.oplane;
    for (int q0 = 0; q0 < positions; q0 += blk) {
      if (pb == 3)
        direct_block<T, 3>(xp, g.plane, c_in, rr, off.data(), wk, yk, g.oplane, q0);
      else if (pb == 2)
        direct_block<T, 2>(xp, g.plane, c_in, rr, off.data(), wk, yk, g.oplane, q0);
      else
        direct_block<T, 1>(xp, g.plane, c_in, rr, off.data(), wk, yk, g.oplane, q0);
    }
  }
}

// dw[k][c][kh][kw] += sum_{img, q} dyp[img][k][q] * xp[img][c][q + tap(kh, kw)] over a group of images,
// q over the grid (dy's don't-care columns are the zero borders of its padded copy; its loads are
// aligned). Images of the group are img_stride elements apart in xp and in dyp. The
// packet sums are reduced once per group, so small images (7x7) do not pay a reduction per image.
template <class T>
void direct_weight_grad(const Padded<T>& g, int c_in, int k_out, int r, const T* xp, const T* dyp,
                        std::size_t x_img, std::size_t dy_img, int images, T* dw) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  constexpr int KB = kDirectKB;
  constexpr int JB = 3;  // taps of one kernel row held at once
  const int nv = (g.h * g.pw + L - 1) / L;
  const int rr = r * r;
  for (int k0 = 0; k0 < k_out; k0 += KB) {
    const int kn = std::min(KB, k_out - k0);
    std::size_t dk[KB];
    for (int kk = 0; kk < KB; ++kk) dk[kk] = std::size_t(k0 + std::min(kk, kn - 1)) * g.plane + std::size_t(g.front);
    for (int c = 0; c < c_in; ++c) {
      for (int kh = 0; kh < r; ++kh) {
        const std::size_t xr = std::size_t(c) * g.plane + std::size_t(g.tap(kh, 0));
        for (int j0 = 0; j0 < r; j0 += JB) {
          const int jn = std::min(JB, r - j0);
          P acc[KB][JB];
          for (int kk = 0; kk < KB; ++kk)
            for (int j = 0; j < JB; ++j) acc[kk][j] = Eigen::internal::pset1<P>(T(0));
          for (int img = 0; img < images; ++img) {
            const T* xi = xp + img * x_img + xr + j0;
            const T* di = dyp + img * dy_img;
            for (int v = 0; v < nv; ++v) {
              const int q = v * L;
              P xv[JB];
              for (int j = 0; j < JB; ++j) xv[j] = Eigen::internal::ploadu<P>(xi + q + j);
              for (int kk = 0; kk < KB; ++kk) {
                const P d = Eigen::internal::ploadu<P>(di + dk[kk] + q);  // aligned
                for (int j = 0; j < JB; ++j) acc[kk][j] = Eigen::internal::pmadd(d, xv[j], acc[kk][j]);
              }
            }
          }
          for (int kk = 0; kk < kn; ++kk)
            for (int j = 0; j < jn; ++j)
              dw[(std::size_t(k0 + kk) * c_in + c) * rr + kh * r + j0 + j] += Eigen::internal::predux(acc[kk][j]);
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

inline std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

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
  if (detail::use_direct(s)) {
    const detail::Padded<T> g(s.h, s.w, s.r);
    const int k_pad = (s.k + detail::kDirectKB - 1) / detail::kDirectKB * detail::kDirectKB;
    const std::size_t wt_size = detail::round_up(std::size_t(k_pad) * crr, 64);
    const std::size_t xp_size = detail::round_up(std::size_t(s.c) * g.plane, 64);
    const std::size_t need = wt_size + xp_size + std::size_t(k_pad) * g.oplane;
    for (int t = 0; t < nt; ++t) ctx.scratch<T>(t, need);
#pragma omp parallel num_threads(nt)
    {
      T* wt = ctx.scratch<T>(omp_get_thread_num(), need);
      T* xp = wt + wt_size;
      T* yq = xp + xp_size;
      detail::pack_direct_weights(s.k, s.c, s.r * s.r, w, false, wt);
#pragma omp for schedule(static)
      for (int i = 0; i < s.n; ++i) {
        detail::pad_planes(g, s.c, x + i * in_img, xp);
        detail::direct_conv(g, s.c, s.k, s.r, xp, wt, yq);
        detail::unpad_planes(g, s.k, yq, y + i * out_img, false);
      }
    }
    return;
  }
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
  const std::size_t wsize = detail::round_up(std::size_t(crr) * s.k, 64);
  const int nt = std::min(ctx.threads(), s.n);
  if (detail::use_direct(s)) {
    // Input gradient: a "same" convolution of dy (k channels) with the flipped weights, c outputs.
    // Images are padded in groups that fit in about half a megabyte, and the weight gradient of a group
    // is one pass.
    const detail::Padded<T> g(s.h, s.w, s.r);
    const int c_pad = (s.c + detail::kDirectKB - 1) / detail::kDirectKB * detail::kDirectKB;
    const std::size_t wt_size = detail::round_up(std::size_t(c_pad) * s.k * s.r * s.r, 64);
    const std::size_t x_img = detail::round_up(std::size_t(s.c) * g.plane, 64);
    const std::size_t dy_img = detail::round_up(std::size_t(s.k) * g.plane, 64);
    const int group = int(std::clamp<std::size_t>((std::size_t(512) << 10) / ((x_img + dy_img) * sizeof(T)), 1, 16));
    const std::size_t dxq_size = dx ? std::size_t(c_pad) * g.oplane : 0;
    const std::size_t need = wsize + wt_size + group * (x_img + dy_img) + dxq_size;
    for (int t = 0; t < nt; ++t) ctx.scratch<T>(t, need);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      T* dW = ctx.scratch<T>(t, need);
      T* wt = dW + wsize;
      T* xp = wt + wt_size;
      T* dyp = xp + group * x_img;
      T* dxq = dyp + group * dy_img;
      std::fill(dW, dW + std::size_t(crr) * s.k, T(0));
      if (dx) detail::pack_direct_weights(s.c, s.k, s.r * s.r, w, true, wt);
      const int i_end = int(std::int64_t(s.n) * (t + 1) / nt);
      for (int i0 = int(std::int64_t(s.n) * t / nt); i0 < i_end; i0 += group) {
        const int gn = std::min(group, i_end - i0);
        for (int j = 0; j < gn; ++j) {
          detail::pad_planes(g, s.c, x + (i0 + j) * in_img, xp + j * x_img);
          detail::pad_planes(g, s.k, dy + (i0 + j) * out_img, dyp + j * dy_img);
        }
        detail::direct_weight_grad(g, s.c, s.k, s.r, xp, dyp, x_img, dy_img, gn, dW);
        if (dx)
          for (int j = 0; j < gn; ++j) {
            detail::direct_conv(g, s.k, s.c, s.r, dyp + j * dy_img, wt, dxq);
            detail::unpad_planes(g, s.c, dxq, dx + (i0 + j) * in_img, accumulate_dx);
          }
      }
    }
    for (int t = 0; t < nt; ++t) {
      const T* part = ctx.scratch<T>(t, need);
      for (std::size_t j = 0; j < std::size_t(crr) * s.k; ++j) dw[j] += part[j];
    }
    return;
  }
  const std::size_t col_size = s.is_pointwise() ? 0 : detail::round_up(std::size_t(crr) * ohw, 64);
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
