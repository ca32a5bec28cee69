#pragma once
// Softmax cross-entropy averaged over the batch, with its gradient in the same pass, on the GPU. Same
// contract as ist/backend/eigen/softmax_cross_entropy.hpp, plus the context (first parameter): logits,
// dlogits: [n, classes] and labels: [n] are device memory.
//
// One block computes every sample's loss and gradient in double precision and sums loss and hits in a
// fixed order (so the result is the same run to run); the two numbers come back to the host, which
// synchronizes the context's stream. A label outside [0, classes) throws ist::Error naming the first
// such sample.
// Scratch: slot 1 (the 24-byte result).
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <vector>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/eigen/softmax_cross_entropy.hpp"  // LossResult (plain C++, no Eigen)
#include "ist/core/error.hpp"

namespace ist::cuda {

using LossResult = ::ist::eigen::LossResult;

namespace detail {
struct LossReadout {
  double loss_sum;
  int correct;
  int bad_index;  // first sample with an invalid label, or -1
  int bad_label;
  int unused;
};
}  // namespace detail

namespace kernels {

inline constexpr int loss_threads = 256;

template <class T>
__global__ void __launch_bounds__(loss_threads)
    softmax_cross_entropy(int n, int classes, const T* logits, const std::int32_t* labels, T* dlogits,
                          detail::LossReadout* out) {
  __shared__ double s_loss[loss_threads];
  __shared__ int s_correct[loss_threads];
  __shared__ int s_bad[loss_threads];
  double loss = 0;
  int correct = 0, bad = INT_MAX;
  for (int i = int(threadIdx.x); i < n; i += loss_threads) {
    const T* z = logits + std::size_t(i) * classes;
    const int y = labels[i];
    if (y < 0 || y >= classes) {
      bad = min(bad, i);
      continue;
    }
    int arg = 0;  // first maximum, as std::max_element
    T zmax = z[0];
    for (int j = 1; j < classes; ++j)
      if (zmax < z[j]) {
        zmax = z[j];
        arg = j;
      }
    double sum = 0;
    for (int j = 0; j < classes; ++j) sum += exp(double(z[j] - zmax));
    const double log_sum = log(sum);
    loss += log_sum - double(z[y] - zmax);
    correct += arg == y;
    if (dlogits) {
      T* d = dlogits + std::size_t(i) * classes;
      for (int j = 0; j < classes; ++j) {
        const double p = exp(double(z[j] - zmax) - log_sum);
        d[j] = T((p - (j == y ? 1.0 : 0.0)) / n);
      }
    }
  }
  s_loss[threadIdx.x] = loss;
  s_correct[threadIdx.x] = correct;
  s_bad[threadIdx.x] = bad;
  __syncthreads();
  for (int half = loss_threads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) {
      s_loss[threadIdx.x] += s_loss[threadIdx.x + half];
      s_correct[threadIdx.x] += s_correct[threadIdx.x + half];
      s_bad[threadIdx.x] = min(s_bad[threadIdx.x], s_bad[threadIdx.x + half]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out->loss_sum = s_loss[0];
    out->correct = s_correct[0];
    out->bad_index = s_bad[0] == INT_MAX ? -1 : s_bad[0];
    out->bad_label = s_bad[0] == INT_MAX ? 0 : labels[s_bad[0]];
    out->unused = 0;
  }
}

}  // namespace kernels

// dlogits (may be null) = (softmax(logits) - onehot(label)) / n: the gradient of the mean loss.
inline LossResult softmax_cross_entropy(CudaContext& ctx, int n, int classes, const float* logits,
                                        const std::int32_t* labels, float* dlogits) {
  IST_CHECK(n > 0 && classes > 0, "ist::cuda::softmax_cross_entropy: expected positive sizes, found n=", n,
            " classes=", classes);
  auto* device_out = ctx.scratch<detail::LossReadout>(1, 1);
  auto* host_out = static_cast<detail::LossReadout*>(ctx.pinned_host(sizeof(detail::LossReadout)));
  kernels::softmax_cross_entropy<<<1, kernels::loss_threads, 0, ctx.stream()>>>(n, classes, logits, labels, dlogits,
                                                                               device_out);
  IST_CUDA_CHECK_LAUNCH("softmax_cross_entropy");
  IST_CUDA_CHECK(
      cudaMemcpyAsync(host_out, device_out, sizeof(detail::LossReadout), cudaMemcpyDeviceToHost, ctx.stream()));
  ctx.synchronize();
  const detail::LossReadout r = *host_out;
  IST_CHECK(r.bad_index < 0, "ist::cuda::softmax_cross_entropy: sample ", r.bad_index,
            ": expected a label in [0, ", classes, "), found ", r.bad_label);
  LossResult result;
  result.loss = r.loss_sum / n;
  result.correct = r.correct;
  return result;
}

// The same op without waiting: the kernel writes the step's loss sum, hits and label check into `*readout`
// (device memory) and returns at once, so the host can queue the next step while this one runs. Read a
// batch of readouts back with read_losses() when the numbers are needed (the trainer: once per round).
inline void softmax_cross_entropy_deferred(CudaContext& ctx, int n, int classes, const float* logits,
                                           const std::int32_t* labels, float* dlogits, detail::LossReadout* readout) {
  IST_CHECK(n > 0 && classes > 0, "ist::cuda::softmax_cross_entropy_deferred: expected positive sizes, found n=", n,
            " classes=", classes);
  kernels::softmax_cross_entropy<<<1, kernels::loss_threads, 0, ctx.stream()>>>(n, classes, logits, labels, dlogits,
                                                                               readout);
  IST_CUDA_CHECK_LAUNCH("softmax_cross_entropy");
}

// Waits for ctx's stream and returns the sum over `count` deferred readouts of (loss sum, hits): the
// loss_sum field holds the summed cross-entropy (not the mean). Throws, naming the sample and label, if a
// step saw a label outside [0, classes). per_readout (optional): each readout's summed cross-entropy, in order.
inline LossResult read_losses(CudaContext& ctx, const detail::LossReadout* readouts, std::size_t count, int classes,
                              std::vector<double>* per_readout = nullptr) {
  LossResult total{0.0, 0};
  if (count == 0) return total;
  auto* host = static_cast<detail::LossReadout*>(ctx.pinned_host(count * sizeof(detail::LossReadout)));
  IST_CUDA_CHECK(cudaMemcpyAsync(host, readouts, count * sizeof(detail::LossReadout), cudaMemcpyDeviceToHost,
                                 ctx.stream()));
  ctx.synchronize();
  for (std::size_t i = 0; i < count; ++i) {
    IST_CHECK(host[i].bad_index < 0, "ist::cuda::softmax_cross_entropy: step ", i, ", sample ", host[i].bad_index,
              ": expected a label in [0, ", classes, "), found ", host[i].bad_label);
    total.loss += host[i].loss_sum;
    total.correct += host[i].correct;
    if (per_readout) per_readout->push_back(host[i].loss_sum);
  }
  return total;
}

}  // namespace ist::cuda
