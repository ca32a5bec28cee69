#pragma once
// 2-D convolution on Eigen, NCHW, square kernels, zero padding, no bias.
//
// Two algorithms, chosen by shape:
//
// * "Same" stride-1 convolutions (odd r, pad = (r-1)/2: every 3x3 pad-1 layer of a ResNet) run as a
//   direct convolution on a zero-padded copy of each image. With the input rows laid out at pitch
//   pw = w + pad (the pad zero columns between two rows serve as both borders), output pixel
//   q = i*pw + j (j < w; the columns j >= w are computed and dropped) is
//     y[k][q] = sum_{c, kh, kw} w[k][c][kh][kw] * xpad[c][q + (kh - pad)*pw + (kw - pad)],
//   a matrix product whose right-hand rows are shifted views of the padded planes, so nothing is
//   expanded 9x (no im2col). The register-blocked micro-kernel keeps KB output channels x PB packets
//   of pixels in registers and broadcasts one weight per channel and tap. The input gradient is the
//   same kernel on the padded dy with the flipped, transposed weights (no col2im scatter, no memset).
//   The weight gradient reads a position-major (channel-fastest) padded copy of the input: packets over
//   input channels, dy values broadcast (direct_weight_grad_t); with fewer input channels than a packet,
//   packet dot products of dy with the shifted input views instead (dot_weight_grad); when only the weight
//   gradient is wanted and the input has fewer planes than dy (the stem), dy where it lies against shifted
//   copies of the input.
// * "Same" 3x3 stride-1 convolutions whose input and output channels are whole packets (16, 32, 64 with
//   AVX-512; multiples of 8 with AVX2) run as Winograd F(2x2, 3x3) instead, all three products (forward,
//   input gradient, weight gradient): 2.25x fewer multiply-adds per output, plus additions in the
//   transforms (see "Winograd" below). SamePath forces a path for tests and benchmarks.
// * Stride-2 3x3 pad-1 convolutions run the same kernels over the four phase planes of the input
//   (see "stride 2" below).
// * Everything else (1x1 projections, other paddings) is one GEMM per image,
//   col = im2col(x_n) stored [c*r*r][out_h*out_w]:  y_n [k][out_hw] = w [k][c*r*r] * col,
//   in Eigen's column-major view Y(out_hw x k) = Col(out_hw x crr) * W(crr x k), run by gemm() (gemm.hpp:
//   Eigen's packed GEMM on the calling thread, whatever the shape, the addresses or Eigen's thread count).
//   A pointwise convolution (1x1, stride 1, no padding) skips im2col.
//
// Images are spread over the context's threads; each thread has its own scratch (padded planes or
// im2col buffer) and, in the backward pass, its own weight-gradient buffer, summed in thread order
// (deterministic for a given thread count).
//
// Gradient contract: weight gradients accumulate (+=); input gradients overwrite unless
// accumulate_dx is set, in which case they are added.
#include <Eigen/Core>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <omp.h>
#include <type_traits>
#include <vector>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/gemm.hpp"
#include "ist/core/error.hpp"
#include "ist/core/shape.hpp"

// Complete unrolling of the register-block loops (trip counts that are template constants: KB, PB, KV, CV, the 3
// taps of a row, the 4 rows of a Winograd tile), so that their accumulators stay in registers at any
// optimization level: g++ unrolls them at -O3 on its own but not at -O2 (CMake's RelWithDebInfo), where the
// accumulators lived on the stack and the step took 2x as long. Unrolling changes no arithmetic.
#if defined(__CUDACC__)  // nvcc's front end does not know the pragma (and warns); .cu files build at -O3
#define IST_UNROLL_FULLY
#else
#define IST_UNROLL_FULLY _Pragma("GCC unroll 64")
#endif


namespace ist::eigen {

namespace detail {

template <class T>
using ColMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>;

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
inline constexpr int packet_size = Eigen::internal::packet_traits<T>::size;

// Vector registers of the target (32 with AVX-512 or NEON, 16 with AVX2 or SSE on x86-64): the register
// blocking of the direct kernels is sized to fit them, so that no accumulator lives on the stack.
inline constexpr int kVectorRegisters = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS;

// Output channels per register block of the direct kernels: KB x 3 pixel packets of accumulators, plus 3
// input loads and one broadcast, fill 28 of 32 registers (KB = 8) or all 16 (KB = 4).
inline constexpr int kDirectKB = kVectorRegisters >= 32 ? 8 : 4;

// Shapes that take the direct path: stride 1, odd r in [3, 7], pad (r-1)/2.
inline bool use_direct(const ConvShape& s) {
  return s.stride == 1 && s.r % 2 == 1 && s.r >= 3 && s.r <= 7 && 2 * s.pad == s.r - 1;
}

// Geometry of one padded plane. Pixel (i, j) of the image sits at grid position q = i*pw + j,
// pw = w + pad, measured from the plane's origin, which is `front` elements (a whole number of
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

