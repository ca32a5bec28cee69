#pragma once
// The graph networks' row and element-wise ops on the GPU (what SageNetwork and GcnNetwork use besides the
// linear maps and the sparse products): the non-affine layer norm, row concatenation and its inverse, a
// transpose (set or added) and zeroing, dropout with the Eigen backend's masks bit for bit, and the
// cross-entropy over a subset of the nodes. Same shapes and contracts as the Eigen ops named at each function
// (layer_norm.hpp, graph_ops.hpp, dropout.hpp, node_cross_entropy.hpp), with the context first. Every pointer is
// device memory (but score_nodes' host lists); every op is asynchronous on ctx.stream() except
// node_cross_entropy and score_nodes, which return their result to the host (and synchronize). The ReLU and its
// backward (eigen::detail::relu, relu_mask) are cuda::relu_forward and relu_backward (elementwise.cuh).
// Gradient contract: input gradients overwrite (none of these ops has parameters).
// Scratch: slot 1 (node_cross_entropy: per-block sums and the result), slot 2 (layer norm's partial sums, only
// when a row is split over several blocks); score_nodes also uses the context's input slots 0 and 1.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <span>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/launch.cuh"
#include "ist/backend/eigen/softmax_cross_entropy.hpp"  // LossResult (plain C++, no Eigen)
#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"

