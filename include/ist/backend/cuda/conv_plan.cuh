#pragma once
// ConvPlan: the cuDNN descriptors and the chosen forward, backward-data and backward-filter algorithms
// of one convolution shape. A CudaContext builds one per ConvShape at first use and keeps it, so a
// training step creates no descriptors and runs no algorithm search.
#include <cudnn.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_options.cuh"
#include "ist/backend/cuda/descriptors.cuh"
#include "ist/core/error.hpp"
#include "ist/core/shape.hpp"

namespace ist::cuda {

struct ConvPlan {
  TensorDescriptor x, y;  // x: [n, c, h, w], y: [n, k, out_h, out_w]
  FilterDescriptor w;     // [k, c, r, r]
  ConvolutionDescriptor conv;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  std::size_t fwd_bytes = 0, bwd_data_bytes = 0, bwd_filter_bytes = 0;  // workspace of each algorithm

  std::size_t workspace_bytes() const noexcept { return std::max({fwd_bytes, bwd_data_bytes, bwd_filter_bytes}); }
};

namespace detail {

inline void check_conv_shape(const ConvShape& s, const char* where) {
  IST_CHECK(s.n > 0 && s.c > 0 && s.h > 0 && s.w > 0 && s.k > 0 && s.r > 0 && s.stride > 0 && s.pad >= 0,
            where, ": expected positive sizes, found n=", s.n, " c=", s.c, " h=", s.h, " w=", s.w, " k=", s.k,
            " r=", s.r, " stride=", s.stride, " pad=", s.pad);
  IST_CHECK(s.out_h() > 0 && s.out_w() > 0, where, ": kernel ", s.r, " with pad ", s.pad, " does not fit input ", s.h,
            "x", s.w);
}

// Picks the first candidate (cuDNN lists them best first) that succeeded, fits the workspace limit and,
// when asked, is deterministic; `workspace(algo, bytes)` confirms it runs with the descriptor's math
// type. A second pass drops the determinism requirement. Returns false when nothing fits.
template <class Perf, class Algo, class Workspace>
bool pick_algorithm(const std::vector<Perf>& perf, const CudaOptions& opt, Workspace&& workspace, Algo& algo,
                    std::size_t& bytes) {
  for (int pass = 0; pass < 2; ++pass) {
    const bool need_deterministic = opt.deterministic && pass == 0;
    for (const Perf& p : perf) {
      if (p.status != CUDNN_STATUS_SUCCESS || p.memory > opt.workspace_limit) continue;
      if (need_deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
      std::size_t b = 0;
      if (!workspace(p.algo, b) || b > opt.workspace_limit) continue;
      algo = p.algo;
      bytes = b;
      return true;
    }
  }
  return false;
}

}  // namespace detail

// Builds the descriptors of `s` and chooses its algorithms with `handle` (which must be set to the
// stream the convolutions will run on when opt.conv_search is Benchmark).
inline void make_conv_plan(ConvPlan& p, cudnnHandle_t handle, const ConvShape& s, const CudaOptions& opt) {
  detail::check_conv_shape(s, "ist::cuda::make_conv_plan");
  p.x.set_nchw(s.n, s.c, s.h, s.w);
  p.y.set_nchw(s.n, s.k, s.out_h(), s.out_w());
  p.w.set_kcrs(s.k, s.c, s.r, s.r);
  IST_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p.conv, s.pad, s.pad, s.stride, s.stride, 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  // CUDNN_DEFAULT_MATH lets float convolutions use TF32 tensor cores on Ampere and later; FMA_MATH does not.
  IST_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, opt.allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  const bool bench = opt.conv_search == ConvAlgoSearch::Benchmark;
  auto fail_shape = [&](const char* direction) {
    ::ist::fail("ist::cuda::make_conv_plan: no cuDNN ", direction, " algorithm fits conv n=", s.n, " c=", s.c,
                " h=", s.h, " w=", s.w, " k=", s.k, " r=", s.r, " stride=", s.stride, " pad=", s.pad,
                " within a workspace of ", opt.workspace_limit, " bytes");
  };

  {  // forward
    int max_count = 0, count = 0;
    IST_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &max_count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(std::size_t(std::max(max_count, 1)));
    if (bench)
      IST_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(handle, p.x, p.w, p.conv, p.y, int(perf.size()), &count,
                                                           perf.data()));
    else
      IST_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p.x, p.w, p.conv, p.y, int(perf.size()), &count,
                                                             perf.data()));
    perf.resize(std::size_t(count));
    auto ws = [&](cudnnConvolutionFwdAlgo_t a, std::size_t& b) {
      return cudnnGetConvolutionForwardWorkspaceSize(handle, p.x, p.w, p.conv, p.y, a, &b) == CUDNN_STATUS_SUCCESS;
    };
    if (!detail::pick_algorithm(perf, opt, ws, p.fwd, p.fwd_bytes)) fail_shape("forward");
  }
  {  // backward data
    int max_count = 0, count = 0;
    IST_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &max_count));
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(std::size_t(std::max(max_count, 1)));
    if (bench)
      IST_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(handle, p.w, p.y, p.conv, p.x, int(perf.size()), &count,
                                                                perf.data()));
    else
      IST_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, p.w, p.y, p.conv, p.x, int(perf.size()),
                                                                  &count, perf.data()));
    perf.resize(std::size_t(count));
    auto ws = [&](cudnnConvolutionBwdDataAlgo_t a, std::size_t& b) {
      return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, p.w, p.y, p.conv, p.x, a, &b) ==
             CUDNN_STATUS_SUCCESS;
    };
    if (!detail::pick_algorithm(perf, opt, ws, p.bwd_data, p.bwd_data_bytes)) fail_shape("backward-data");
  }
  {  // backward filter
    int max_count = 0, count = 0;
    IST_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &max_count));
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(std::size_t(std::max(max_count, 1)));
    if (bench)
      IST_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(handle, p.x, p.y, p.conv, p.w, int(perf.size()),
                                                                  &count, perf.data()));
    else
      IST_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, p.x, p.y, p.conv, p.w, int(perf.size()),
                                                                    &count, perf.data()));
    perf.resize(std::size_t(count));
    auto ws = [&](cudnnConvolutionBwdFilterAlgo_t a, std::size_t& b) {
      return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, p.x, p.y, p.conv, p.w, a, &b) ==
             CUDNN_STATUS_SUCCESS;
    };
    if (!detail::pick_algorithm(perf, opt, ws, p.bwd_filter, p.bwd_filter_bytes)) fail_shape("backward-filter");
  }
}

}  // namespace ist::cuda