  // A "same" convolution's grid: pitch w + pad is enough, the pad zero columns after row i are both its
  // right border and row i+1's left border.
  Padded(int h_, int w_, int r) : Padded(h_, w_, w_ + (r - 1) / 2, ((r - 1) / 2) * (w_ + (r - 1) / 2) + (r - 1) / 2) {
    pad = (r - 1) / 2;
  }
  // A grid of rows x cols pixels with row pitch `pitch` whose taps reach at most `reach` positions
  // before or after the one they serve.
  Padded(int rows, int cols, int pitch, int reach) : h(rows), w(cols), pad(0), pw(pitch), shift(reach) {
    const int L = packet_size<T>;
    front = (shift + L - 1) / L * L;
    nq = (h * pw + 3 * L - 1) / (3 * L) * (3 * L);  // whole blocks of the largest pixel block
    // Furthest read: the last block's position nq-1 plus the reach, plus the weight-gradient kernel's
    // tap group of 3 that may run 2 past the last tap.
    plane = (std::size_t(front) + std::size_t(nq) + std::size_t(shift) + 2 + std::size_t(L) - 1) / L * L;
    oplane = std::size_t(nq);
  }
  // Offset from the plane's start of tap (kh, kw) read at grid position 0.
  int tap(int kh, int kw) const { return front + (kh - pad) * pw + (kw - pad); }
};

// Masked loads and stores for the ends of rows only with AVX-512. AVX2's (vmaskmovps) are slow on AMD's
// cores: on an AVX2-only Zen 3, the masked loads at the ends of the rows of a copy took 30-70% of the
// copy (and of a 1x1 stride-2 projection, 70%). Without them a row ends in overlapping packets or half
// packets, or element by element.
#if defined(EIGEN_VECTORIZE_AVX512)
inline constexpr bool kMaskedRowEnds = true;
#else
inline constexpr bool kMaskedRowEnds = false;
#endif

// Row moves of the padding copies, in packets: d[0, n) <- s[0, n) (or += with Add). Exactly d[0, n) is
// written and s[0, n) read. A copy of a row of a packet or more ends with a packet overlapping the previous
// one. Otherwise the rest takes a masked load and store where kMaskedRowEnds, else a half packet (AVX: 4
// floats), for a copy a second half packet overlapping the first, and element by element what is left.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // a vector type as template argument, as in Eigen
#endif
template <class T, bool Add = false>
inline void move_row(T* d, const T* s, int n) {
  using P = Packet<T>;
  using Traits = Eigen::internal::unpacket_traits<P>;
  constexpr int L = packet_size<T>;
  int j = 0;
  for (; j + L <= n; j += L) {
    P v = Eigen::internal::ploadu<P>(s + j);
    if constexpr (Add) v = Eigen::internal::padd(v, Eigen::internal::ploadu<P>(d + j));
    Eigen::internal::pstoreu(d + j, v);
  }
  if (j == n) return;
  if constexpr (!Add) {
    if (n >= L) {
      Eigen::internal::pstoreu(d + n - L, Eigen::internal::ploadu<P>(s + n - L));
      return;
    }
  }
  if constexpr (kMaskedRowEnds && bool(Traits::masked_load_available) && bool(Traits::masked_store_available)) {
    using Mask = typename Traits::mask_t;
    const Mask m = Mask((1u << (n - j)) - 1u);
    P v = Eigen::internal::ploadu<P>(s + j, m);
    if constexpr (Add) v = Eigen::internal::padd(v, Eigen::internal::ploadu<P>(d + j, m));
    Eigen::internal::pstoreu(d + j, v, m);
  } else {
    using H = typename Traits::half;
    constexpr int HL = Eigen::internal::unpacket_traits<H>::size;
    if constexpr (HL < L) {
      if (n - j >= HL) {
        H v = Eigen::internal::ploadu<H>(s + j);
        if constexpr (Add) v = Eigen::internal::padd(v, Eigen::internal::ploadu<H>(d + j));
        Eigen::internal::pstoreu(d + j, v);
        j += HL;
      }
      if constexpr (!Add) {
        if (j < n && n >= HL) {
          Eigen::internal::pstoreu(d + n - HL, Eigen::internal::ploadu<H>(s + n - HL));
          return;
        }
      }
    }
    for (; j < n; ++j) d[j] = Add ? d[j] + s[j] : s[j];
  }
}

// d[0, n) <- s[0, n) for a row of a padded plane that is not the plane's last: where kMaskedRowEnds the
// row's last packet is loaded masked (zeros past n) and stored whole, so up to a packet past n is written
// with zeros, over the row's border and the start of the next row, which is written after it (a masked
// store there was slow). Otherwise move_row.
template <class T>
inline void pad_row(T* d, const T* s, int n) {
  using P = Packet<T>;
  using Traits = Eigen::internal::unpacket_traits<P>;
  constexpr int L = packet_size<T>;
  if constexpr (kMaskedRowEnds && bool(Traits::masked_load_available)) {
    int j = 0;
    for (; j + L <= n; j += L) Eigen::internal::pstoreu(d + j, Eigen::internal::ploadu<P>(s + j));
    if (j < n) {
      using Mask = typename Traits::mask_t;
      Eigen::internal::pstoreu(d + j, Eigen::internal::ploadu<P>(s + j, Mask((1u << (n - j)) - 1u)));
    }
  } else {
    move_row(d, s, n);
  }
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

// [b, e) <- 0 in packets (a range of a packet or more ends with an overlapping one).
template <class T>
inline void zero_fill(T* b, T* e) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  if (e - b < L) {
    for (; b < e; ++b) *b = T(0);
    return;
  }
  const P z = Eigen::internal::pset1<P>(T(0));
  for (; b + L <= e; b += L) Eigen::internal::pstoreu(b, z);
  if (b < e) Eigen::internal::pstoreu(e - L, z);
}

// xp[c] <- the padded copy of x[c] (every element of the plane, slack included, is written).
template <class T>
void pad_planes(const Padded<T>& g, int channels, const T* x, T* xp) {
  for (int c = 0; c < channels; ++c) {
    const T* src = x + std::size_t(c) * g.h * g.w;
    T* dst = xp + std::size_t(c) * g.plane;
    zero_fill(dst, dst + g.front);
    T* d = dst + g.front;
    // Rows whose whole packets end inside the plane, the last row excepted, may write past the row: over its
    // border and row i+1's first cells (written after), or the plane's tail (zeroed after).
    const std::size_t whole = (std::size_t(g.w) + packet_size<T> - 1) / packet_size<T> * packet_size<T>;
    for (int i = 0; i < g.h; ++i, d += g.pw) {
      const T* row = src + std::size_t(i) * g.w;
      if (i + 1 < g.h && std::size_t(d - dst) + whole <= g.plane)
        pad_row(d, row, g.w);
      else
        move_row(d, row, g.w);
      // The right border of row i, which is the left border of row i+1: one cell for 3x3 (the first store
      // peeled, so that the compiler does not make the loop a memset call per row).
      if (g.pw > g.w) d[g.w] = T(0);
      for (int j = g.w + 1; j < g.pw; ++j) d[j] = T(0);
    }
    zero_fill(d, dst + g.plane);
  }
}

// y[k] <- (or +=) the valid columns of the kernel's output planes yq[k]. A copied row moves whole packets
// (`whole` elements) where the extra lands on cells written after it (the next row, or the next channel's
// plane, which this call writes later) and the read stays inside the source plane: rows of 7 or 14 would
// otherwise each end with a masked store (slow on AMD with AVX2). A grid without border columns (pitch w)
// is one contiguous row per plane.
template <class T>
void unpad_planes(const Padded<T>& g, int channels, const T* yq, T* y, bool add) {
  constexpr int L = packet_size<T>;
  const std::size_t hw = std::size_t(g.h) * g.w;
  const std::size_t whole = (std::size_t(g.w) + L - 1) / L * L;
  for (int k = 0; k < channels; ++k) {
    const T* src = yq + std::size_t(k) * g.oplane;
    T* dst = y + std::size_t(k) * hw;
    if (g.pw == g.w) {
      if (add)
        move_row<T, true>(dst, src, int(hw));
      else
        move_row(dst, src, int(hw));
      continue;
    }
    for (int i = 0; i < g.h; ++i) {
      const T* s = src + std::size_t(i) * g.pw;
      T* d = dst + std::size_t(i) * g.w;
      const bool spill_ok = std::size_t(i) * g.pw + whole <= g.oplane &&
                            std::size_t(i) * g.w + whole <= (k + 1 < channels ? 2 * hw : hw);
      if (add)
        move_row<T, true>(d, s, g.w);
      else
        move_row(d, s, spill_ok ? int(whole) : g.w);
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

// yq[kb*KB + kk][q] = sum_e wt[kb][e][kk] * base[eoff[e] + q] for q in [q0, q0 + PB*L): an implicit
// matrix product whose right-hand rows (entries e: an input channel and a tap) are shifted views of the
// padded input planes.
template <class T, int PB>
inline void direct_block(const T* base, const int* eoff, int entries, const T* wt, T* yq, std::size_t oplane,
                         int q0) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  constexpr int KB = kDirectKB;
  P acc[KB][PB];
  IST_UNROLL_FULLY
  for (int k = 0; k < KB; ++k)
    IST_UNROLL_FULLY
    for (int j = 0; j < PB; ++j) acc[k][j] = Eigen::internal::pset1<P>(T(0));
  const T* bq = base + q0;
  for (int e = 0; e < entries; ++e) {
    const T* xs = bq + eoff[e];
    P xv[PB];
    IST_UNROLL_FULLY
    for (int j = 0; j < PB; ++j) xv[j] = Eigen::internal::ploadu<P>(xs + j * L);
    const T* wk = wt + std::size_t(e) * KB;
    IST_UNROLL_FULLY
    for (int k = 0; k < KB; ++k) {
      const P wv = Eigen::internal::pset1<P>(wk[k]);
      IST_UNROLL_FULLY
      for (int j = 0; j < PB; ++j) acc[k][j] = Eigen::internal::pmadd(xv[j], wv, acc[k][j]);
    }
  }
  IST_UNROLL_FULLY
  for (int k = 0; k < KB; ++k)
    IST_UNROLL_FULLY
    for (int j = 0; j < PB; ++j) Eigen::internal::pstoreu(yq + std::size_t(k) * oplane + q0 + j * L, acc[k][j]);
}

// Pixel packets per block: fewer packets per block leave more of each weight broadcast unused and keep
// fewer independent accumulators (PB = 1: 8, too few to cover the multiply-add latency), so each choice
// is charged its packets computed (the last block included) over a relative speed of 1, 0.95 and 0.6.
template <class T>
int direct_pb(int positions) {
  const int L = packet_size<T>;
  const int nv = (positions + L - 1) / L;
  const double speed[4] = {0, 0.6, 0.95, 1.0};
  int best = 3;
  double best_cost = 1e300;
  for (int pb : {3, 2, 1}) {
    const double cost = double((nv + pb - 1) / pb * pb) / speed[pb];
    if (cost < best_cost) best = pb, best_cost = cost;
  }
  return best;
}

// Output channels [kb*KB, kb*KB + KB) of one image on grid g: yk[KB][oplane] from the entries (eoff,
// wt[kb][e][KB]).
template <class T>
void direct_conv_block(const Padded<T>& g, const int* eoff, int entries, int kb, const T* base, const T* wt, T* yk) {
  constexpr int L = packet_size<T>;
  const int positions = g.h * g.pw;
  const int pb = direct_pb<T>(positions);
  const int blk = pb * L;
  const T* wk = wt + std::size_t(kb) * entries * kDirectKB;
  for (int q0 = 0; q0 < positions; q0 += blk) {
    if (pb == 3)
      direct_block<T, 3>(base, eoff, entries, wk, yk, g.oplane, q0);
    else if (pb == 2)
      direct_block<T, 2>(base, eoff, entries, wk, yk, g.oplane, q0);
    else
      direct_block<T, 1>(base, eoff, entries, wk, yk, g.oplane, q0);
  }
}

// The whole output of one image on grid g: yq[k_pad][oplane].
template <class T>
void direct_conv(const Padded<T>& g, const int* eoff, int entries, int k_out, const T* base, const T* wt, T* yq) {
  const int kbs = (k_out + kDirectKB - 1) / kDirectKB;
  for (int kb = 0; kb < kbs; ++kb)
    direct_conv_block(g, eoff, entries, kb, base, wt, yq + std::size_t(kb) * kDirectKB * g.oplane);
}

// Entries of a "same" stride-1 convolution over `channels` padded planes: e = c*r*r + tap.
template <class T>
void same_entries(const Padded<T>& g, int channels, int r, int* eoff) {
  for (int c = 0; c < channels; ++c)
    for (int kh = 0; kh < r; ++kh)
      for (int kw = 0; kw < r; ++kw) eoff[(c * r + kh) * r + kw] = int(std::size_t(c) * g.plane) + g.tap(kh, kw);
}

// Per-thread integer scratch (entry offsets); grows to the largest request, then is reused.
inline int* int_scratch(std::size_t count) {
  thread_local std::vector<int> buf;
  if (buf.size() < count) buf.resize(count);
  return buf.data();
}

// Where the packet dot products of a weight gradient (dot_weight_grad) read: entry e (an input channel and a
// tap) reads the input at xoff[e] + q and output channel k reads dy at k * dy_plane + dy_front + q, for the
// positions q in [0, positions), whole packets; the images of a group lie x_img (input) and dy_img (dy)
// elements apart. Two layouts use it: padded planes of x and dy, whose don't-care columns are zero in dy's
// copy (weight_grad_terms_padded), and dy where it lies, against shifted copies of x
// (weight_grad_terms_in_place).
struct DotTerms {
  const int* xoff;
  int entries;
  int positions;
  std::size_t x_img, dy_plane, dy_front, dy_img;
};

// dw[k * entries + e] += sum_{img, q} dy[img][k][q] * x[img][xoff[e] + q] over a group of images: KB output
// channels x JB entries of packet sums, reduced once per group, so that small images (7x7) do not pay a
// reduction per image.
template <class T>
void dot_weight_grad(const DotTerms& d, int k_out, const T* x, const T* dy, int images, T* dw) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  constexpr int KB = kDirectKB;
  constexpr int JB = 3;  // entries held at once: the 3 taps of a kernel row for 3x3
  for (int k0 = 0; k0 < k_out; k0 += KB) {
    const int kn = std::min(KB, k_out - k0);
    std::size_t dk[KB];
    IST_UNROLL_FULLY
    for (int kk = 0; kk < KB; ++kk) dk[kk] = std::size_t(k0 + std::min(kk, kn - 1)) * d.dy_plane + d.dy_front;
    for (int e0 = 0; e0 < d.entries; e0 += JB) {
      const int jn = std::min(JB, d.entries - e0);
      std::size_t xo[JB];
      IST_UNROLL_FULLY
      for (int j = 0; j < JB; ++j) xo[j] = std::size_t(d.xoff[e0 + std::min(j, jn - 1)]);
      P acc[KB][JB];
      IST_UNROLL_FULLY
      for (int kk = 0; kk < KB; ++kk)
        IST_UNROLL_FULLY
        for (int j = 0; j < JB; ++j) acc[kk][j] = Eigen::internal::pset1<P>(T(0));
      for (int img = 0; img < images; ++img) {
        const T* xi = x + img * d.x_img;
        const T* di = dy + img * d.dy_img;
        for (int q = 0; q < d.positions; q += L) {
          P xv[JB];
          IST_UNROLL_FULLY
          for (int j = 0; j < JB; ++j) xv[j] = Eigen::internal::ploadu<P>(xi + xo[j] + q);
          IST_UNROLL_FULLY
          for (int kk = 0; kk < KB; ++kk) {
            const P dv = Eigen::internal::ploadu<P>(di + dk[kk] + q);
            IST_UNROLL_FULLY
            for (int j = 0; j < JB; ++j) acc[kk][j] = Eigen::internal::pmadd(dv, xv[j], acc[kk][j]);
          }
        }
      }
      for (int kk = 0; kk < kn; ++kk)
        for (int j = 0; j < jn; ++j)
          dw[std::size_t(k0 + kk) * d.entries + std::size_t(e0 + j)] += Eigen::internal::predux(acc[kk][j]);
    }
  }
}

// The terms of a weight gradient on padded planes (xp and dyp, grid g, r x r taps): e = (c*r + kh)*r + kw
// reads tap (kh, kw) of plane c; every position of the grid's rows, rounded up to whole packets (dy's copy is
// zero there).
template <class T>
DotTerms weight_grad_terms_padded(const Padded<T>& g, int c_in, int r, std::size_t x_img, std::size_t dy_img,
                                  int* xoff) {
  constexpr int L = packet_size<T>;
  same_entries(g, c_in, r, xoff);
  return {xoff, c_in * r * r, (g.h * g.pw + L - 1) / L * L, x_img, g.plane, std::size_t(g.front), dy_img};
}

// ---- a "same" convolution's weight gradient with dy where it lies ----------------------------------------
//
// When only the weight gradient is wanted (the stem: its input is the data), padding dy into the planes'
// layout took a third of the time, being k planes against x's c (1 for the stem). Instead x is copied r times
// per channel, each copy at dy's pitch w and shifted by kw - pad columns with zeros shifted in, with pad zero
// rows above and below: tap (kh, kw) at pixel q = i*w + j is xs[c][kw][kh*w + q], and dy is read in place.
// Needs h*w to be whole packets (so that no dy load runs past an image's last plane).

template <class T>
bool use_dy_in_place(const ConvShape& s) {
  return use_direct(s) && s.c * s.r < s.k && (s.h * s.w) % packet_size<T> == 0;
}

// Elements per shifted copy: (h + 2*pad) rows at pitch w, rounded up to whole packets.
inline std::size_t shifted_plane(const ConvShape& s, int L) {
  return (std::size_t(s.h + s.r - 1) * s.w + L - 1) / L * L;
}

// xs[c*r + kw][(i + pad)*w + j] <- x[c][i][j + kw - pad] (zero where that is outside the image), zero rows
// above and below.
template <class T>
void shifted_copies(const ConvShape& s, const T* x, T* xs) {
  const int pad = (s.r - 1) / 2;
  const std::size_t cp = shifted_plane(s, packet_size<T>);
  for (int c = 0; c < s.c; ++c)
    for (int kw = 0; kw < s.r; ++kw) {
      T* d = xs + (std::size_t(c) * s.r + kw) * cp;
      zero_fill(d, d + std::size_t(pad) * s.w);
      const int shift = kw - pad, lo = std::max(0, -shift), n = s.w - std::abs(shift);
      for (int i = 0; i < s.h; ++i) {
        T* row = d + std::size_t(i + pad) * s.w;
        const T* src = x + (std::size_t(c) * s.h + i) * s.w;
        for (int j = 0; j < lo; ++j) row[j] = T(0);
        move_row(row + lo, src + lo + shift, n);
        for (int j = lo + n; j < s.w; ++j) row[j] = T(0);
      }
      zero_fill(d + std::size_t(s.h + pad) * s.w, d + cp);
    }
}

// The terms on those copies: e = (c*r + kh)*r + kw reads copy (c, kw) from row kh; dy's planes as they lie.
template <class T>
DotTerms weight_grad_terms_in_place(const ConvShape& s, std::size_t x_img, int* xoff) {
  const std::size_t cp = shifted_plane(s, packet_size<T>);
  for (int c = 0; c < s.c; ++c)
    for (int kh = 0; kh < s.r; ++kh)
      for (int kw = 0; kw < s.r; ++kw)
        xoff[(c * s.r + kh) * s.r + kw] = int((std::size_t(c) * s.r + kw) * cp + std::size_t(kh) * s.w);
  const int hw = s.h * s.w;
  return {xoff, s.c * s.r * s.r, hw, x_img, std::size_t(hw), 0, std::size_t(s.k) * hw};
}

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // a vector type as template argument, as in Eigen
#endif
// L packets src[j * stride, j * stride + L) for j < L, transposed in registers: packet i holds element i of
// each (an L x L tile turned from rows to columns).
template <class T>
inline Eigen::internal::PacketBlock<Packet<T>, packet_size<T>> load_transposed(const T* src, std::size_t stride) {
  Eigen::internal::PacketBlock<Packet<T>, packet_size<T>> blk;
  for (int j = 0; j < packet_size<T>; ++j) blk.packet[j] = Eigen::internal::ploadu<Packet<T>>(src + j * stride);
  Eigen::internal::ptranspose(blk);
  return blk;
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

// xt[p][c] <- the padded planes of x, transposed: position-major, channel fastest (channels a multiple
// of the packet size). Every element, slack included, is written (with zero_borders = false, only the
// image's pixels: a caller that reuses xt for images of the same grid zeroes it once). Whole L x L tiles
// (L channels x L pixels) go through a register transpose; the pixels left over are copied one by one.
template <class T>
void pad_planes_transposed(const Padded<T>& g, int channels, const T* x, T* xt, bool zero_borders = true) {
  constexpr int L = packet_size<T>;
  const std::size_t cs = std::size_t(channels);
  const int hw = g.h * g.w;
  if (zero_borders) {
    std::fill(xt, xt + std::size_t(g.front) * cs, T(0));
    for (int i = 0; i < g.h; ++i) {
      T* border = xt + (std::size_t(g.front) + std::size_t(i) * g.pw + g.w) * cs;
      std::fill(border, border + std::size_t(g.pw - g.w) * cs, T(0));
    }
    std::fill(xt + (std::size_t(g.front) + std::size_t(g.h) * g.pw) * cs, xt + g.plane * cs, T(0));
  }
  const int full = hw / L * L;
  for (int c0 = 0; c0 < channels; c0 += L) {
    const T* src = x + std::size_t(c0) * hw;
    // The pixels in order: (r, q) is the next one's grid row and column, advanced rather than divided out.
    int r = 0, q = 0;
    auto next = [&] {
      T* d = xt + (std::size_t(g.front) + std::size_t(r) * g.pw + std::size_t(q)) * cs + c0;
      if (++q == g.w) q = 0, ++r;
      return d;
    };
    for (int p0 = 0; p0 < full; p0 += L) {
      const auto blk = load_transposed(src + p0, std::size_t(hw));
      for (int jj = 0; jj < L; ++jj) Eigen::internal::pstore(next(), blk.packet[jj]);
    }
    for (int p = full; p < hw; ++p) {
      T* d = next();
      for (int cc = 0; cc < L; ++cc) d[cc] = src[std::size_t(cc) * hw + p];
    }
  }
}

// Weight gradient of a 3x3 convolution with input channels a multiple of the packet size, from the
// transposed padded input: dwt[k][tap][c] += sum_{img, pixel q} dyg[img][k][q] * xt[img][q + toff[tap]][c],
// q over the rows x cols pixels of dy's grid g (pitch g.pw, origin g.front); toff[tap] is the position
// offset of the tap in xt (for stride 2: in the tap's phase plane). Packets run over input channels (CV
// of them), KB output-channel gradients are broadcast, and the three taps of a kernel row share them:
// per pixel 3*CV aligned loads and KB broadcasts feed 3*CV*KB multiply-adds, the accumulators never need
// a horizontal sum, and only real pixels are visited.
template <class T, int KB, int CV>
void direct_weight_grad_t(const Padded<T>& g, int c_in, int k_out, const int* toff, const T* xt, const T* dyg,
                          std::size_t x_img, std::size_t dy_img, int images, T* dwt) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  const std::size_t cs = std::size_t(c_in);
  for (int k0 = 0; k0 < k_out; k0 += KB) {
    const int kn = std::min(KB, k_out - k0);
    std::size_t dk[KB];
    IST_UNROLL_FULLY
    for (int kk = 0; kk < KB; ++kk) dk[kk] = std::size_t(k0 + std::min(kk, kn - 1)) * g.plane + std::size_t(g.front);
    for (int c0 = 0; c0 < c_in; c0 += CV * L) {
      for (int kh = 0; kh < 3; ++kh) {
        const std::size_t o0 = std::size_t(toff[kh * 3]) * cs, o1 = std::size_t(toff[kh * 3 + 1]) * cs,
                          o2 = std::size_t(toff[kh * 3 + 2]) * cs;
        P acc[KB][3][CV];
        IST_UNROLL_FULLY
        for (int kk = 0; kk < KB; ++kk)
          IST_UNROLL_FULLY
          for (int kw = 0; kw < 3; ++kw)
            IST_UNROLL_FULLY
            for (int v = 0; v < CV; ++v) acc[kk][kw][v] = Eigen::internal::pset1<P>(T(0));
        for (int img = 0; img < images; ++img) {
          const T* di = dyg + img * dy_img;
          const T* xi = xt + img * x_img + std::size_t(c0);
          for (int i = 0; i < g.h; ++i) {
            for (int j = 0; j < g.w; ++j) {
              const int q = i * g.pw + j;
              const T* xq = xi + std::size_t(q) * cs;
              P xv[3][CV];
              IST_UNROLL_FULLY
              for (int v = 0; v < CV; ++v) {
                xv[0][v] = Eigen::internal::pload<P>(xq + o0 + v * L);
                xv[1][v] = Eigen::internal::pload<P>(xq + o1 + v * L);
                xv[2][v] = Eigen::internal::pload<P>(xq + o2 + v * L);
              }
              IST_UNROLL_FULLY
              for (int kk = 0; kk < KB; ++kk) {
                const P d = Eigen::internal::pset1<P>(di[dk[kk] + std::size_t(q)]);
                IST_UNROLL_FULLY
                for (int kw = 0; kw < 3; ++kw)
                  IST_UNROLL_FULLY
                  for (int v = 0; v < CV; ++v) acc[kk][kw][v] = Eigen::internal::pmadd(xv[kw][v], d, acc[kk][kw][v]);
              }
            }
          }
        }
        for (int kk = 0; kk < kn; ++kk)
          IST_UNROLL_FULLY
          for (int kw = 0; kw < 3; ++kw)
            IST_UNROLL_FULLY
            for (int v = 0; v < CV; ++v) {
              T* o = dwt + (std::size_t(k0 + kk) * 9 + std::size_t(kh * 3 + kw)) * cs + std::size_t(c0 + v * L);
              Eigen::internal::pstore(o, Eigen::internal::padd(Eigen::internal::pload<P>(o), acc[kk][kw][v]));
            }
      }
    }
  }
}

// Dispatch of direct_weight_grad_t on the channel count and the register file: KB x 3 x CV accumulators,
// 3 x CV loads and one broadcast. With 32 registers CV packets of channels and KB = 8 / CV (CV = 4, KB = 2
// measured slower than two passes of CV = 2, KB = 4 at 64 channels: 12 loads per 24 multiply-adds); with
// 16 registers KB = 4, CV = 1 (12 accumulators + 3 loads + 1 broadcast).
template <class T>
void direct_weight_grad_t(const Padded<T>& g, int c_in, int k_out, const int* toff, const T* xt, const T* dyg,
                          std::size_t x_img, std::size_t dy_img, int images, T* dwt) {
  constexpr int L = packet_size<T>;
  if constexpr (kVectorRegisters < 32)
    direct_weight_grad_t<T, 4, 1>(g, c_in, k_out, toff, xt, dyg, x_img, dy_img, images, dwt);
  else if (c_in % (2 * L) == 0)
    direct_weight_grad_t<T, 4, 2>(g, c_in, k_out, toff, xt, dyg, x_img, dy_img, images, dwt);
  else
    direct_weight_grad_t<T, 8, 1>(g, c_in, k_out, toff, xt, dyg, x_img, dy_img, images, dwt);
}

// ---- channel-vectorized path for small images ----------------------------------------------------------
//
// On padded planes the direct kernel computes whole packets of grid positions: the border columns and the
// last packet's rounding are computed and dropped, 12.5% of the work at 14x14 and 23% at 7x7 with 16-float
// packets (64 positions for 49 pixels), 50% at 4x4. With the output channels in the packets instead, on the
// transposed padded input (position-major, channels fastest, as the weight gradient reads it), only real
// pixels are computed: y_t[p][o] = sum_e w_t[e][o] * xt[pos(p) + eoff[e]], e = (tap, input channel), a
// packet of KV*L output channels against PB pixels' broadcast inputs (PB x KV accumulators, KV weight loads
// and PB broadcasts per PB*KV multiply-adds), then y_t is transposed back to planes. The input gradient of
// such a layer is the same kernel on the transposed dy with the flipped weights. Needs the input and output
// channel counts to be whole packets.

// Register blocking: KV packets of output channels x PB pixels, the largest that fit with the KV weight
// packets and a broadcast (32 registers: 4 x 6, 2 x 12, 1 x 12; 16 registers: 2 x 6, 1 x 12).
template <int KV>
inline constexpr int nhwc_pixels = kVectorRegisters >= 32 ? (KV >= 4 ? 6 : 12) : (KV >= 2 ? 6 : 12);

template <class T, int KV, int PB>
inline void nhwc_block(const T* xt, const int* pbase, const int* eoff, int entries, const T* wt,
                       std::size_t wstride, T* yt, std::size_t ystride) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  P acc[PB][KV];
  IST_UNROLL_FULLY
  for (int p = 0; p < PB; ++p)
    IST_UNROLL_FULLY
    for (int v = 0; v < KV; ++v) acc[p][v] = Eigen::internal::pset1<P>(T(0));
  const T* xp[PB];
  IST_UNROLL_FULLY
  for (int p = 0; p < PB; ++p) xp[p] = xt + pbase[p];
  for (int e = 0; e < entries; ++e) {
    const T* we = wt + std::size_t(e) * wstride;
    P wv[KV];
    IST_UNROLL_FULLY
    for (int v = 0; v < KV; ++v) wv[v] = Eigen::internal::pload<P>(we + v * L);
    const int o = eoff[e];
    IST_UNROLL_FULLY
    for (int p = 0; p < PB; ++p) {
      const P xv = Eigen::internal::pset1<P>(xp[p][o]);
      IST_UNROLL_FULLY
      for (int v = 0; v < KV; ++v) acc[p][v] = Eigen::internal::pmadd(wv[v], xv, acc[p][v]);
    }
  }
  IST_UNROLL_FULLY
  for (int p = 0; p < PB; ++p)
    IST_UNROLL_FULLY
    for (int v = 0; v < KV; ++v) Eigen::internal::pstore(yt + std::size_t(p) * ystride + v * L, acc[p][v]);
}

// nhwc_block for the last n < N pixels of a row of blocks.
template <class T, int KV, int N>
inline void nhwc_block_n(int n, const T* xt, const int* pbase, const int* eoff, int entries, const T* wt,
                         std::size_t wstride, T* yt, std::size_t ystride) {
  if constexpr (N >= 1) {
    if (n == N)
      nhwc_block<T, KV, N>(xt, pbase, eoff, entries, wt, wstride, yt, ystride);
    else
      nhwc_block_n<T, KV, N - 1>(n, xt, pbase, eoff, entries, wt, wstride, yt, ystride);
  }
}

template <class T, int KV>
void nhwc_conv_kv(int pixels, const int* pbase, const int* eoff, int entries, int c_out, const T* xt,
                  const T* wt, T* yt) {
  constexpr int L = packet_size<T>;
  constexpr int PB = nhwc_pixels<KV>;
  const std::size_t ws = std::size_t(c_out);
  for (int o0 = 0; o0 < c_out; o0 += KV * L)
    for (int p0 = 0; p0 < pixels; p0 += PB) {
      const int n = std::min(PB, pixels - p0);
      T* y = yt + std::size_t(p0) * ws + std::size_t(o0);
      if (n == PB)
        nhwc_block<T, KV, PB>(xt, pbase + p0, eoff, entries, wt + o0, ws, y, ws);
      else
        nhwc_block_n<T, KV, PB - 1>(n, xt, pbase + p0, eoff, entries, wt + o0, ws, y, ws);
    }
}

// yt[p][o] (p over the pixels of grid g, o over c_out, a whole number of packets) from the transposed padded
// input xt (c_in channels) and wt[e][o]; pbase[p] = xt offset of pixel p, eoff[e] = offset of entry e.
template <class T>
void nhwc_conv(int pixels, const int* pbase, const int* eoff, int entries, int c_out, const T* xt,
               const T* wt, T* yt) {
  constexpr int L = packet_size<T>;
  const int packets = c_out / L;
  if (kVectorRegisters >= 32 && packets % 4 == 0)
    nhwc_conv_kv<T, 4>(pixels, pbase, eoff, entries, c_out, xt, wt, yt);
  else if (packets % 2 == 0)
    nhwc_conv_kv<T, 2>(pixels, pbase, eoff, entries, c_out, xt, wt, yt);
  else
    nhwc_conv_kv<T, 1>(pixels, pbase, eoff, entries, c_out, xt, wt, yt);
}

// The channel-vectorized kernel's tables for a 3x3-or-larger "same" grid g with c_in input channels:
// pbase[p] = (g.front + i*g.pw + j) * c_in for pixel p = i*w + j; eoff[tap*c_in + c] = tap offset * c_in + c.
template <class T>
void nhwc_tables(const Padded<T>& g, int r, int c_in, int* pbase, int* eoff) {
  for (int i = 0; i < g.h; ++i)
    for (int j = 0; j < g.w; ++j) pbase[i * g.w + j] = (g.front + i * g.pw + j) * c_in;
  for (int kh = 0; kh < r; ++kh)
    for (int kw = 0; kw < r; ++kw)
      for (int c = 0; c < c_in; ++c)
        eoff[(kh * r + kw) * c_in + c] = ((kh - g.pad) * g.pw + (kw - g.pad)) * c_in + c;
}

// Weights for nhwc_conv: wt[tap*ci + i][o] = w[o][i][tap] (forward: ci = c, co = k); with flip, the input
// gradient's: wt[tap*ci + i][o] = w[i][o][rr-1 - tap] (ci = k, co = c).
template <class T>
void pack_nhwc_weights(int ci, int co, int rr, const T* w, bool flip, T* wt) {
  for (int t = 0; t < rr; ++t)
    for (int i = 0; i < ci; ++i) {
      T* row = wt + (std::size_t(t) * ci + i) * co;
      for (int o = 0; o < co; ++o)
        row[o] = flip ? w[(std::size_t(i) * co + o) * rr + (rr - 1 - t)] : w[(std::size_t(o) * ci + i) * rr + t];
    }
}

// y[o][p] <- (or +=) yt[p][o]: channels x pixels planes from pixel-major rows of `channels` (a whole number of
// packets) values, in L x L register transposes; the pixels past the last whole tile one by one.
template <class T>
void transpose_to_planes(const T* yt, int pixels, int channels, T* y, bool add) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  const std::size_t cs = std::size_t(channels), ps = std::size_t(pixels);
  const int full = pixels / L * L;
  for (int o0 = 0; o0 < channels; o0 += L) {
    for (int p0 = 0; p0 < full; p0 += L) {
      const auto blk = load_transposed(yt + std::size_t(p0) * cs + o0, cs);
      for (int cc = 0; cc < L; ++cc) {
        T* d = y + std::size_t(o0 + cc) * ps + std::size_t(p0);
        P v = blk.packet[cc];
        if (add) v = Eigen::internal::padd(Eigen::internal::ploadu<P>(d), v);
        Eigen::internal::pstoreu(d, v);
      }
    }
    for (int p = full; p < pixels; ++p)
      for (int cc = 0; cc < L; ++cc) {
        T& d = y[std::size_t(o0 + cc) * ps + std::size_t(p)];
        const T v = yt[std::size_t(p) * cs + std::size_t(o0 + cc)];
        d = add ? d + v : v;
      }
  }
}