namespace ist::cuda {

using LossResult = ::ist::eigen::LossResult;

namespace detail {

// ist::derive_seed(seed, {id}) for one stream id, callable on the device (ist::mix64 and ist::Rng are constexpr,
// so device code calls them as they are under --expt-relaxed-constexpr; derive_seed's initializer_list is not).
__host__ __device__ constexpr std::uint64_t device_derive_seed(std::uint64_t seed, std::uint64_t id) {
  return ::ist::mix64(::ist::mix64(seed) ^ ::ist::mix64(id + 0x632be59bd9b4e019ULL));
}
static_assert(device_derive_seed(0, 0) == ::ist::derive_seed(0, {0}) &&
                  device_derive_seed(20240607, 12345) == ::ist::derive_seed(20240607, {12345}),
              "device_derive_seed must equal ist::derive_seed");

inline constexpr std::size_t dropout_chunk = 4096;  // elements per random stream, = eigen::detail::kDropoutChunk

// A drop probability's threshold (an element is kept when its 32 random bits are >= threshold) and multiplier
// of the kept elements, as eigen::dropout_mask computes them.
struct DropoutDraw {
  std::uint64_t threshold;
  float keep;
};
inline DropoutDraw dropout_draw(double p) {
  return {std::uint64_t(p * 4294967296.0), float(1.0 / (1.0 - p))};
}

// Chunk k's elements [first, last) of the mask, as eigen::detail::dropout_mask_chunk: draw j of the stream
// derive_seed(seed, {k}) gives elements first + 2j (its low 32 bits) and first + 2j + 1 (its high 32 bits).
// With x (else null), also y = x * mask on the range (y may alias x).
__host__ __device__ inline void dropout_mask_chunk(std::uint64_t seed, std::uint64_t k, DropoutDraw d,
                                                   std::size_t first, std::size_t last, const float* x, float* y,
                                                   float* mask) {
  ::ist::Rng rng(device_derive_seed(seed, k));
  for (std::size_t i = first; i < last; i += 2) {
    const std::uint64_t r = rng();
    const float m0 = (r & 0xffffffffu) >= d.threshold ? d.keep : 0.0f;
    mask[i] = m0;
    if (x) y[i] = x[i] * m0;
    if (i + 1 < last) {
      const float m1 = (r >> 32) >= d.threshold ? d.keep : 0.0f;
      mask[i + 1] = m1;
      if (x) y[i + 1] = x[i + 1] * m1;
    }
  }
}

// node_cross_entropy's sums: per block of the first kernel, then (one more element) the total, with the node
// and label at the first bad position.
struct NodeLossSums {
  double loss_sum;
  unsigned long long correct;
  unsigned long long bad_position;  // first index into `nodes` with a node or label out of range, or no_bad
  int bad_node;
  int bad_label;
};
inline constexpr unsigned long long no_bad = ULLONG_MAX;

}  // namespace detail

namespace kernels {

inline constexpr int norm_threads = 256;
inline constexpr int norm_warps = norm_threads / 32;

// The threads that share a row (or part of a row) of layer norm: one warp (kWarp) or the whole block, and the
// first unit (row or part) and unit stride of this group.
template <bool kWarp>
struct NormGroup {
  std::size_t lane, size, first, stride;
  __device__ NormGroup()
      : lane(kWarp ? threadIdx.x % 32 : threadIdx.x),
        size(kWarp ? 32 : norm_threads),
        first(kWarp ? std::size_t(blockIdx.x) * norm_warps + threadIdx.x / 32 : blockIdx.x),
        stride(kWarp ? std::size_t(gridDim.x) * norm_warps : gridDim.x) {}
};

// Sum of v over the group (a warp, or the block of norm_threads: then every thread of the block must call it),
// in a fixed order, returned to every thread of the group.
template <bool kWarp>
__device__ double group_sum(double v) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  v = __shfl_sync(0xffffffffu, v, 0);
  if constexpr (kWarp) {
    return v;
  } else {
    __shared__ double warp_sums[norm_warps];
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
    __syncthreads();
    double total = 0;
    for (int w = 0; w < norm_warps; ++w) total += warp_sums[w];
    __syncthreads();  // warp_sums is free for the next call
    return total;
  }
}

// Layer norm forward, one group per row.
template <bool kWarp, class T>
__global__ void __launch_bounds__(norm_threads)
    layer_norm_rows(std::size_t rows, std::size_t cols, T eps, const T* x, T* y, T* save_mean, T* save_invstd) {
  const NormGroup<kWarp> g;
  for (std::size_t r = g.first; r < rows; r += g.stride) {
    const T* p = x + r * cols;
    T* q = y + r * cols;
    double s = 0;
    for (std::size_t j = g.lane; j < cols; j += g.size) s += double(p[j]);
    const double mean = group_sum<kWarp>(s) / double(cols);
    double v = 0;
    for (std::size_t j = g.lane; j < cols; j += g.size) v += (double(p[j]) - mean) * (double(p[j]) - mean);
    const double invstd = 1.0 / sqrt(group_sum<kWarp>(v) / double(cols) + double(eps));
    if (g.lane == 0) {
      save_mean[r] = T(mean);
      save_invstd[r] = T(invstd);
    }
    for (std::size_t j = g.lane; j < cols; j += g.size) q[j] = T((double(p[j]) - mean) * invstd);
  }
}

// Layer norm forward with each row split into `parts` blocks, pass `pass` of three over the units
// u = row * parts + part, each a block over its part's columns [cols * part / parts, cols * (part + 1) / parts):
//   0: partial[u] = sum of x;  1: partial[units + u] = sum of (x - mean)^2;  2: y = (x - mean) * invstd.
// Every block sums its row's `parts` partials in the same order, so all parts see the same mean and invstd.
template <class T>
__global__ void __launch_bounds__(norm_threads)
    layer_norm_parts(int pass, std::size_t rows, std::size_t cols, std::size_t parts, T eps, const T* x, T* y,
                     T* save_mean, T* save_invstd, double* partial) {
  const std::size_t units = rows * parts;
  for (std::size_t u = blockIdx.x; u < units; u += gridDim.x) {
    const std::size_t r = u / parts, part = u % parts;
    const std::size_t begin = r * cols + cols * part / parts, end = r * cols + cols * (part + 1) / parts;
    if (pass == 0) {
      double s = 0;
      for (std::size_t j = begin + threadIdx.x; j < end; j += norm_threads) s += double(x[j]);
      s = group_sum<false>(s);
      if (threadIdx.x == 0) partial[u] = s;
      continue;
    }
    double mean = 0;
    for (std::size_t i = 0; i < parts; ++i) mean += partial[r * parts + i];
    mean /= double(cols);
    if (pass == 1) {
      double v = 0;
      for (std::size_t j = begin + threadIdx.x; j < end; j += norm_threads)
        v += (double(x[j]) - mean) * (double(x[j]) - mean);
      v = group_sum<false>(v);
      if (threadIdx.x == 0) partial[units + u] = v;
      continue;
    }
    double var = 0;
    for (std::size_t i = 0; i < parts; ++i) var += partial[units + r * parts + i];
    const double invstd = 1.0 / sqrt(var / double(cols) + double(eps));
    if (part == 0 && threadIdx.x == 0) {
      save_mean[r] = T(mean);
      save_invstd[r] = T(invstd);
    }
    for (std::size_t j = begin + threadIdx.x; j < end; j += norm_threads) y[j] = T((double(x[j]) - mean) * invstd);
  }
}

// Layer norm backward, one group per row: dx = invstd * (dy - mean(dy) - y * mean(dy * y)).
template <bool kWarp, class T>
__global__ void __launch_bounds__(norm_threads) layer_norm_backward_rows(std::size_t rows, std::size_t cols,
                                                                         const T* y, const T* dy, const T* invstd,
                                                                         T* dx) {
  const NormGroup<kWarp> g;
  for (std::size_t r = g.first; r < rows; r += g.stride) {
    const T* py = y + r * cols;
    const T* pd = dy + r * cols;
    T* q = dx + r * cols;
    double sd = 0, sdy = 0;
    for (std::size_t j = g.lane; j < cols; j += g.size) {
      sd += double(pd[j]);
      sdy += double(pd[j]) * double(py[j]);
    }
    sd = group_sum<kWarp>(sd);
    sdy = group_sum<kWarp>(sdy);
    const T md = T(sd / double(cols)), mdy = T(sdy / double(cols)), k = invstd[r];
    for (std::size_t j = g.lane; j < cols; j += g.size) q[j] = k * (pd[j] - md - py[j] * mdy);
  }
}

// Layer norm backward with each row split into `parts` blocks (units as in layer_norm_parts), pass 0:
// partial[2u], partial[2u + 1] = the part's sums of dy and dy * y; pass 1: dx on the part.
template <class T>
__global__ void __launch_bounds__(norm_threads)
    layer_norm_backward_parts(int pass, std::size_t rows, std::size_t cols, std::size_t parts, const T* y,
                              const T* dy, const T* invstd, T* dx, double* partial) {
  const std::size_t units = rows * parts;
  for (std::size_t u = blockIdx.x; u < units; u += gridDim.x) {
    const std::size_t r = u / parts, part = u % parts;
    const std::size_t begin = r * cols + cols * part / parts, end = r * cols + cols * (part + 1) / parts;
    if (pass == 0) {
      double sd = 0, sdy = 0;
      for (std::size_t j = begin + threadIdx.x; j < end; j += norm_threads) {
        sd += double(dy[j]);
        sdy += double(dy[j]) * double(y[j]);
      }
      sd = group_sum<false>(sd);
      sdy = group_sum<false>(sdy);
      if (threadIdx.x == 0) {
        partial[2 * u] = sd;
        partial[2 * u + 1] = sdy;
      }
      continue;
    }
    double sd = 0, sdy = 0;
    for (std::size_t i = 0; i < parts; ++i) {
      sd += partial[2 * (r * parts + i)];
      sdy += partial[2 * (r * parts + i) + 1];
    }
    const T md = T(sd / double(cols)), mdy = T(sdy / double(cols)), k = invstd[r];
    for (std::size_t j = begin + threadIdx.x; j < end; j += norm_threads) dx[j] = k * (dy[j] - md - y[j] * mdy);
  }
}

template <class T>
__global__ void concat_rows(std::size_t n, std::size_t a_cols, const T* a, std::size_t b_cols, const T* b, T* out) {
  const std::size_t w = a_cols + b_cols, total = n * w;
  for (std::size_t i = detail::global_thread(); i < total; i += detail::grid_threads()) {
    const std::size_t r = i / w, j = i - r * w;
    out[i] = j < a_cols ? a[r * a_cols + j] : b[r * b_cols + (j - a_cols)];
  }
}

template <class T>
__global__ void split_rows(std::size_t n, std::size_t a_cols, std::size_t b_cols, const T* in, T* a, T* b) {
  const std::size_t w = a_cols + b_cols, total = n * w;
  for (std::size_t i = detail::global_thread(); i < total; i += detail::grid_threads()) {
    const std::size_t r = i / w, j = i - r * w;
    if (j < a_cols) a[r * a_cols + j] = in[i];
    else b[r * b_cols + (j - a_cols)] = in[i];
  }
}

// dst [cols, rows] = src^T (kAdd: +=) for src [rows, cols]; a thread per element of src (coalesced reads).
template <bool kAdd, class T>
__global__ void transpose(std::size_t rows, std::size_t cols, const T* src, T* dst) {
  const std::size_t total = rows * cols;
  for (std::size_t i = detail::global_thread(); i < total; i += detail::grid_threads()) {
    const std::size_t r = i / cols, c = i - r * cols;
    if constexpr (kAdd) dst[c * rows + r] += src[i];
    else dst[c * rows + r] = src[i];
  }
}

inline constexpr int dropout_threads = 64;  // threads per block, one per chunk of 4096 elements

// Chunks k of the mask (and y = x * mask where x is not null), one thread per chunk.
template <class T>
__global__ void dropout_forward(std::size_t count, std::uint64_t seed, detail::DropoutDraw d, const T* x, T* y,
                                T* mask) {
  const std::size_t chunks = (count + detail::dropout_chunk - 1) / detail::dropout_chunk;
  for (std::size_t k = detail::global_thread(); k < chunks; k += detail::grid_threads()) {
    const std::size_t first = k * detail::dropout_chunk;
    const std::size_t last = count - first < detail::dropout_chunk ? count : first + detail::dropout_chunk;
    detail::dropout_mask_chunk(seed, k, d, first, last, x, y, mask);
  }
}

template <class T>
__global__ void multiply(std::size_t count, const T* a, const T* b, T* out) {
  for (std::size_t i = detail::global_thread(); i < count; i += detail::grid_threads()) out[i] = a[i] * b[i];
}

inline constexpr int loss_blocks_max = 1024;  // first-kernel blocks of node_cross_entropy
inline constexpr int node_loss_threads = 256;

// node_cross_entropy's first kernel: thread t of the grid scores nodes[t], nodes[t + grid threads], ...;
// block b's sums go to sums[b]. Writes dlogits (if not null) on the scored rows.
template <class T>
__global__ void __launch_bounds__(node_loss_threads)
    node_cross_entropy_blocks(std::size_t rows, int classes, const T* logits, const std::int32_t* labels,
                              const std::int32_t* nodes, std::size_t n_nodes, double inv_n, T* dlogits,
                              detail::NodeLossSums* sums) {
  __shared__ double s_loss[node_loss_threads];
  __shared__ unsigned long long s_correct[node_loss_threads], s_bad[node_loss_threads];
  double loss = 0;
  unsigned long long correct = 0, bad = detail::no_bad;
  for (std::size_t i = detail::global_thread(); i < n_nodes; i += detail::grid_threads()) {
    const std::int32_t node = nodes[i];
    if (node < 0 || std::size_t(node) >= rows) {
      bad = bad < i ? bad : i;
      continue;
    }
    const int y = labels[node];
    if (y < 0 || y >= classes) {
      bad = bad < i ? bad : i;
      continue;
    }
    const T* z = logits + std::size_t(node) * classes;
    int arg = 0;  // first maximum, as std::max_element
    for (int j = 1; j < classes; ++j)
      if (z[arg] < z[j]) arg = j;
    const double zmax = double(z[arg]);
    double sum = 0;
    for (int j = 0; j < classes; ++j) sum += exp(double(z[j]) - zmax);
    const double log_sum = log(sum);
    loss += log_sum - (double(z[y]) - zmax);
    correct += arg == y;
    if (dlogits) {
      T* d = dlogits + std::size_t(node) * classes;
      for (int j = 0; j < classes; ++j) d[j] = T((exp(double(z[j]) - zmax - log_sum) - (j == y ? 1.0 : 0.0)) * inv_n);
    }
  }
  s_loss[threadIdx.x] = loss;
  s_correct[threadIdx.x] = correct;
  s_bad[threadIdx.x] = bad;
  __syncthreads();
  for (int half = node_loss_threads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) {
      s_loss[threadIdx.x] += s_loss[threadIdx.x + half];
      s_correct[threadIdx.x] += s_correct[threadIdx.x + half];
      const unsigned long long other = s_bad[threadIdx.x + half];
      if (other < s_bad[threadIdx.x]) s_bad[threadIdx.x] = other;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) sums[blockIdx.x] = {s_loss[0], s_correct[0], s_bad[0], 0, 0};
}

// node_cross_entropy's second kernel (one thread): sums[blocks] = the sum of sums[0, blocks), in a fixed order,
// with the node and its label at the first bad position. (A template only so that it is inline.)
template <class I>
__global__ void node_cross_entropy_total(int blocks, std::size_t rows, const I* labels, const I* nodes,
                                         detail::NodeLossSums* sums) {
  detail::NodeLossSums t{0.0, 0, detail::no_bad, 0, 0};
  for (int b = 0; b < blocks; ++b) {
    t.loss_sum += sums[b].loss_sum;
    t.correct += sums[b].correct;
    t.bad_position = t.bad_position < sums[b].bad_position ? t.bad_position : sums[b].bad_position;
  }
  if (t.bad_position != detail::no_bad) {
    t.bad_node = nodes[t.bad_position];
    t.bad_label = t.bad_node >= 0 && std::size_t(t.bad_node) < rows ? labels[t.bad_node] : 0;
  }
  sums[blocks] = t;
}

}  // namespace kernels

