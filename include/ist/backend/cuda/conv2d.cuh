#pragma once
// 2-D convolution on cuDNN, NCHW float, square kernels, zero padding, no bias. Same contract as
// ist/backend/eigen/conv2d.hpp. Descriptors and algorithms come from the context's per-shape cache
// (see ConvPlan); the workspace is the context's.
//
// Gradient contract: weight gradients accumulate (+=, cuDNN beta = 1); input gradients overwrite
// unless accumulate_dx is set, in which case they are added.
#include <cudnn.h>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/conv_plan.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/core/shape.hpp"

namespace ist::cuda {

// y: [n, k, oh, ow] (overwritten); x: [n, c, h, w]; w: [k, c, r, r].
inline void conv2d_forward(CudaContext& ctx, const ConvShape& s, const float* x, const float* w, float* y) {
  detail::check_conv_shape(s, "ist::cuda::conv2d_forward");
  const ConvPlan& p = ctx.conv_plan(s);
  const float one = 1.f, zero = 0.f;
  IST_CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &one, p.x, x, p.w, w, p.conv, p.fwd, ctx.workspace(p.fwd_bytes),
                                          p.fwd_bytes, &zero, p.y, y));
}

// Backward of conv2d_forward. dw: [k, c, r, r] accumulated (+=). dx: [n, c, h, w], overwritten (or added
// to when accumulate_dx); pass dx = nullptr when the input gradient is not needed.
inline void conv2d_backward(CudaContext& ctx, const ConvShape& s, const float* x, const float* w, const float* dy,
                            float* dx, float* dw, bool accumulate_dx = false) {
  detail::check_conv_shape(s, "ist::cuda::conv2d_backward");
  const ConvPlan& p = ctx.conv_plan(s);
  const float one = 1.f, zero = 0.f;
  IST_CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, p.x, x, p.y, dy, p.conv, p.bwd_filter,
                                                 ctx.workspace(p.bwd_filter_bytes), p.bwd_filter_bytes, &one, p.w,
                                                 dw));
  if (dx)
    IST_CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &one, p.w, w, p.y, dy, p.conv, p.bwd_data,
                                                 ctx.workspace(p.bwd_data_bytes), p.bwd_data_bytes,
                                                 accumulate_dx ? &one : &zero, p.x, dx));
}

}  // namespace ist::cuda