inline std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

// ---- stride-2 row moves (phase planes, subsampling) ------------------------------------------------------
//
// d[v] <- s[v * 2] (gather_even) and d[v * 2] <- or += s[v] (scatter_even) along a row. Rows are short (7-28
// elements), so a loop the compiler vectorizes spends most of its time in scalar remainders (those loops were
// 27-40% of a 1x1 stride-2 convolution): for float with AVX-512 or AVX2 they are packets and one permute,
// the row's end masked (AVX-512) or, for gather_even with AVX2, overlapping. Other types (double, in tests)
// and targets take the plain loops.

// With Spill (AVX-512), the last packet is stored whole: up to a packet past d[n) is overwritten (cells the
// caller writes after), instead of a masked store.
template <class T, bool Spill = false>
inline void gather_even(T* __restrict d, const T* __restrict s, int n) {
  int v = 0;
#if defined(EIGEN_VECTORIZE_AVX512)
  if constexpr (std::is_same_v<T, float>) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (; v + 16 <= n; v += 16)
      _mm512_storeu_ps(d + v, _mm512_permutex2var_ps(_mm512_loadu_ps(s + 2 * v), even, _mm512_loadu_ps(s + 2 * v + 16)));
    if (v < n) {
      const int read = 2 * (n - v) - 1;  // s[2v, 2n - 1)
      const __mmask16 lo = __mmask16(read >= 16 ? 0xFFFFu : (1u << read) - 1u);
      const __mmask16 hi = __mmask16(read > 16 ? (1u << (read - 16)) - 1u : 0u);
      const __m512 e = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lo, s + 2 * v), even,
                                              _mm512_maskz_loadu_ps(hi, s + 2 * v + 16));
      if constexpr (Spill)
        _mm512_storeu_ps(d + v, e);
      else
        _mm512_mask_storeu_ps(d + v, __mmask16((1u << (n - v)) - 1u), e);
    }
    return;
  }