namespace detail {

// How layer norm covers its rows: one warp per row (cols <= 1024), else one block per row, or `parts` blocks
// per row when there are too few rows to fill the device (rows = 1 for GraphNorm::Whole).
struct NormPlan {
  bool warp;
  std::size_t parts;
  unsigned grid;
};
inline NormPlan norm_plan(std::size_t rows, std::size_t cols) {
  NormPlan plan{cols <= 1024, 1, 1};
  if (!plan.warp) {
    const std::size_t by_cols = (cols + 16383) / 16384, by_rows = (2048 + rows - 1) / rows;
    plan.parts = std::clamp<std::size_t>(std::min(by_cols, by_rows), 1, 1024);
  }
  const std::size_t units = rows * plan.parts;
  const std::size_t blocks = plan.warp ? (units + kernels::norm_warps - 1) / kernels::norm_warps : units;
  plan.grid = unsigned(std::clamp<std::size_t>(blocks, 1, std::size_t(1) << 16));
  return plan;
}

}  // namespace detail

// = eigen::layer_norm_forward: y = (x - mean_r) * invstd_r per row r of x [rows, cols]; saves mean and invstd
// [rows] for the backward pass. y may alias x. Sums in double.
inline void layer_norm_forward(CudaContext& ctx, std::size_t rows, std::size_t cols, const float* x, float* y,
                               float* save_mean, float* save_invstd, float eps = 1e-5f) {
  IST_CHECK(cols >= 1, "ist::cuda::layer_norm_forward: expected cols >= 1, found ", cols);
  if (rows == 0) return;
  const detail::NormPlan plan = detail::norm_plan(rows, cols);
  const cudaStream_t s = ctx.stream();
  if (plan.warp) {
    kernels::layer_norm_rows<true><<<plan.grid, kernels::norm_threads, 0, s>>>(rows, cols, eps, x, y, save_mean,
                                                                               save_invstd);
  } else if (plan.parts == 1) {
    kernels::layer_norm_rows<false><<<plan.grid, kernels::norm_threads, 0, s>>>(rows, cols, eps, x, y, save_mean,
                                                                                save_invstd);
  } else {
    double* partial = ctx.scratch<double>(2, 2 * rows * plan.parts);
    for (int pass = 0; pass < 3; ++pass) {
      kernels::layer_norm_parts<<<plan.grid, kernels::norm_threads, 0, s>>>(pass, rows, cols, plan.parts, eps, x, y,
                                                                            save_mean, save_invstd, partial);
      IST_CUDA_CHECK_LAUNCH("layer_norm_parts");
    }
    return;
  }
  IST_CUDA_CHECK_LAUNCH("layer_norm_rows");
}

