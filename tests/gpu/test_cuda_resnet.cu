// ResNetNetwork on ist::cuda::Compute against ResNetNetwork on ist::eigen::Compute: logits, loss, running
// statistics and every parameter gradient of a PreAct ResNet-20 (relative L2 error below 1e-3 per tensor),
// a sub-network with inactive blocks, residual scaling and a compact parameter buffer, bit-identical
// repeats, and the training-step time at batch 128 (printed, not asserted).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "gpu_test_util.cuh"
#include "ist/backend/cuda/compute.cuh"
#include "ist/backend/eigen/compute.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/model/init.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/model/presets.hpp"

namespace test_cuda_resnet {

using namespace ist;
using test::download;
using test::random_floats;
using test::rel_l2;
using test::upload;

namespace {

constexpr double net_tol = 1e-3;

template <class Model>
std::vector<float> model_params(std::uint64_t seed) {
  std::vector<float> p(Model::num_params);
  init_params<Model>(std::span<float>(p), seed);
  Rng rng(seed + 1);  // non-trivial batch-norm parameters, so their gradients are exercised too
  for (const auto& t : Model::tensors)
    if (t.role == TensorRole::BnWeight || t.role == TensorRole::BnBias)
      for (std::size_t i = 0; i < t.size; ++i) p[t.offset + i] += float(0.3 * rng.normal());
  return p;
}

// The blocks of `layout` copied out of a full parameter buffer.
template <class Model>
std::vector<float> pack(const std::vector<float>& full, const ParamLayout& layout) {
  std::vector<float> out(layout.size());
  for (int b = 0; b < Model::num_blocks; ++b)
    if (layout.has(b)) {
      const auto& d = Model::blocks[std::size_t(b)];
      std::memcpy(out.data() + layout.block_offset(b), full.data() + d.param_offset, d.param_count * sizeof(float));
    }
  return out;
}

// One training step (forward with running statistics, loss, backward) and one evaluation forward with
// running statistics, on both backends; compares everything.
template <class Model>
void compare_networks(int batch, int hw, std::span<const std::uint8_t> active, std::span<const float> scale,
                      bool compact, std::uint64_t seed) {
  const ParamLayout layout = compact ? ParamLayout::compact<Model>(active) : ParamLayout::full<Model>();
  const auto params = pack<Model>(model_params<Model>(seed), layout);
  const auto x = random_floats(std::size_t(batch) * Model::in_channels * hw * hw, seed + 2);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
  Rng rng(seed + 3);
  for (auto& l : labels) l = std::int32_t(rng.below(Model::num_classes));
  std::vector<float> stats0(Model::num_bn_stats);
  init_bn_stats<Model>(std::span<float>(stats0));
  std::vector<float> stats = stats0;  // updated by the Eigen network
  const std::size_t nlogits = std::size_t(batch) * Model::num_classes;

  // Eigen
  eigen::CpuContext cpu(4);
  ResNetNetwork<Model> cn(cpu);
  cn.configure(batch, hw, hw, active);
  ForwardOptions<float> opt;
  opt.running_stats = stats.data();
  opt.residual_scale = scale;
  const float* cl = cn.forward(params.data(), layout, x.data(), opt);
  const std::vector<float> logits(cl, cl + nlogits);
  const auto loss = eigen::softmax_cross_entropy(batch, Model::num_classes, cl, labels.data(), cn.dlogits());
  std::vector<float> grads(layout.size(), 0.f);
  cn.backward(params.data(), grads.data(), layout);

  // CUDA
  auto& ctx = test::gpu();
  ResNetNetwork<Model, float, cuda::Compute> gn(ctx);
  gn.configure(batch, hw, hw, active);
  auto P = upload(params), X = upload(x), S = upload(stats0);  // S: updated by the CUDA network
  cuda::DeviceBuffer<std::int32_t> L(std::span<const std::int32_t>(labels), ctx.stream());
  cuda::DeviceBuffer<float> G(layout.size());
  ForwardOptions<float> gopt = opt;
  gopt.running_stats = S.data();
  const float* gl = gn.forward(P.data(), layout, X.data(), gopt);
  const auto gloss = cuda::Compute::softmax_cross_entropy(ctx, batch, Model::num_classes, gl, L.data(), gn.dlogits());
  gn.backward(P.data(), G.data(), layout);
  const auto glogits = download(gl, nlogits);
  const auto ggrads = download(G);

  // Eigen in double: the exact gradients, to tell float rounding from mistakes.
  const std::vector<double> params_d(params.begin(), params.end()), x_d(x.begin(), x.end());
  const std::vector<double> scale_d(scale.begin(), scale.end());
  ResNetNetwork<Model, double> dn(cpu);
  dn.configure(batch, hw, hw, active);
  ForwardOptions<double> dopt;
  dopt.residual_scale = scale_d;
  eigen::softmax_cross_entropy(batch, Model::num_classes, dn.forward(params_d.data(), layout, x_d.data(), dopt),
                               labels.data(), dn.dlogits());
  std::vector<double> grads_d(layout.size(), 0.0);
  dn.backward(params_d.data(), grads_d.data(), layout);

  const double logit_err = rel_l2(glogits, logits);
  CHECK(logit_err < net_tol);
  CHECK(gloss.loss == doctest::Approx(loss.loss).epsilon(1e-4));
  CHECK(gloss.correct == loss.correct);
  CHECK(rel_l2(download(S), stats) < net_tol);
  // Per tensor: the CUDA gradient within net_tol of the Eigen float one. Early layers of a deep network
  // can be ill-conditioned in float (two CPU builds, e.g. with and without -march=native, then differ by
  // ~0.5%); there both float backends are measured against the double gradient instead, and the CUDA
  // error may be at most 4x the Eigen float error.
  double worst = 0, worst_cpu = 0;
  int ill_conditioned = 0;
  for (const auto& t : Model::tensors) {
    if (!layout.has(t.block)) continue;
    const std::size_t base = layout.block_offset(t.block) + (t.offset - Model::blocks[std::size_t(t.block)].param_offset);
    const std::span<const float> g(ggrads.data() + base, t.size), c(grads.data() + base, t.size);
    const std::span<const double> exact(grads_d.data() + base, t.size);
    const double err = rel_l2(g, c), err_gpu = rel_l2(g, exact), err_cpu = rel_l2(c, exact);
    CAPTURE(t.block);
    CAPTURE(std::string(t.name));
    CAPTURE(err_gpu);
    CAPTURE(err_cpu);
    CHECK((err < net_tol || err_gpu < 4 * err_cpu));
    if (err >= net_tol) ++ill_conditioned;
    worst = std::max(worst, err);
    worst_cpu = std::max(worst_cpu, err_cpu);
  }
  MESSAGE("ist-gpu: batch " << batch << ", " << hw << "x" << hw
                            << std::string(compact ? ", compact sub-network" : ", full model") << ": logits rel err "
                            << logit_err << ", worst parameter-gradient rel err vs Eigen float " << worst
                            << " (Eigen float vs double: " << worst_cpu << "; " << ill_conditioned
                            << " tensors past 1e-3 judged against double)");

  // Evaluation with the running statistics each backend accumulated.
  ForwardOptions<float> eval;
  eval.training = false;
  eval.bn = BnStatistics::Running;
  eval.residual_scale = scale;
  eval.running_stats = stats.data();
  const float* ce = cn.forward(params.data(), layout, x.data(), eval);
  const std::vector<float> eval_logits(ce, ce + nlogits);
  eval.running_stats = S.data();
  CHECK(rel_l2(download(gn.forward(P.data(), layout, X.data(), eval), nlogits), eval_logits) < net_tol);

  // The same step again gives bit-identical gradients (deterministic algorithms, fixed reduction order).
  ForwardOptions<float> again;
  again.residual_scale = scale;
  cuda::DeviceBuffer<float> G2(layout.size());
  const float* gl2 = gn.forward(P.data(), layout, X.data(), again);
  cuda::Compute::softmax_cross_entropy(ctx, batch, Model::num_classes, gl2, L.data(), gn.dlogits());
  gn.backward(P.data(), G2.data(), layout);
  CHECK(download(G2) == ggrads);
}

}  // namespace

TEST_SUITE("cuda-device") {
  TEST_CASE("cuda resnet: PreAct ResNet-20 forward and backward match Eigen") {
    compare_networks<PreActResNet20<1>>(16, 28, {}, {}, false, 31);
  }

  TEST_CASE("cuda resnet: a sub-network with inactive blocks, residual scaling and a compact buffer matches Eigen") {
    using Net = PreActResNet20<1>;
    // Blocks: 0 stem, 1-3 stage 1, 4-6 stage 2 (5, 6 decomposable), 7-9 stage 3 (8, 9 decomposable), 10 head.
    const std::vector<std::uint8_t> active{1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1};
    const std::vector<float> scale{1, 1, 1, 1, 1, 0.5f, 0.5f, 1, 0.5f, 0.5f, 1};
    compare_networks<Net>(16, 28, active, scale, true, 41);
    compare_networks<Net>(5, 12, active, scale, false, 51);  // the full layout with blocks off, odd sizes
  }

  TEST_CASE("cuda resnet: PreAct ResNet-20 training step time at batch 128 (printed, not asserted)") {
    using Net = PreActResNet20<1>;
    const int batch = 128, hw = 28, warmup = 5, steps = 30;
    const auto params = model_params<Net>(61);
    const auto x = random_floats(std::size_t(batch) * hw * hw, 62);
    std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = std::int32_t(i % Net::num_classes);
    const auto layout = ParamLayout::full<Net>();
    struct Setting {
      const char* name;
      cuda::CudaOptions options;
    };
    cuda::CudaOptions fast;
    fast.allow_tf32 = true;
    fast.deterministic = false;
    fast.conv_search = cuda::ConvAlgoSearch::Benchmark;
    for (const Setting& setting : {Setting{"fp32, deterministic, heuristic algorithms (default)", {}},
                                   Setting{"tf32 allowed, any algorithm, benchmarked", fast}}) {
      cuda::CudaContext ctx(0, setting.options);
      ResNetNetwork<Net, float, cuda::Compute> net(ctx);
      net.configure(batch, hw, hw);
      cuda::DeviceBuffer<float> P(std::span<const float>(params), ctx.stream()), X(std::span<const float>(x), ctx.stream()),
          G(params.size());
      cuda::DeviceBuffer<std::int32_t> L(std::span<const std::int32_t>(labels), ctx.stream());
      double loss = 0;
      auto step = [&] {
        const float* logits = net.forward(P.data(), layout, X.data());
        loss = cuda::Compute::softmax_cross_entropy(ctx, batch, Net::num_classes, logits, L.data(), net.dlogits()).loss;
        G.zero(ctx.stream());
        net.backward(P.data(), G.data(), layout);
      };
      for (int i = 0; i < warmup; ++i) step();
      cudaEvent_t start, stop;
      IST_CUDA_CHECK(cudaEventCreate(&start));
      IST_CUDA_CHECK(cudaEventCreate(&stop));
      IST_CUDA_CHECK(cudaEventRecord(start, ctx.stream()));
      for (int i = 0; i < steps; ++i) step();
      IST_CUDA_CHECK(cudaEventRecord(stop, ctx.stream()));
      IST_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      IST_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      cudaEventDestroy(start);
      cudaEventDestroy(stop);
      const double per_step = ms / steps;
      MESSAGE("ist-gpu: timing PreAct ResNet-20, batch 128, 1x28x28, " << std::string(setting.name) << ": " << per_step
                                                                       << " ms/step, " << batch / per_step * 1e3
                                                                       << " images/s (loss " << loss << ", "
                                                                       << ctx.conv_plan_count() << " conv shapes)");
      CHECK(std::isfinite(loss));
    }
  }
}

}  // namespace test_cuda_resnet