#elif defined(EIGEN_VECTORIZE_AVX2)
  if constexpr (std::is_same_v<T, float>) {
    // No masked loads or stores here: on an AVX2-only AMD core (Zen 3) the masked loads of a row's end took
    // 70% of a 1x1 stride-2 projection. The end is one packet (n >= 8) or two half packets (4 <= n < 8)
    // overlapping what is already written, each reading only s[0, 2n - 1): its second load starts one
    // element early and the shuffle takes that load's odd elements. Spill is not needed.
    // shuffle 0x88: a0 a2 b0 b2 | a4 a6 b4 b6; 0xD8: a0 a2 b1 b3 | a4 a6 b5 b7; the 64-bit lane permute
    // puts the four pairs in order.
    const auto in_order = [](__m256 q) {
      return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(q), 0xD8));
    };
    for (; v + 8 <= n; v += 8)
      _mm256_storeu_ps(d + v,
                       in_order(_mm256_shuffle_ps(_mm256_loadu_ps(s + 2 * v), _mm256_loadu_ps(s + 2 * v + 8), 0x88)));
    if (v == n) return;
    if (n >= 8) {
      const int e = n - 8;
      _mm256_storeu_ps(d + e,
                       in_order(_mm256_shuffle_ps(_mm256_loadu_ps(s + 2 * e), _mm256_loadu_ps(s + 2 * e + 7), 0xD8)));
      return;
    }
    if (n >= 4) {
      _mm_storeu_ps(d, _mm_shuffle_ps(_mm_loadu_ps(s), _mm_loadu_ps(s + 3), 0xD8));
      const int e = n - 4;
      _mm_storeu_ps(d + e, _mm_shuffle_ps(_mm_loadu_ps(s + 2 * e), _mm_loadu_ps(s + 2 * e + 3), 0xD8));
      return;
    }
  }
#endif
  for (; v < n; ++v) d[v] = s[2 * v];
}

// d[2v] <- s[v] (or += with Add) for v < n; d's odd elements in between keep their values.
template <class T, bool Add>
inline void scatter_even(T* __restrict d, const T* __restrict s, int n) {
  int v = 0;
#if defined(EIGEN_VECTORIZE_AVX512)
  if constexpr (std::is_same_v<T, float>) {
    const __m512i twice = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    for (; v < n; v += 8) {
      const int m = std::min(8, n - v);
      const __m512 e = _mm512_permutexvar_ps(twice, _mm512_maskz_loadu_ps(__mmask16((1u << m) - 1u), s + v));
      const __mmask16 keep = __mmask16(0x5555u & ((1u << (2 * m - 1)) - 1u));  // d[2v + 2i], i < m
      if constexpr (Add)
        _mm512_mask_storeu_ps(d + 2 * v, keep, _mm512_add_ps(_mm512_maskz_loadu_ps(keep, d + 2 * v), e));
      else
        _mm512_mask_storeu_ps(d + 2 * v, keep, e);
    }
    return;
  }
#elif defined(EIGEN_VECTORIZE_AVX2)
  if constexpr (std::is_same_v<T, float>) {
    const __m256i twice = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    for (; v + 5 <= n; v += 4) {  // d[2v, 2v + 8), inside d[0, 2n - 1): the odd elements stored back as read
      const __m256 e = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + v)), twice);
      const __m256 old = _mm256_loadu_ps(d + 2 * v);
      _mm256_storeu_ps(d + 2 * v, _mm256_blend_ps(old, Add ? _mm256_add_ps(old, e) : e, 0x55));
    }
  }
#endif
  for (; v < n; ++v) {
    if constexpr (Add)
      d[2 * v] += s[v];
    else
      d[2 * v] = s[v];
  }
}

// d[0, m) <- s[0], 0, s[1], 0, ...: a row of a stride-2 input gradient whose odd columns get nothing.
template <class T>
inline void expand_even(T* __restrict d, const T* __restrict s, int m) {
  int j = 0;  // outputs written
#if defined(EIGEN_VECTORIZE_AVX512)
  if constexpr (std::is_same_v<T, float>) {
    const __m512i twice = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    for (; j < m; j += 16) {
      const int out = std::min(16, m - j), in = (out + 1) / 2;
      const __m512 e = _mm512_maskz_permutexvar_ps(
          __mmask16(0x5555u), twice, _mm512_maskz_loadu_ps(__mmask16((1u << in) - 1u), s + j / 2));
      _mm512_mask_storeu_ps(d + j, __mmask16((1u << out) - 1u), e);
    }
    return;
  }
#elif defined(EIGEN_VECTORIZE_AVX2)
  if constexpr (std::is_same_v<T, float>) {
    const __m256i twice = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    for (; j + 8 <= m; j += 8)
      _mm256_storeu_ps(d + j, _mm256_blend_ps(_mm256_setzero_ps(),
                                              _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + j / 2)), twice), 0x55));
  }
#endif
  for (; j < m; ++j) d[j] = j % 2 ? T(0) : s[j / 2];
}

// ---- stride 2 (3x3 pad 1) through phase planes ---------------------------------------------------------
//
// x is split into its four phases x_ab[c][u][v] = x[c][2u + a][2v + b], each on a grid of the output's
// size (oh x ow, pitch ow + 1, so the spare column is the zero left border of the next row). Row tap kh
// reads phase a = (kh + 1) % 2 at row offset du = (kh == 0 ? -1 : 0), the same for columns, so the
// stride-2 convolution is a stride-1 one over 4*c phase planes with 9 entries per input channel. The
// input gradient is, per phase of dx, a stride-1 convolution of dy with the taps that land on that phase
// (offsets 0 or +1), scattered back into dx.

inline bool use_phases(const ConvShape& s) { return s.stride == 2 && s.r == 3 && s.pad == 1; }

inline int phase_of(int k) { return (k + 1) % 2; }     // phase of row/column tap k (pad 1)
inline int phase_shift(int k) { return k == 0 ? -1 : 0; }  // its offset in output rows/columns

template <class T>
Padded<T> phase_grid(const ConvShape& s) {
  const int ow = s.out_w();
  return Padded<T>(s.out_h(), ow, ow + 1, ow + 2);
}

// xph[c][a*2 + b] <- phase (a, b) of x[c] on grid g (every element of each plane written); with
// `transposed`, position-major instead: xt[(a*2 + b)*plane + p][c].
template <class T>
void pad_phases(const Padded<T>& g, int h, int w, int channels, const T* x, T* out, bool transposed) {
  const std::size_t hw = std::size_t(h) * w;
  const std::size_t cs = std::size_t(channels);
  // Planar phases channel by channel (each channel's rows read while in cache); transposed ones phase by phase.
  if (!transposed)
    for (int c = 0; c < channels; ++c)
      IST_UNROLL_FULLY
      for (int ph = 0; ph < 4; ++ph) {
        const int a = ph / 2, b = ph % 2;
        const int rows = std::min(g.h, (h - a + 1) / 2), cols = std::min(g.w, (w - b + 1) / 2);
        const T* src = x + std::size_t(c) * hw + std::size_t(a) * w + b;
        T* base = out + (std::size_t(c) * 4 + ph) * g.plane;
        std::fill(base, base + g.front, T(0));
        T* d = base + g.front;
        // With AVX-512 a row's last packet may spill over its border and the next rows (all written after
        // it) while it stays inside the plane (whose tail is zeroed last); AVX2 writes the row exactly.
        const std::size_t whole = round_up(std::size_t(cols), std::size_t(packet_size<T>));
        for (int u = 0; u < rows; ++u, d += g.pw) {
          if (std::size_t(d - base) + whole <= g.plane)
            gather_even<T, true>(d, src + std::size_t(2 * u) * w, cols);
          else
            gather_even(d, src + std::size_t(2 * u) * w, cols);
          for (int v = cols; v < g.pw; ++v) d[v] = T(0);
        }
        std::fill(d, base + g.plane, T(0));
      }
  else
    IST_UNROLL_FULLY
    for (int ph = 0; ph < 4; ++ph) {
      const int a = ph / 2, b = ph % 2;
      const int rows = std::min(g.h, (h - a + 1) / 2), cols = std::min(g.w, (w - b + 1) / 2);
      T* base = out + std::size_t(ph) * g.plane * cs;
      std::fill(base, base + std::size_t(g.front) * cs, T(0));
      T* d = base + std::size_t(g.front) * cs;
      for (int u = 0; u < rows; ++u) {
        const T* sr = x + std::size_t(2 * u + a) * w + b;
        for (int v = 0; v < cols; ++v, d += cs)
          for (std::size_t c = 0; c < cs; ++c) d[c] = sr[c * hw + 2 * std::size_t(v)];
        std::fill(d, d + std::size_t(g.pw - cols) * cs, T(0));
        d += std::size_t(g.pw - cols) * cs;
      }
      std::fill(d, base + g.plane * cs, T(0));
    }
}

// Entries of the stride-2 forward: e = (c*3 + kh)*3 + kw over the phase planes.
template <class T>
void phase_entries(const Padded<T>& g, int channels, int* eoff) {
  for (int c = 0; c < channels; ++c)
    IST_UNROLL_FULLY
    for (int kh = 0; kh < 3; ++kh)
      IST_UNROLL_FULLY
      for (int kw = 0; kw < 3; ++kw)
        eoff[(c * 3 + kh) * 3 + kw] = int((std::size_t(c) * 4 + phase_of(kh) * 2 + phase_of(kw)) * g.plane) +
                                      g.front + phase_shift(kh) * g.pw + phase_shift(kw);
}

// Input gradient of phase (a, b) of dx: entries over (k, the row taps landing on a, the column taps
// landing on b) of the padded dy (k planes on grid g), weights wt[cb][e][KB] = w[k][cb*KB + cc][kh][kw].
// Returns the number of entries.
template <class T>
int phase_grad_entries(const Padded<T>& g, int k_out, int c_in, int a, int b, const T* w, int* eoff, T* wt) {
  int taps[4][2], nt = 0;
  IST_UNROLL_FULLY
  for (int kh = 0; kh < 3; ++kh)
    IST_UNROLL_FULLY
    for (int kw = 0; kw < 3; ++kw)
      if (phase_of(kh) == a && phase_of(kw) == b) taps[nt][0] = kh, taps[nt][1] = kw, ++nt;
  const int entries = k_out * nt;
  for (int k = 0; k < k_out; ++k)
    for (int t = 0; t < nt; ++t)
      eoff[k * nt + t] = int(std::size_t(k) * g.plane) + g.front - phase_shift(taps[t][0]) * g.pw -
                         phase_shift(taps[t][1]);
  const int cbs = (c_in + kDirectKB - 1) / kDirectKB;
  for (int cb = 0; cb < cbs; ++cb)
    for (int k = 0; k < k_out; ++k)
      for (int t = 0; t < nt; ++t)
        for (int cc = 0; cc < kDirectKB; ++cc) {
          const int c = cb * kDirectKB + cc;
          wt[((std::size_t(cb) * entries) + std::size_t(k * nt + t)) * kDirectKB + cc] =
              c < c_in ? w[((std::size_t(k) * c_in + c) * 3 + taps[t][0]) * 3 + taps[t][1]] : T(0);
        }
  return entries;
}