// = eigen::layer_norm_backward: dx = invstd * (dy - mean(dy) - y * mean(dy * y)) per row, y the forward's
// output. dx may alias dy.
inline void layer_norm_backward(CudaContext& ctx, std::size_t rows, std::size_t cols, const float* y,
                                const float* dy, const float* invstd, float* dx) {
  IST_CHECK(cols >= 1, "ist::cuda::layer_norm_backward: expected cols >= 1, found ", cols);
  if (rows == 0) return;
  const detail::NormPlan plan = detail::norm_plan(rows, cols);
  const cudaStream_t s = ctx.stream();
  if (plan.warp) {
    kernels::layer_norm_backward_rows<true><<<plan.grid, kernels::norm_threads, 0, s>>>(rows, cols, y, dy, invstd,
                                                                                        dx);
  } else if (plan.parts == 1) {
    kernels::layer_norm_backward_rows<false><<<plan.grid, kernels::norm_threads, 0, s>>>(rows, cols, y, dy, invstd,
                                                                                         dx);
  } else {
    double* partial = ctx.scratch<double>(2, 2 * rows * plan.parts);
    for (int pass = 0; pass < 2; ++pass) {
      kernels::layer_norm_backward_parts<<<plan.grid, kernels::norm_threads, 0, s>>>(pass, rows, cols, plan.parts, y,
                                                                                     dy, invstd, dx, partial);
      IST_CUDA_CHECK_LAUNCH("layer_norm_backward_parts");
    }
    return;
  }
  IST_CUDA_CHECK_LAUNCH("layer_norm_backward_rows");
}

