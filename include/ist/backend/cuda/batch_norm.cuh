#pragma once
// Batch normalization over NCHW device tensors, per channel (cuDNN, CUDNN_BATCHNORM_SPATIAL), optionally
// followed by ReLU (a separate element-wise kernel). Same contract as ist/backend/eigen/batch_norm.hpp:
// training mode normalizes with the batch's statistics (biased variance) and saves the mean and
// 1/sqrt(var + eps), as cuDNN does; running statistics, if given, are updated the PyTorch way with
// exponentialAverageFactor = momentum (cuDNN uses the unbiased variance for the running variance).
//
// Shapes: x, y, dx, dy: [n, c, hw]; gamma, beta, mean, invstd, running_*: [c].
// Gradient contract: dgamma and dbeta accumulate (+=, cuDNN beta = 1); dx is overwritten.
// Scratch: batch_norm_backward with relu uses the context's scratch slot 0 for the masked dy.
#include <cudnn.h>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/elementwise.cuh"
#include "ist/core/error.hpp"
#include "ist/core/shape.hpp"

namespace ist::cuda {

namespace detail {
inline void check_bn(const BatchNormShape& s, double eps, const char* where) {
  IST_CHECK(s.n > 0 && s.c > 0 && s.hw > 0, where, ": expected positive sizes, found n=", s.n, " c=", s.c,
            " hw=", s.hw);
  IST_CHECK(eps >= CUDNN_BN_MIN_EPSILON, where, ": expected eps >= ", CUDNN_BN_MIN_EPSILON, ", found ", eps);
}
}  // namespace detail

// y = [relu](gamma * (x - mean_b) * invstd_b + beta); saves mean_b and invstd_b.
inline void batch_norm_forward_train(CudaContext& ctx, const BatchNormShape& s, const float* x, const float* gamma,
                                     const float* beta, float* y, float* save_mean, float* save_invstd, bool relu,
                                     float eps = 1e-5f, RunningStats<float> running = {}) {
  detail::check_bn(s, eps, "ist::cuda::batch_norm_forward_train");
  IST_CHECK((running.mean == nullptr) == (running.var == nullptr),
            "ist::cuda::batch_norm_forward_train: expected both running statistics or neither");
  const BnPlan& p = ctx.bn_plan(s);
  const float one = 1.f, zero = 0.f;
  IST_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      ctx.cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, p.x, x, p.x, y, p.param, gamma, beta,
      double(running.momentum), running.mean, running.var, double(eps), save_mean, save_invstd));
  if (relu) relu_forward(ctx, s.size(), y, y);
}

// y = [relu](gamma * (x - mean) / sqrt(var + eps) + beta) with the given statistics.
inline void batch_norm_forward_infer(CudaContext& ctx, const BatchNormShape& s, const float* x, const float* gamma,
                                     const float* beta, const float* mean, const float* var, float* y, bool relu,
                                     float eps = 1e-5f) {
  detail::check_bn(s, eps, "ist::cuda::batch_norm_forward_infer");
  const BnPlan& p = ctx.bn_plan(s);
  const float one = 1.f, zero = 0.f;
  IST_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(ctx.cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, p.x, x,
                                                          p.x, y, p.param, gamma, beta, mean, var, double(eps)));
  if (relu) relu_forward(ctx, s.size(), y, y);
}

// Backward of batch_norm_forward_train. y is the forward output (used for the ReLU mask when relu).
inline void batch_norm_backward(CudaContext& ctx, const BatchNormShape& s, const float* x, const float* y,
                                const float* dy, const float* gamma, const float* save_mean, const float* save_invstd,
                                float* dx, float* dgamma, float* dbeta, bool relu) {
  detail::check_bn(s, 1e-5, "ist::cuda::batch_norm_backward");
  const BnPlan& p = ctx.bn_plan(s);
  const float* g = dy;
  if (relu) {
    float* masked = ctx.scratch<float>(0, s.size());
    relu_backward(ctx, s.size(), y, dy, masked);
    g = masked;
  }
  const float one = 1.f, zero = 0.f;
  // eps is unused when the saved statistics are passed; cuDNN still asks for a valid one.
  IST_CUDNN_CHECK(cudnnBatchNormalizationBackward(ctx.cudnn(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &one, p.x, x,
                                                  p.x, g, p.x, dx, p.param, gamma, dgamma, dbeta, 1e-5, save_mean,
                                                  save_invstd));
}

}  // namespace ist::cuda