// dx[c][2u + a][2v + b] <- (or +=) dxq[c][u*pitch + v] for the pixels of phase (a, b).
template <class T>
void unpad_phase(const Padded<T>& g, int h, int w, int channels, int a, int b, const T* dxq, T* dx, bool add) {
  const int rows = (h - a + 1) / 2, cols = (w - b + 1) / 2;
  for (int c = 0; c < channels; ++c) {
    const T* src = dxq + std::size_t(c) * g.oplane;
    T* dst = dx + std::size_t(c) * h * w;
    for (int u = 0; u < rows; ++u) {
      const T* sr = src + std::size_t(u) * g.pw;
      T* dr = dst + std::size_t(2 * u + a) * w + b;
      if (add)
        scatter_even<T, true>(dr, sr, cols);
      else
        scatter_even<T, false>(dr, sr, cols);
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

// ---- 1x1 stride 2 (the projection shortcuts) ------------------------------------------------------------
//
// y = W x[:, ::2, ::2]: the subsampled input on a grid of the output's size (pitch ow, no border: the one tap
// reads offset 0) through the direct kernel, one entry per input channel; the input gradient is the same
// kernel on dy with W's transpose, added into dx's phase (0, 0). (As an im2col and a GEMM per image, the
// GEMMs of 16-64 channels ran at 35-45% of the square SGEMM.) The weight gradient is a GEMM over a group of
// images' subsampled inputs.

inline bool use_pointwise_s2(const ConvShape& s) { return s.r == 1 && s.stride == 2 && s.pad == 0; }

template <class T>
Padded<T> pointwise_grid(const ConvShape& s) {
  return Padded<T>(s.out_h(), s.out_w(), s.out_w(), 0);
}

// out[c * stride + u*ow + v] <- x[c][2u][2v] for the oh x ow pixels of a 1x1 stride-2 convolution's output.
// The even rows, every other one, are read 12 rows ahead of use (the next channel's past the last): on the
// AVX2-only Zen 3 the hardware prefetchers left this loop waiting for memory, and the prefetches made a
// projection 4-15% faster (1 thread).
template <class T>
void subsample(const ConvShape& s, const T* x, T* out, std::size_t stride) {
  constexpr int kAhead = 12;  // output rows
  const int oh = s.out_h(), ow = s.out_w();
  const std::size_t row_bytes = std::size_t(s.w) * sizeof(T);
  for (int c = 0; c < s.c; ++c) {
    const T* src = x + std::size_t(c) * s.h * s.w;
    T* d = out + std::size_t(c) * stride;
    for (int u = 0; u < oh; ++u) {
      const char* ahead = reinterpret_cast<const char*>(src + std::size_t(2 * (u + kAhead)) * s.w);
      for (std::size_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(ahead + b, 0, 3);
      gather_even(d + std::size_t(u) * ow, src + std::size_t(2 * u) * s.w, ow);
    }
  }
}

// dx[c] <- the input gradient of a 1x1 stride-2 convolution from dxq[c] (grid g, the output's size):
// dxq's values at the even rows and columns, zeros elsewhere, every element written once.
template <class T>
void unpad_subsampled(const Padded<T>& g, int h, int w, int channels, const T* dxq, T* dx) {
  for (int c = 0; c < channels; ++c) {
    const T* src = dxq + std::size_t(c) * g.oplane;
    T* dst = dx + std::size_t(c) * h * w;
    for (int i = 0; i < h; ++i) {
      T* d = dst + std::size_t(i) * w;
      if (i % 2 == 0)
        expand_even(d, src + std::size_t(i / 2) * g.pw, w);
      else
        zero_fill(d, d + w);
    }
  }
}


// The weight gradient of a 1x1 convolution on one image, from its input transposed (xt[q][c], position-major,
// input channels whole packets): dwt[k][c] += sum_q dy[k][q] * xt[q][c], dy's planes (pitch `positions`) read
// where they lie. KB output channels' dy values are broadcast against CV packets of input channels: per pixel
// CV loads and KB broadcasts feed KB*CV multiply-adds, and the accumulators need no horizontal sum. (As one
// GEMM per group of images, on copies of dy, the projections' weight gradients ran at 38 GFLOP/s on one thread
// of Zen 3, packing and copying included.)
template <class T, int KB, int CV>
void pointwise_weight_grad_t(int c_in, int k_out, int positions, const T* xt, const T* dy, T* dwt) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  const std::size_t cs = std::size_t(c_in);
  for (int k0 = 0; k0 < k_out; k0 += KB) {
    const int kn = std::min(KB, k_out - k0);
    const T* dk[KB];
    IST_UNROLL_FULLY
    for (int kk = 0; kk < KB; ++kk) dk[kk] = dy + std::size_t(k0 + std::min(kk, kn - 1)) * positions;
    for (int c0 = 0; c0 < c_in; c0 += CV * L) {
      P acc[KB][CV];
      IST_UNROLL_FULLY
      for (int kk = 0; kk < KB; ++kk)
        IST_UNROLL_FULLY
        for (int v = 0; v < CV; ++v) acc[kk][v] = Eigen::internal::pset1<P>(T(0));
      const T* xq = xt + c0;
      for (int q = 0; q < positions; ++q, xq += cs) {
        P xv[CV];
        IST_UNROLL_FULLY
        for (int v = 0; v < CV; ++v) xv[v] = Eigen::internal::pload<P>(xq + v * L);
        IST_UNROLL_FULLY
        for (int kk = 0; kk < KB; ++kk) {
          const P d = Eigen::internal::pset1<P>(dk[kk][q]);
          IST_UNROLL_FULLY
          for (int v = 0; v < CV; ++v) acc[kk][v] = Eigen::internal::pmadd(xv[v], d, acc[kk][v]);
        }
      }
      for (int kk = 0; kk < kn; ++kk)
        IST_UNROLL_FULLY
        for (int v = 0; v < CV; ++v) {
          T* o = dwt + std::size_t(k0 + kk) * cs + std::size_t(c0 + v * L);
          Eigen::internal::pstore(o, Eigen::internal::padd(Eigen::internal::pload<P>(o), acc[kk][v]));
        }
    }
  }
}

// Dispatch on the channel count: two packets of input channels x KB output channels, or one packet x twice
// kDirectKB. With 16 registers KB = 5 (10 accumulators): on Zen 3 the projections' weight gradients ran at
// 38-39 (16->32) and 46-47 GFLOP/s (32->64) with KB = 4, 46-48 and 57-61 with KB = 5 or 6 (one thread).
template <class T>
void pointwise_weight_grad_t(int c_in, int k_out, int positions, const T* xt, const T* dy, T* dwt) {
  constexpr int KB = kVectorRegisters >= 32 ? kDirectKB : 5;
  if (c_in % (2 * packet_size<T>) == 0)
    pointwise_weight_grad_t<T, KB, 2>(c_in, k_out, positions, xt, dy, dwt);
  else
    pointwise_weight_grad_t<T, 2 * kDirectKB, 1>(c_in, k_out, positions, xt, dy, dwt);
}

// The n images split statically over nt threads: each thread takes its scratch of `need` elements, makes
// its per-image function from it once (setup(scratch): packed weights, entry tables), then runs it on its
// images.
template <class T, class Setup>
void over_images(CpuContext& ctx, int n, int nt, std::size_t need, Setup setup) {
  for (int t = 0; t < nt; ++t) ctx.scratch<T>(t, need);
#pragma omp parallel num_threads(nt)
  {
    auto per_image = setup(ctx.scratch<T>(omp_get_thread_num(), need));
#pragma omp for schedule(static)
    for (int i = 0; i < n; ++i) per_image(i);
  }
}

// Which kernel a "same" stride-1 convolution with whole packets of channels takes: Auto chooses by the work
// each computes; the others force one (tests and benchmarks compare the two; not for concurrent use).
enum class SamePath { Auto, Planes, Channels, Winograd };
inline SamePath same_path = SamePath::Auto;

// The channel-vectorized path: 3x3 "same" stride 1, input and output channels whole packets, and fewer
// multiply-adds than the planes' kernel, whose computed positions are h x (w + 1) rounded up to its pixel
// blocks, against h x w and the transposes (charged 10%).
template <class T>
bool use_nhwc(const ConvShape& s) {
  constexpr int L = packet_size<T>;
  if (!use_direct(s) || s.r != 3 || s.c % L != 0 || s.k % L != 0) return false;
  if (same_path != SamePath::Auto) return same_path == SamePath::Channels;
  const int positions = s.h * (s.w + 1);
  const int pb = direct_pb<T>(positions);
  const int computed = ((positions + L - 1) / L + pb - 1) / pb * pb * L;
  return 1.1 * s.h * s.w < double(computed);
}

// ---- Winograd F(2x2, 3x3) for "same" 3x3 stride-1 convolutions -------------------------------------------
//
// Each output tile of 2x2 pixels is computed from the 4x4 input tile around it (Lavin & Gray 2016):
//   Y = A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A,
// with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] and
// A^T = [1 1 1 0; 0 1 -1 -1]. The sum over input channels is, for each of the 16 entries xi of a tile, a
// matrix product M_xi[tile][k] = sum_c V_xi[tile][c] U_xi[c][k]: the channel-vectorized kernel (nhwc_conv)
// with one entry per input channel, 16 x 4 multiply-adds per output pixel and input channel instead of 9.
// Everything runs position-major, channels fastest (channel counts whole packets): the image is padded and
// transposed once (pad_planes_transposed, at pitch 2*tw + 2 with two zero rows below, so every 4x4 tile,
// those cut by the image's edge included, reads zeros outside the image), the transforms are packets over
// channels, no element moves across lanes, and the output goes back to planes in one transposing copy.
// The input gradient is the same computation on dy with the flipped, transposed weights. Every output is
// computed by the same operations in the same order whatever the thread: results do not depend on the
// thread count.

// Which convolutions take Winograd (forward and backward alike): 3x3 "same" stride 1 with whole packets of
// input and output channels, unless same_path forces another kernel.
template <class T>
bool use_winograd(const ConvShape& s) {
  constexpr int L = packet_size<T>;
  if (s.stride != 1 || s.r != 3 || s.pad != 1 || s.c % L != 0 || s.k % L != 0) return false;
  return same_path == SamePath::Auto || same_path == SamePath::Winograd;
}

// U = G g G^T of the 3x3 kernel g (row-major), 4x4 row-major into u.
template <class T>
inline void winograd_kernel(const T* g, T* u) {
  T gg[4][3];  // G g
  IST_UNROLL_FULLY
  for (int j = 0; j < 3; ++j) {
    gg[0][j] = g[j];
    gg[1][j] = T(0.5) * (g[j] + g[3 + j] + g[6 + j]);
    gg[2][j] = T(0.5) * (g[j] - g[3 + j] + g[6 + j]);
    gg[3][j] = g[6 + j];
  }
  IST_UNROLL_FULLY
  for (int i = 0; i < 4; ++i) {
    u[i * 4 + 0] = gg[i][0];
    u[i * 4 + 1] = T(0.5) * (gg[i][0] + gg[i][1] + gg[i][2]);
    u[i * 4 + 2] = T(0.5) * (gg[i][0] - gg[i][1] + gg[i][2]);
    u[i * 4 + 3] = gg[i][2];
  }
}

// Transformed weights for nhwc_conv, one matrix per tile entry: wu[xi][c][k] = U_xi of g_kc. With `flip`, those
// of the input gradient (outputs = the forward's input channels): g_kc = w[c][k] rotated by 180 degrees.
template <class T>
void pack_winograd_weights(int c_out, int c_in, const T* w, bool flip, T* wu) {
  const std::size_t per_xi = std::size_t(c_in) * c_out;
  for (int k = 0; k < c_out; ++k)
    for (int c = 0; c < c_in; ++c) {
      T g[9], u[16];
      for (int t = 0; t < 9; ++t)
        g[t] = flip ? w[(std::size_t(c) * c_out + k) * 9 + (8 - t)] : w[(std::size_t(k) * c_in + c) * 9 + t];
      winograd_kernel(g, u);
      for (int xi = 0; xi < 16; ++xi) wu[xi * per_xi + std::size_t(c) * c_out + k] = u[xi];
    }
}

// vt[xi][t][c] (t = ti*tw + tj) for every tile of one image from its transposed padded copy xt (grid g, pitch
// 2*tw + 2), `channels` values per position.
template <class T>
void winograd_input(const Padded<T>& g, int th, int tw, int channels, const T* xt, T* vt) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  namespace ei = Eigen::internal;
  const std::size_t cs = std::size_t(channels), row = std::size_t(g.pw) * cs;
  const std::size_t xi_stride = std::size_t(th) * tw * cs;
  for (int ti = 0; ti < th; ++ti)
    for (int tj = 0; tj < tw; ++tj) {
      // The tile's top-left cell: image pixel (2ti - 1, 2tj - 1).
      const T* d = xt + (std::size_t(g.front) + std::size_t(2 * ti - 1) * g.pw + std::size_t(2 * tj - 1)) * cs;
      T* v = vt + (std::size_t(ti) * tw + tj) * cs;
      for (int c0 = 0; c0 < channels; c0 += L) {
        P h[4][4];  // (d B): columns combined, per row r
        IST_UNROLL_FULLY
        for (int r = 0; r < 4; ++r) {
          const T* dr = d + r * row + c0;
          const P d0 = ei::pload<P>(dr), d1 = ei::pload<P>(dr + cs), d2 = ei::pload<P>(dr + 2 * cs),
                  d3 = ei::pload<P>(dr + 3 * cs);
          h[r][0] = ei::psub(d0, d2);
          h[r][1] = ei::padd(d1, d2);
          h[r][2] = ei::psub(d2, d1);
          h[r][3] = ei::psub(d1, d3);
        }
        IST_UNROLL_FULLY
        for (int b = 0; b < 4; ++b) {
          ei::pstore(v + std::size_t(b) * xi_stride + c0, ei::psub(h[0][b], h[2][b]));
          ei::pstore(v + std::size_t(4 + b) * xi_stride + c0, ei::padd(h[1][b], h[2][b]));
          ei::pstore(v + std::size_t(8 + b) * xi_stride + c0, ei::psub(h[2][b], h[1][b]));
          ei::pstore(v + std::size_t(12 + b) * xi_stride + c0, ei::psub(h[1][b], h[3][b]));
        }
      }
    }
}

// yt[p][k] (p = i*w + j over the image's pixels) <- A^T M A of every tile, mt[xi][t][k].
template <class T>
void winograd_output(int h, int w, int th, int tw, int channels, const T* mt, T* yt) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  namespace ei = Eigen::internal;
  const std::size_t cs = std::size_t(channels), xi_stride = std::size_t(th) * tw * cs;
  for (int ti = 0; ti < th; ++ti)
    for (int tj = 0; tj < tw; ++tj) {
      const T* m = mt + (std::size_t(ti) * tw + tj) * cs;
      const bool right = 2 * tj + 1 < w, below = 2 * ti + 1 < h;
      T* y0 = yt + (std::size_t(2 * ti) * w + 2 * tj) * cs;
      T* y1 = y0 + std::size_t(w) * cs;
      for (int k0 = 0; k0 < channels; k0 += L) {
        P s0[4], s1[4];  // A^T M: rows combined, per column b
        IST_UNROLL_FULLY
        for (int b = 0; b < 4; ++b) {
          const P m0 = ei::pload<P>(m + std::size_t(b) * xi_stride + k0);
          const P m1 = ei::pload<P>(m + std::size_t(4 + b) * xi_stride + k0);
          const P m2 = ei::pload<P>(m + std::size_t(8 + b) * xi_stride + k0);
          const P m3 = ei::pload<P>(m + std::size_t(12 + b) * xi_stride + k0);
          s0[b] = ei::padd(ei::padd(m0, m1), m2);
          s1[b] = ei::psub(ei::psub(m1, m2), m3);
        }
        ei::pstore(y0 + k0, ei::padd(ei::padd(s0[0], s0[1]), s0[2]));
        if (right) ei::pstore(y0 + cs + k0, ei::psub(ei::psub(s0[1], s0[2]), s0[3]));
        if (below) {
          ei::pstore(y1 + k0, ei::padd(ei::padd(s1[0], s1[1]), s1[2]));
          if (right) ei::pstore(y1 + cs + k0, ei::psub(ei::psub(s1[1], s1[2]), s1[3]));
        }
      }
    }
}

// ---- Winograd weight gradient: dL/dg_kc = G^T [ sum over tiles (A dY_k A^T) .* V_c ] G ------------------------
//
// The forward's products U_xi (x) V_xi give, by the chain rule, dL/dU_xi[k][c] = sum_t Yh_xi[t][k] V_xi[t][c] with
// Yh = A dY A^T, the 2x2 tile of dy spread to 4x4 (outputs past the image's edge have dy = 0): 16 products that
// sum over tiles, then one 4x4 -> 3x3 transform per (k, c) at the end.

// yh[xi][t][k] = (A dY A^T)_xi of every tile of one image's transposed dy (grid g, the forward's pixel positions).
template <class T>
void winograd_dy(const Padded<T>& g, int th, int tw, int channels, const T* dyt, T* yh) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  namespace ei = Eigen::internal;
  const std::size_t cs = std::size_t(channels), row = std::size_t(g.pw) * cs;
  const std::size_t xi_stride = std::size_t(th) * tw * cs;
  const P zero = ei::pset1<P>(T(0));
  for (int ti = 0; ti < th; ++ti)
    for (int tj = 0; tj < tw; ++tj) {
      const T* z = dyt + (std::size_t(g.front) + std::size_t(2 * ti) * g.pw + std::size_t(2 * tj)) * cs;
      T* y = yh + (std::size_t(ti) * tw + tj) * cs;
      for (int k0 = 0; k0 < channels; k0 += L) {
        const P z00 = ei::pload<P>(z + k0), z01 = ei::pload<P>(z + cs + k0);
        const P z10 = ei::pload<P>(z + row + k0), z11 = ei::pload<P>(z + row + cs + k0);
        // A z: rows z0, z0 + z1, z0 - z1, -z1 (each a pair p, q); then each row spread to p, p + q, p - q, -q.
        const P p[4] = {z00, ei::padd(z00, z10), ei::psub(z00, z10), ei::psub(zero, z10)};
        const P q[4] = {z01, ei::padd(z01, z11), ei::psub(z01, z11), ei::psub(zero, z11)};
        IST_UNROLL_FULLY
        for (int a = 0; a < 4; ++a) {
          T* ya = y + std::size_t(4 * a) * xi_stride + k0;
          ei::pstore(ya, p[a]);
          ei::pstore(ya + xi_stride, ei::padd(p[a], q[a]));
          ei::pstore(ya + 2 * xi_stride, ei::psub(p[a], q[a]));
          ei::pstore(ya + 3 * xi_stride, ei::psub(zero, q[a]));
        }
      }
    }
}