// out [n, a_cols + b_cols]: row i = [a_i ‖ b_i], a [n, a_cols], b [n, b_cols]. out must not overlap a or b.
inline void concat_rows(CudaContext& ctx, std::size_t n, std::size_t a_cols, const float* a, std::size_t b_cols,
                        const float* b, float* out) {
  const std::size_t total = n * (a_cols + b_cols);
  if (total == 0) return;
  kernels::concat_rows<<<detail::grid_for(total), detail::block_threads, 0, ctx.stream()>>>(n, a_cols, a, b_cols, b,
                                                                                           out);
  IST_CUDA_CHECK_LAUNCH("concat_rows");
}

// The inverse of concat_rows: a_i = the first a_cols values of row i of in [n, a_cols + b_cols], b_i the rest.
// a and b must not overlap in.
inline void split_rows(CudaContext& ctx, std::size_t n, std::size_t a_cols, std::size_t b_cols, const float* in,
                       float* a, float* b) {
  const std::size_t total = n * (a_cols + b_cols);
  if (total == 0) return;
  kernels::split_rows<<<detail::grid_for(total), detail::block_threads, 0, ctx.stream()>>>(n, a_cols, b_cols, in, a,
                                                                                          b);
  IST_CUDA_CHECK_LAUNCH("split_rows");
}