// du[k][c] += sum_t yh[t][k] * v[t][c] for k in [k0, k0 + KB), c in [c0, c0 + CV*L): packets over c, yh broadcast.
template <class T, int KB, int CV>
inline void winograd_dw_block(int tiles, const T* yh, std::size_t ks, const T* v, std::size_t cs, T* du) {
  using P = Packet<T>;
  constexpr int L = packet_size<T>;
  namespace ei = Eigen::internal;
  P acc[KB][CV];
  IST_UNROLL_FULLY
  for (int kk = 0; kk < KB; ++kk)
    IST_UNROLL_FULLY
    for (int j = 0; j < CV; ++j) acc[kk][j] = ei::pset1<P>(T(0));
  for (int t = 0; t < tiles; ++t) {
    const T* vt = v + std::size_t(t) * cs;
    const T* yt = yh + std::size_t(t) * ks;
    P xv[CV];
    IST_UNROLL_FULLY
    for (int j = 0; j < CV; ++j) xv[j] = ei::pload<P>(vt + j * L);
    IST_UNROLL_FULLY
    for (int kk = 0; kk < KB; ++kk) {
      const P b = ei::pset1<P>(yt[kk]);
      IST_UNROLL_FULLY
      for (int j = 0; j < CV; ++j) acc[kk][j] = ei::pmadd(xv[j], b, acc[kk][j]);
    }
  }
  IST_UNROLL_FULLY
  for (int kk = 0; kk < KB; ++kk)
    IST_UNROLL_FULLY
    for (int j = 0; j < CV; ++j) {
      T* d = du + std::size_t(kk) * cs + j * L;
      ei::pstore(d, ei::padd(ei::pload<P>(d), acc[kk][j]));
    }
}

// du[k][c] += sum_t yh[t][k] v[t][c] over all k < k_out, c < c_in (whole packets).
template <class T>
void winograd_dw_products(int tiles, int k_out, int c_in, const T* yh, const T* v, T* du) {
  constexpr int L = packet_size<T>;
  const std::size_t ks = std::size_t(k_out), cs = std::size_t(c_in);
  // Register blocks: KB x CV accumulators, CV loads and one broadcast (32 registers: 16 accumulators; 16: 8).
  constexpr bool wide = kVectorRegisters >= 32;
  if (c_in % (2 * L) == 0) {
    constexpr int KB = wide ? 8 : 4;
    for (int k0 = 0; k0 < k_out; k0 += KB)
      for (int c0 = 0; c0 < c_in; c0 += 2 * L)
        winograd_dw_block<T, KB, 2>(tiles, yh + k0, ks, v + c0, cs, du + std::size_t(k0) * cs + c0);
  } else {
    constexpr int KB = wide ? 16 : 8;
    if (k_out % KB == 0) {
      for (int k0 = 0; k0 < k_out; k0 += KB)
        for (int c0 = 0; c0 < c_in; c0 += L)
          winograd_dw_block<T, KB, 1>(tiles, yh + k0, ks, v + c0, cs, du + std::size_t(k0) * cs + c0);
    } else {
      for (int k0 = 0; k0 < k_out; k0 += L)
        for (int c0 = 0; c0 < c_in; c0 += L)
          winograd_dw_block<T, L, 1>(tiles, yh + k0, ks, v + c0, cs, du + std::size_t(k0) * cs + c0);
    }
  }
}

// dW [k][c][3][3] += G^T dU_kc G, dU_kc the 4x4 of du[xi][k][c].
template <class T>
void winograd_dw_finish(int k_out, int c_in, const T* du, T* dw) {
  const std::size_t per_xi = std::size_t(k_out) * c_in;
  for (int k = 0; k < k_out; ++k)
    for (int c = 0; c < c_in; ++c) {
      T d[4][4], r[3][4];
      for (int xi = 0; xi < 16; ++xi) d[xi / 4][xi % 4] = du[xi * per_xi + std::size_t(k) * c_in + c];
      IST_UNROLL_FULLY
      for (int b = 0; b < 4; ++b) {  // G^T d: rows
        r[0][b] = d[0][b] + T(0.5) * (d[1][b] + d[2][b]);
        r[1][b] = T(0.5) * (d[1][b] - d[2][b]);
        r[2][b] = T(0.5) * (d[1][b] + d[2][b]) + d[3][b];
      }
      T* o = dw + (std::size_t(k) * c_in + c) * 9;
      IST_UNROLL_FULLY
      for (int i = 0; i < 3; ++i) {  // (G^T d) G: columns
        o[i * 3 + 0] += r[i][0] + T(0.5) * (r[i][1] + r[i][2]);
        o[i * 3 + 1] += T(0.5) * (r[i][1] - r[i][2]);
        o[i * 3 + 2] += T(0.5) * (r[i][1] + r[i][2]) + r[i][3];
      }
    }
}

// The tiles of an h x w image and the transposed padded grid every Winograd pass reads: pitch 2*tw + 2 and a
// reach of two rows, so that a tile reads one row above and up to two below the image (odd h), one column
// left and right, all inside the zero borders.
template <class T>
struct WinogradTiles {
  int h, w, th, tw, tiles;
  Padded<T> g;
  WinogradTiles(int h_, int w_)
      : h(h_), w(w_), th((h_ + 1) / 2), tw((w_ + 1) / 2), tiles(th * tw), g(h_, w_, 2 * tw + 2, 2 * (2 * tw + 2) + 1) {}
};

// The tables of nhwc_conv for the 16 products of c_in input channels: pbase[t] = t * c_in, eoff[c] = c.
inline const int* winograd_tables(int tiles, int c_in) {
  int* pbase = int_scratch(std::size_t(tiles) + std::size_t(c_in));
  for (int t = 0; t < tiles; ++t) pbase[t] = t * c_in;
  for (int c = 0; c < c_in; ++c) pbase[tiles + c] = c;
  return pbase;
}

// out (c_out planes of one image) <- (or +=) the convolution of the image whose transposed padded copy is xt
// (c_in channels), with the transformed weights wu; vt, mt, yt: scratch of 16*tiles*c_in, 16*tiles*c_out and
// h*w*c_out elements; tables from winograd_tables.
template <class T>
void winograd_image(const WinogradTiles<T>& wt, int c_in, int c_out, const T* xt, const T* wu, const int* tables,
                    T* vt, T* mt, T* yt, T* out, bool add) {
  winograd_input(wt.g, wt.th, wt.tw, c_in, xt, vt);
  for (int xi = 0; xi < 16; ++xi)
    nhwc_conv(wt.tiles, tables, tables + wt.tiles, c_in, c_out, vt + std::size_t(xi) * wt.tiles * c_in,
              wu + std::size_t(xi) * c_in * c_out, mt + std::size_t(xi) * wt.tiles * c_out);
  winograd_output(wt.h, wt.w, wt.th, wt.tw, c_out, mt, yt);
  transpose_to_planes(yt, wt.h * wt.w, c_out, out, add);
}

// y [n][k][h][w] <- the "same" 3x3 convolution of x [n][c][h][w] (c, k whole packets) with weights w.
template <class T>
void winograd_conv(CpuContext& ctx, const ConvShape& s, const T* x, const T* weights, T* y) {
  const int n = s.n, h = s.h, w = s.w, c_in = s.c, c_out = s.k;
  const WinogradTiles<T> wt(h, w);
  const std::size_t wu_size = round_up(16 * std::size_t(c_in) * c_out, 64);
  const std::size_t xt_size = round_up(wt.g.plane * c_in, 64);
  const std::size_t vt_size = round_up(16 * std::size_t(wt.tiles) * c_in, 64);
  const std::size_t mt_size = round_up(16 * std::size_t(wt.tiles) * c_out, 64);
  const std::size_t yt_size = round_up(std::size_t(h) * w * c_out, 64);
  const std::size_t need = wu_size + xt_size + vt_size + mt_size + yt_size;
  const std::size_t in_img = std::size_t(c_in) * h * w, out_img = std::size_t(c_out) * h * w;
  over_images<T>(ctx, n, std::min(ctx.threads(), n), need, [&](T* wu) {
    T* xt = wu + wu_size;
    T* vt = xt + xt_size;
    T* mt = vt + vt_size;
    T* yt = mt + mt_size;
    pack_winograd_weights(c_out, c_in, weights, false, wu);
    std::fill(xt, xt + xt_size, T(0));  // the borders, once: each image writes only its pixels
    const int* tables = winograd_tables(wt.tiles, c_in);
    return [=, &wt](int i) {
      pad_planes_transposed(wt.g, c_in, x + i * in_img, xt, false);
      winograd_image(wt, c_in, c_out, xt, wu, tables, vt, mt, yt, y + i * out_img, false);
    };
  });
}

// Backward of winograd_conv: dw [k][c][3][3] += the weight gradient; dx (when not null) <- (or +=, accumulate)
// the input gradient, the convolution of dy with the flipped, transposed weights. One transposed padded copy
// of each image's dy serves both. Each thread sums its images' dU, transforms it once, and the threads' parts
// are added to dw in thread order.
template <class T>
void winograd_backward(CpuContext& ctx, const ConvShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw,
                       bool accumulate_dx) {
  const WinogradTiles<T> wt(s.h, s.w);
  const std::size_t tiles = std::size_t(wt.tiles), per_xi = std::size_t(s.k) * s.c;
  const std::size_t du_size = round_up(16 * per_xi, 64), part_size = round_up(9 * per_xi, 64);
  const std::size_t xt_size = round_up(wt.g.plane * s.c, 64), dyt_size = round_up(wt.g.plane * s.k, 64);
  const std::size_t vt_size = round_up(16 * tiles * std::max(s.c, s.k), 64);  // x's V, then dy's
  const std::size_t yh_size = round_up(16 * tiles * s.k, 64);
  const std::size_t wu_size = dx ? round_up(16 * per_xi, 64) : 0;
  const std::size_t mt_size = dx ? round_up(16 * tiles * s.c, 64) : 0;
  const std::size_t yt_size = dx ? round_up(std::size_t(s.h) * s.w * s.c, 64) : 0;
  const std::size_t need = du_size + part_size + xt_size + dyt_size + vt_size + yh_size + wu_size + mt_size + yt_size;
  const std::size_t in_img = std::size_t(s.c) * s.h * s.w, out_img = std::size_t(s.k) * s.h * s.w;
  const int nt = std::min(ctx.threads(), s.n);
  for (int t = 0; t < nt; ++t) ctx.scratch<T>(t, need);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    T* du = ctx.scratch<T>(t, need);
    T* part = du + du_size;
    T* xt = part + part_size;
    T* dyt = xt + xt_size;
    T* vt = dyt + dyt_size;
    T* yh = vt + vt_size;
    T* wu = yh + yh_size;
    T* mt = wu + wu_size;
    T* yt = mt + mt_size;
    std::fill(du, dyt + dyt_size, T(0));  // dU, the part, and the padded copies' borders
    const int* tables = nullptr;
    if (dx) {
      pack_winograd_weights(s.c, s.k, w, true, wu);
      tables = winograd_tables(wt.tiles, s.k);
    }
    const int i_end = int(std::int64_t(s.n) * (t + 1) / nt);
    for (int i = int(std::int64_t(s.n) * t / nt); i < i_end; ++i) {
      pad_planes_transposed(wt.g, s.c, x + i * in_img, xt, false);
      winograd_input(wt.g, wt.th, wt.tw, s.c, xt, vt);
      pad_planes_transposed(wt.g, s.k, dy + i * out_img, dyt, false);
      winograd_dy(wt.g, wt.th, wt.tw, s.k, dyt, yh);
      for (int xi = 0; xi < 16; ++xi)
        winograd_dw_products(wt.tiles, s.k, s.c, yh + xi * tiles * s.k, vt + xi * tiles * s.c, du + xi * per_xi);
      if (dx) winograd_image(wt, s.k, s.c, dyt, wu, tables, vt, mt, yt, dx + i * in_img, accumulate_dx);
    }
    winograd_dw_finish(s.k, s.c, du, part);
  }
  for (int t = 0; t < nt; ++t) {
    const T* part = ctx.scratch<T>(t, need) + du_size;
    for (std::size_t j = 0; j < 9 * per_xi; ++j) dw[j] += part[j];
  }
}

}  // namespace detail

// y: [n, k, oh, ow] (overwritten); x: [n, c, h, w]; w: [k, c, r, r].
template <class T>
void conv2d_forward(CpuContext& ctx, const ConvShape& s, const T* x, const T* w, T* y) {
  detail::check_conv_shape(s, "ist::eigen::conv2d_forward");
  if (detail::use_winograd<T>(s)) {
    detail::winograd_conv(ctx, s, x, w, y);
    return;
  }
  const int ohw = s.out_h() * s.out_w();
  const int crr = s.c * s.r * s.r;
  const std::size_t in_img = std::size_t(s.c) * s.h * s.w;
  const std::size_t out_img = std::size_t(s.k) * ohw;
  const int nt = std::min(ctx.threads(), s.n);
  if (detail::use_nhwc<T>(s)) {
    const detail::Padded<T> g(s.h, s.w, s.r);
    const int pixels = s.h * s.w, rr = s.r * s.r;
    const std::size_t wt_size = detail::round_up(std::size_t(rr) * s.c * s.k, 64);
    const std::size_t xt_size = detail::round_up(g.plane * s.c, 64);
    const std::size_t need = wt_size + xt_size + std::size_t(pixels) * s.k;
    detail::over_images<T>(ctx, s.n, nt, need, [&](T* wt) {
      T* xt = wt + wt_size;
      T* yt = xt + xt_size;
      int* eoff = detail::int_scratch(std::size_t(rr) * s.c + std::size_t(pixels));
      int* pbase = eoff + std::size_t(rr) * s.c;
      detail::pack_nhwc_weights(s.c, s.k, rr, w, false, wt);
      detail::nhwc_tables(g, s.r, s.c, pbase, eoff);
      return [=, &g](int i) {
        detail::pad_planes_transposed(g, s.c, x + i * in_img, xt);
        detail::nhwc_conv(pixels, pbase, eoff, rr * s.c, s.k, xt, wt, yt);
        detail::transpose_to_planes(yt, pixels, s.k, y + i * out_img, false);
      };
    });
    return;
  }
  // The direct kernel over padded planes: "same" stride 1, stride 2 through phase planes, and 1x1 stride 2
  // on the subsampled input (one entry per channel on a grid without border).
  const bool phases = detail::use_phases(s), pointwise = detail::use_pointwise_s2(s);
  if (detail::use_direct(s) || phases || pointwise) {
    const detail::Padded<T> g = phases      ? detail::phase_grid<T>(s)
                                : pointwise ? detail::pointwise_grid<T>(s)
                                            : detail::Padded<T>(s.h, s.w, s.r);
    const int k_pad = (s.k + detail::kDirectKB - 1) / detail::kDirectKB * detail::kDirectKB;
    const std::size_t wt_size = detail::round_up(std::size_t(k_pad) * crr, 64);
    const std::size_t xp_size = detail::round_up(std::size_t(s.c) * (phases ? 4 : 1) * g.plane, 64);
    // The output one block of KB channels at a time, each block's planes copied out while they are in cache.
    const std::size_t need = wt_size + xp_size + std::size_t(detail::kDirectKB) * g.oplane;
    detail::over_images<T>(ctx, s.n, nt, need, [&](T* wt) {
      T* xp = wt + wt_size;
      T* yq = xp + xp_size;
      int* eoff = detail::int_scratch(std::size_t(crr));
      detail::pack_direct_weights(s.k, s.c, s.r * s.r, w, false, wt);
      if (phases)
        detail::phase_entries(g, s.c, eoff);
      else
        detail::same_entries(g, s.c, s.r, eoff);
      if (pointwise)  // the planes' cells past the subsampled pixels (read for dropped outputs): zero, once
        for (int c = 0; c < s.c; ++c)
          detail::zero_fill(xp + std::size_t(c) * g.plane + ohw, xp + std::size_t(c + 1) * g.plane);
      return [=, &g](int i) {
        if (phases)
          detail::pad_phases(g, s.h, s.w, s.c, x + i * in_img, xp, false);
        else if (pointwise)
          detail::subsample(s, x + i * in_img, xp, g.plane);
        else
          detail::pad_planes(g, s.c, x + i * in_img, xp);
        for (int kb = 0; kb * detail::kDirectKB < s.k; ++kb) {
          detail::direct_conv_block(g, eoff, crr, kb, xp, wt, yq);
          detail::unpad_planes(g, std::min(detail::kDirectKB, s.k - kb * detail::kDirectKB), yq,
                               y + i * out_img + std::size_t(kb) * detail::kDirectKB * ohw, false);
        }
      };
    });
    return;
  }
  if (!s.is_pointwise())
    for (int t = 0; t < nt; ++t) ctx.scratch<T>(t, std::size_t(crr) * ohw);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int i = 0; i < s.n; ++i) {
    const T* xi = x + i * in_img;
    if (!s.is_pointwise()) {
      T* col = ctx.scratch<T>(omp_get_thread_num(), std::size_t(crr) * ohw);
      detail::im2col(s, xi, col);
      xi = col;
    }
    gemm(false, false, ohw, s.k, crr, xi, ohw, w, crr, y + i * out_img, ohw, false);  // Y = Col W
  }
}