// = eigen::transpose: dst [cols, rows] = src^T for src [rows, cols]. dst must not overlap src.
inline void transpose(CudaContext& ctx, int rows, int cols, const float* src, float* dst) {
  IST_CHECK(rows >= 0 && cols >= 0, "ist::cuda::transpose: expected sizes >= 0, found ", rows, " x ", cols);
  const std::size_t total = std::size_t(rows) * std::size_t(cols);
  if (total == 0) return;
  kernels::transpose<false><<<detail::grid_for(total), detail::block_threads, 0, ctx.stream()>>>(
      std::size_t(rows), std::size_t(cols), src, dst);
  IST_CUDA_CHECK_LAUNCH("transpose");
}

// = eigen::transpose_add: dst [cols, rows] += src^T for src [rows, cols]. dst must not overlap src.
inline void transpose_add(CudaContext& ctx, int rows, int cols, const float* src, float* dst) {
  IST_CHECK(rows >= 0 && cols >= 0, "ist::cuda::transpose_add: expected sizes >= 0, found ", rows, " x ", cols);
  const std::size_t total = std::size_t(rows) * std::size_t(cols);
  if (total == 0) return;
  kernels::transpose<true><<<detail::grid_for(total), detail::block_threads, 0, ctx.stream()>>>(
      std::size_t(rows), std::size_t(cols), src, dst);
  IST_CUDA_CHECK_LAUNCH("transpose_add");
}