// Backward of conv2d_forward. dw: [k, c, r, r] accumulated (+=). dx: [n, c, h, w], overwritten (or added
// to when accumulate_dx); pass dx = nullptr when the input gradient is not needed.
template <class T>
void conv2d_backward(CpuContext& ctx, const ConvShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     bool accumulate_dx = false) {
  detail::check_conv_shape(s, "ist::eigen::conv2d_backward");
  if (detail::use_winograd<T>(s)) {
    detail::winograd_backward(ctx, s, x, w, dy, dx, dw, accumulate_dx);
    return;
  }
  const int ohw = s.out_h() * s.out_w();
  const int crr = s.c * s.r * s.r;
  const std::size_t in_img = std::size_t(s.c) * s.h * s.w;
  const std::size_t out_img = std::size_t(s.k) * ohw;
  const std::size_t wsize = detail::round_up(std::size_t(crr) * s.k, 64);
  const int nt = std::min(ctx.threads(), s.n);
  const bool phases = detail::use_phases(s) && s.c % detail::packet_size<T> == 0;
  if (detail::use_direct(s) || phases) {
    // Stride 1: the input gradient is a "same" convolution of the padded dy (k channels) with the flipped
    // weights, c outputs. Stride 2: one such convolution per phase of dx. Images are padded in groups
    // that fit in about half a megabyte, and the weight gradient of a group is one pass.
    const detail::Padded<T> g = phases ? detail::phase_grid<T>(s) : detail::Padded<T>(s.h, s.w, s.r);
    const int c_pad = (s.c + detail::kDirectKB - 1) / detail::kDirectKB * detail::kDirectKB;
    const std::size_t wt_size = detail::round_up(std::size_t(c_pad) * s.k * s.r * s.r, 64);
    // 3x3 with whole packets of input channels: weight gradient from the transposed input (dwt[k][tap][c]).
    const bool transposed = s.r == 3 && s.c % detail::packet_size<T> == 0;
    // The weight gradient alone, of fewer input planes (times r) than output planes: dy where it lies, against
    // shifted copies of x (the stem).
    const bool in_place = !dx && !phases && !transposed && detail::use_dy_in_place<T>(s);
    const std::size_t x_img = detail::round_up(
        in_place ? std::size_t(s.c) * s.r * detail::shifted_plane(s, detail::packet_size<T>)
                 : std::size_t(s.c) * (phases ? 4 : 1) * g.plane, 64);
    const std::size_t dy_img = in_place ? 0 : detail::round_up(std::size_t(s.k) * g.plane, 64);
    // Small images with whole packets of both channel counts: the input gradient from the channel-vectorized
    // kernel, on each image's dy transposed (the weight gradient keeps dy's planes: measured faster).
    const bool nhwc = detail::use_nhwc<T>(s);
    const int pixels = s.h * s.w;
    const int group = int(std::clamp<std::size_t>((std::size_t(512) << 10) / ((x_img + dy_img) * sizeof(T)), 1, 16));
    const std::size_t dxq_size = dx ? detail::round_up(std::size_t(c_pad) * g.oplane, 64) : 0;
    const std::size_t dyt_size = dx && nhwc ? dy_img : 0;  // one image's dy, transposed, for the input gradient
    const std::size_t need = wsize + wt_size + group * (x_img + dy_img) + dxq_size + dyt_size;
    const int rr = s.r * s.r;
    for (int t = 0; t < nt; ++t) ctx.scratch<T>(t, need);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      T* dW = ctx.scratch<T>(t, need);
      T* wt = dW + wsize;
      T* xp = wt + wt_size;
      T* dyp = xp + group * x_img;
      T* dxq = dyp + group * dy_img;
      T* dyt = dxq + dxq_size;
      // Entry offsets: [0, rr) the weight-gradient taps; then the input gradient's entries (stride 1:
      // k*rr of them; stride 2: per phase, at most k*4 each at eoff + k*4*phase, weights packed phase
      // after phase).
      int* toff = detail::int_scratch(std::size_t(rr) + std::size_t(s.k) * std::max(16, rr) + std::size_t(pixels) +
                                      std::size_t(crr));
      int* eoff = toff + rr;
      int* pbase = eoff + std::size_t(s.k) * std::max(16, rr);  // the channel-vectorized kernel's pixels
      int* xoff = pbase + pixels;  // the weight gradient's entries (dot_weight_grad)
      const detail::DotTerms terms = in_place ? detail::weight_grad_terms_in_place<T>(s, x_img, xoff)
                                              : detail::weight_grad_terms_padded(g, s.c, s.r, x_img, dy_img, xoff);
      int phase_entries[4] = {0, 0, 0, 0};
      for (int kh = 0; kh < s.r; ++kh)
        for (int kw = 0; kw < s.r; ++kw)
          toff[kh * s.r + kw] = phases ? int(std::size_t(detail::phase_of(kh) * 2 + detail::phase_of(kw)) * g.plane) +
                                             g.front + detail::phase_shift(kh) * g.pw + detail::phase_shift(kw)
                                       : g.tap(kh, kw);
      std::fill(dW, dW + std::size_t(crr) * s.k, T(0));
      if (dx) {
        if (phases) {
          std::size_t woff = 0;
          IST_UNROLL_FULLY
          for (int ph = 0; ph < 4; ++ph) {
            phase_entries[ph] = detail::phase_grad_entries(g, s.k, s.c, ph / 2, ph % 2, w, eoff + s.k * 4 * ph, wt + woff);
            woff += std::size_t(c_pad) * phase_entries[ph];
          }
        } else if (nhwc) {
          detail::pack_nhwc_weights(s.k, s.c, rr, w, true, wt);
          detail::nhwc_tables(g, s.r, s.k, pbase, eoff);
        } else {
          detail::pack_direct_weights(s.c, s.k, rr, w, true, wt);
          detail::same_entries(g, s.k, s.r, eoff);
        }
      }
      const int i_end = int(std::int64_t(s.n) * (t + 1) / nt);
      for (int i0 = int(std::int64_t(s.n) * t / nt); i0 < i_end; i0 += group) {
        const int gn = std::min(group, i_end - i0);
        for (int j = 0; j < gn; ++j) {
          if (in_place) {
            detail::shifted_copies(s, x + (i0 + j) * in_img, xp + j * x_img);
            continue;
          }
          if (phases)
            detail::pad_phases(g, s.h, s.w, s.c, x + (i0 + j) * in_img, xp + j * x_img, true);
          else if (transposed)
            detail::pad_planes_transposed(g, s.c, x + (i0 + j) * in_img, xp + j * x_img);
          else
            detail::pad_planes(g, s.c, x + (i0 + j) * in_img, xp + j * x_img);
          detail::pad_planes(g, s.k, dy + (i0 + j) * out_img, dyp + j * dy_img);
        }
        if (transposed)
          detail::direct_weight_grad_t(g, s.c, s.k, toff, xp, dyp, x_img, dy_img, gn, dW);
        else
          detail::dot_weight_grad(terms, s.k, xp, in_place ? dy + i0 * out_img : dyp, gn, dW);
        if (dx)
          for (int j = 0; j < gn; ++j) {
            T* dxi = dx + (i0 + j) * in_img;
            if (phases) {
              std::size_t woff = 0;
              IST_UNROLL_FULLY
              for (int ph = 0; ph < 4; ++ph) {
                detail::direct_conv(g, eoff + s.k * 4 * ph, phase_entries[ph], s.c, dyp + j * dy_img, wt + woff, dxq);
                detail::unpad_phase(g, s.h, s.w, s.c, ph / 2, ph % 2, dxq, dxi, accumulate_dx);
                woff += std::size_t(c_pad) * phase_entries[ph];
              }
            } else if (nhwc) {
              detail::pad_planes_transposed(g, s.k, dy + (i0 + j) * out_img, dyt);
              detail::nhwc_conv(pixels, pbase, eoff, rr * s.k, s.c, dyt, wt, dxq);
              detail::transpose_to_planes(dxq, pixels, s.c, dxi, accumulate_dx);
            } else {
              detail::direct_conv(g, eoff, s.k * rr, s.c, dyp + j * dy_img, wt, dxq);
              detail::unpad_planes(g, s.c, dxq, dxi, accumulate_dx);
            }
          }
      }
    }
    // Sum the per-thread weight gradients in thread order (transposing dwt[k][tap][c] when used).
    for (int t = 0; t < nt; ++t) {
      const T* part = ctx.scratch<T>(t, need);
      if (transposed) {
        for (int k = 0; k < s.k; ++k)
          for (int c = 0; c < s.c; ++c)
            for (int tap = 0; tap < rr; ++tap)
              dw[(std::size_t(k) * s.c + c) * rr + tap] += part[(std::size_t(k) * rr + tap) * s.c + c];
      } else {
        for (std::size_t j = 0; j < std::size_t(crr) * s.k; ++j) dw[j] += part[j];
      }
    }
    return;
  }
  if (detail::use_pointwise_s2(s) && s.c % detail::packet_size<T> == 0) {
    // Input channels whole packets: image by image, dy where it lies. The weight gradient comes from the
    // subsampled input transposed (pointwise_weight_grad_t), and the input gradient's direct kernel reads dy in
    // place too, but for the batch's last image, whose kernel would read past the end of dy (the positions it
    // rounds up to whole blocks): that one is copied, with zeros after it.
    const detail::Padded<T> g = detail::pointwise_grid<T>(s);
    const int c_pad = (s.c + detail::kDirectKB - 1) / detail::kDirectKB * detail::kDirectKB;
    const std::size_t wt_size = detail::round_up(std::size_t(c_pad) * s.k, 64);
    const std::size_t xs_size = detail::round_up(std::size_t(s.c) * ohw, 64);
    const std::size_t last_size =
        dx ? detail::round_up(out_img + std::size_t(g.nq) + std::size_t(detail::packet_size<T>), 64) : 0;
    const std::size_t dxq_size = dx ? std::size_t(c_pad) * g.oplane : 0;
    const std::size_t need = wsize + wt_size + 2 * xs_size + last_size + dxq_size;
    for (int t = 0; t < nt; ++t) ctx.scratch<T>(t, need);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      T* dW = ctx.scratch<T>(t, need);  // dW[k][c], as dw
      T* wt = dW + wsize;
      T* xs = wt + wt_size;  // the subsampled input, planes
      T* xt = xs + xs_size;  // the same, transposed
      T* last = xt + xs_size;
      T* dxq = last + last_size;
      std::fill(dW, dW + std::size_t(s.c) * s.k, T(0));
      int* eoff = detail::int_scratch(std::size_t(s.k));
      for (int k = 0; k < s.k; ++k) eoff[k] = k * ohw;
      if (dx) detail::pack_direct_weights(s.c, s.k, 1, w, true, wt);
      const int i_end = int(std::int64_t(s.n) * (t + 1) / nt);
      for (int i = int(std::int64_t(s.n) * t / nt); i < i_end; ++i) {
        detail::subsample(s, x + i * in_img, xs, std::size_t(ohw));
        detail::pad_planes_transposed(g, s.c, xs, xt, false);
        const T* dyi = dy + i * out_img;
        detail::pointwise_weight_grad_t(s.c, s.k, ohw, xt, dyi, dW);
        if (!dx) continue;
        if (i == s.n - 1) {
          std::copy(dyi, dyi + out_img, last);
          detail::zero_fill(last + out_img, last + last_size);
          dyi = last;
        }
        detail::direct_conv(g, eoff, s.k, s.c, dyi, wt, dxq);
        T* dxi = dx + i * in_img;
        if (accumulate_dx)
          detail::unpad_phase(g, s.h, s.w, s.c, 0, 0, dxq, dxi, true);
        else
          detail::unpad_subsampled(g, s.h, s.w, s.c, dxq, dxi);
      }
    }
    const std::size_t cells = std::size_t(s.c) * s.k;
    for (int t = 0; t < nt; ++t) {
      const T* part = ctx.scratch<T>(t, need);
      for (std::size_t j = 0; j < cells; ++j) dw[j] += part[j];
    }
    return;
  }
  if (detail::use_pointwise_s2(s)) {
    // Other channel counts: images in groups of about half a megabyte: the group's subsampled inputs and its dy side by side,
    // [c][gn * ohw] and [k][gn * ohw], so that the weight gradient is one GEMM per group (K = gn * ohw, not
    // one small GEMM per image), and the input gradient's direct kernel reads dy where it lies.
    const detail::Padded<T> g = detail::pointwise_grid<T>(s);
    constexpr int L = detail::packet_size<T>;
    const int c_pad = (s.c + detail::kDirectKB - 1) / detail::kDirectKB * detail::kDirectKB;
    const int group = int(std::clamp<std::size_t>((std::size_t(512) << 10) / (std::size_t(s.c + s.k) * ohw * sizeof(T)), 1, 64));
    const std::size_t wt_size = detail::round_up(std::size_t(c_pad) * s.k, 64);
    const std::size_t xs_size = detail::round_up(std::size_t(s.c) * group * ohw, 64);
    // dy's slack: the direct kernel reads up to g.nq - ohw positions past the last image's last channel.
    const std::size_t dyg_size = detail::round_up(std::size_t(s.k) * group * ohw + std::size_t(g.nq) + L, 64);
    const std::size_t dxq_size = dx ? std::size_t(c_pad) * g.oplane : 0;
    const std::size_t need = wsize + wt_size + xs_size + dyg_size + dxq_size;
    for (int t = 0; t < nt; ++t) ctx.scratch<T>(t, need);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      T* dW = ctx.scratch<T>(t, need);  // (k x c) column-major: dw transposed
      T* wt = dW + wsize;
      T* xsg = wt + wt_size;
      T* dyg = xsg + xs_size;
      T* dxq = dyg + dyg_size;
      std::fill(dW, dW + std::size_t(s.c) * s.k, T(0));
      int* eoff = detail::int_scratch(std::size_t(s.k));
      if (dx) detail::pack_direct_weights(s.c, s.k, 1, w, true, wt);
      const int i_end = int(std::int64_t(s.n) * (t + 1) / nt);
      for (int i0 = int(std::int64_t(s.n) * t / nt); i0 < i_end; i0 += group) {
        const int gn = std::min(group, i_end - i0);
        const std::size_t row = std::size_t(gn) * ohw;  // K of the group's GEMM
        for (int j = 0; j < gn; ++j) {
          detail::subsample(s, x + (i0 + j) * in_img, xsg + std::size_t(j) * ohw, row);
          const T* dyi = dy + (i0 + j) * out_img;
          for (int k = 0; k < s.k; ++k)
            std::copy(dyi + std::size_t(k) * ohw, dyi + std::size_t(k + 1) * ohw,
                      dyg + std::size_t(k) * row + std::size_t(j) * ohw);
        }
        detail::zero_fill(dyg + std::size_t(s.k) * row, dyg + std::size_t(s.k) * row + std::size_t(g.nq) + L);
        // dW^T += dY^T Xs: the GEMM's rows are the k output channels (measured 5% faster for the whole
        // backward than with the c input channels as rows, 1 thread, Zen 3).
        gemm(true, false, s.k, s.c, int(row), dyg, int(row), xsg, int(row), dW, s.k, true);
        if (dx)
          for (int j = 0; j < gn; ++j) {
            for (int k = 0; k < s.k; ++k) eoff[k] = int(std::size_t(k) * row + std::size_t(j) * ohw);
            detail::direct_conv(g, eoff, s.k, s.c, dyg, wt, dxq);
            T* dxi = dx + (i0 + j) * in_img;
            if (accumulate_dx)
              detail::unpad_phase(g, s.h, s.w, s.c, 0, 0, dxq, dxi, true);
            else
              detail::unpad_subsampled(g, s.h, s.w, s.c, dxq, dxi);
          }
      }
    }
    detail::ColMap<T> dWout(dw, s.c, s.k);
    for (int t = 0; t < nt; ++t) dWout += detail::ColMap<T>(ctx.scratch<T>(t, need), s.k, s.c).transpose();
    return;
  }
  const std::size_t col_size = s.is_pointwise() ? 0 : detail::round_up(std::size_t(crr) * ohw, 64);
  for (int t = 0; t < nt; ++t) ctx.scratch<T>(t, col_size + wsize);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    T* scratch = ctx.scratch<T>(t, col_size + wsize);
    T* col = scratch;
    T* dW = scratch + col_size;  // (crr x k) column-major
    std::fill(dW, dW + std::size_t(crr) * s.k, T(0));
#pragma omp for schedule(static)
    for (int i = 0; i < s.n; ++i) {
      const T* xi = x + i * in_img;
      const T* dyi = dy + i * out_img;  // dY: (ohw x k) column-major
      if (s.is_pointwise()) {
        gemm(true, false, crr, s.k, ohw, xi, ohw, dyi, ohw, dW, crr, true);  // dW += X^T dY
        if (dx) gemm(false, true, ohw, crr, s.k, dyi, ohw, w, crr, dx + i * in_img, ohw, accumulate_dx);  // dX = dY W^T
      } else {
        detail::im2col(s, xi, col);
        gemm(true, false, crr, s.k, ohw, col, ohw, dyi, ohw, dW, crr, true);  // dW += Col^T dY
        if (dx) {
          gemm(false, true, ohw, crr, s.k, dyi, ohw, w, crr, col, ohw, false);  // d(col) = dY W^T, in col's buffer
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

#undef IST_UNROLL_FULLY