// = eigen::fill_zero: p[0, count) = 0.
inline void fill_zero(CudaContext& ctx, std::size_t count, float* p) {
  if (count > 0) IST_CUDA_CHECK(cudaMemsetAsync(p, 0, count * sizeof(float), ctx.stream()));
}

// = eigen::dropout_forward: y = x * mask with a fresh mask [count] (saved): 0 with probability p, else
// 1 / (1 - p); p in [0, 1). The mask equals the Eigen op's bit for bit (a pure function of seed and element
// index, drawn in chunks of 4096 elements, chunk k from Rng(seed, {k})). y may alias x.
inline void dropout_forward(CudaContext& ctx, std::size_t count, double p, std::uint64_t seed, const float* x,
                            float* y, float* mask) {
  IST_CHECK(p >= 0.0 && p < 1.0, "ist::cuda::dropout_forward: expected a drop probability in [0, 1), found ", p);
  if (count == 0) return;
  const std::size_t chunks = (count + detail::dropout_chunk - 1) / detail::dropout_chunk;
  const std::size_t blocks = (chunks + kernels::dropout_threads - 1) / kernels::dropout_threads;
  const unsigned grid = unsigned(std::min<std::size_t>(blocks, std::size_t(1) << 16));
  kernels::dropout_forward<<<grid, kernels::dropout_threads, 0, ctx.stream()>>>(count, seed, detail::dropout_draw(p),
                                                                                x, y, mask);
  IST_CUDA_CHECK_LAUNCH("dropout_forward");
}

// = eigen::dropout_backward: dx = dy * mask. dx may alias dy.
inline void dropout_backward(CudaContext& ctx, std::size_t count, const float* mask, const float* dy, float* dx) {
  if (count == 0) return;
  kernels::multiply<<<detail::grid_for(count), detail::block_threads, 0, ctx.stream()>>>(count, dy, mask, dx);
  IST_CUDA_CHECK_LAUNCH("dropout_backward");
}

// = eigen::node_cross_entropy: the softmax cross-entropy of the rows `nodes` [n_nodes] of logits [rows, classes],
// averaged over the nodes; labels [rows] (-1 = unlabeled). dlogits (may be null) is overwritten:
// (softmax - onehot) / n_nodes on the scored rows, 0 elsewhere. Sums in double, in a fixed order (the same
// result run to run). Returns to the host (synchronizes ctx's stream); a node outside [0, rows) or a scored
// node without a label in [0, classes) throws ist::Error naming the first such node (in the order of `nodes`).
inline LossResult node_cross_entropy(CudaContext& ctx, std::size_t rows, int classes, const float* logits,
                                     const std::int32_t* labels, const std::int32_t* nodes, std::size_t n_nodes,
                                     float* dlogits) {
  IST_CHECK(n_nodes > 0, "ist::cuda::node_cross_entropy: expected at least one node to score, found none");
  IST_CHECK(classes > 0, "ist::cuda::node_cross_entropy: expected classes > 0, found ", classes);
  const cudaStream_t s = ctx.stream();
  if (dlogits && rows > 0) IST_CUDA_CHECK(cudaMemsetAsync(dlogits, 0, rows * std::size_t(classes) * sizeof(float), s));
  const int blocks = int(std::min<std::size_t>((n_nodes + kernels::node_loss_threads - 1) / kernels::node_loss_threads,
                                               kernels::loss_blocks_max));
  auto* sums = ctx.scratch<detail::NodeLossSums>(1, std::size_t(blocks) + 1);
  auto* host = static_cast<detail::NodeLossSums*>(ctx.pinned_host(sizeof(detail::NodeLossSums)));
  const double inv_n = 1.0 / double(n_nodes);
  kernels::node_cross_entropy_blocks<<<unsigned(blocks), kernels::node_loss_threads, 0, s>>>(
      rows, classes, logits, labels, nodes, n_nodes, inv_n, dlogits, sums);
  IST_CUDA_CHECK_LAUNCH("node_cross_entropy_blocks");
  kernels::node_cross_entropy_total<<<1, 1, 0, s>>>(blocks, rows, labels, nodes, sums);
  IST_CUDA_CHECK_LAUNCH("node_cross_entropy_total");
  IST_CUDA_CHECK(cudaMemcpyAsync(host, sums + blocks, sizeof(detail::NodeLossSums), cudaMemcpyDeviceToHost, s));
  ctx.synchronize();
  const detail::NodeLossSums t = *host;
  if (t.bad_position != detail::no_bad) {
    IST_CHECK(t.bad_node >= 0 && std::size_t(t.bad_node) < rows, "ist::cuda::node_cross_entropy: node ", t.bad_node,
              " is out of range [0, ", rows, ")");
    ::ist::fail("ist::cuda::node_cross_entropy: node ", t.bad_node, ": expected a label in [0, ", classes, "), found ",
                t.bad_label, t.bad_label == -1 ? " (unlabeled)" : "");
  }
  LossResult result;
  result.loss = t.loss_sum * inv_n;
  result.correct = int(t.correct);
  return result;
}

// = eigen::score_nodes: node_cross_entropy with labels [rows] and the node list in host memory (the graph
// training loop's form on every policy): both are uploaded to ctx's input slots 0 and 1 (CudaContext::
// upload_input), then scored as above. Returns to the host.
inline LossResult score_nodes(CudaContext& ctx, std::size_t rows, int classes, const float* logits,
                              std::span<const std::int32_t> labels, std::span<const std::int32_t> nodes,
                              float* dlogits) {
  IST_CHECK(labels.size() == rows, "ist::cuda::score_nodes: expected ", rows, " labels (one per row), found ",
            labels.size());
  IST_CHECK(!nodes.empty(), "ist::cuda::score_nodes: expected at least one node to score, found none");
  const std::int32_t* y = ctx.upload_input(0, labels.data(), labels.size());
  const std::int32_t* n = ctx.upload_input(1, nodes.data(), nodes.size());
  return node_cross_entropy(ctx, rows, classes, logits, y, n, nodes.size(), dlogits);
}

}  // namespace ist::cuda
