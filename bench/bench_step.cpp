// One training step of a pre-activation ResNet on the Eigen backend: forward, softmax cross-entropy,
// backward (parameter gradients), no optimizer update. Batch 128, 1x28x28 inputs (Fashion-MNIST sized),
// IST_THREADS threads (default 2). Reports ms/step and effective GFLOP/s (convolution and linear
// multiply-adds x2, forward + both backward products; the stem's input gradient is not computed).
//
//   build/bench/ist_bench_step --benchmark_filter=ResNet20 --benchmark_format=json
#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <vector>

#include "bench_common.hpp"
#include "ist/backend/eigen/compute.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/model/init.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/model/presets.hpp"

namespace {

// The vector instructions the kernels were compiled for, in the JSON's "context" (bench/compare_pytorch.py
// prints it next to each figure).
[[maybe_unused]] const bool simd_in_context = (benchmark::AddCustomContext("ist_simd", ist::bench::simd_isa()), true);

constexpr int kBatch = 128, kSide = 28;

// Floating-point operations of one training step: 3x each conv's forward product (forward, input
// gradient, weight gradient), 2x for the stem (no input gradient), 3x for the linear layer.
template <class Net>
double step_flops(int n, int h, int w) {
  double f = 0;
  int c = Net::in_channels;
  for (const auto& d : Net::blocks) {
    if (d.kind == ist::BlockKind::Stem) {
      f += 2 * ist::ConvShape{n, c, h, w, d.out_channels, 3, 1, 1}.flops();
      c = d.out_channels;
    } else if (d.kind == ist::BlockKind::Basic) {
      const ist::ConvShape c1{n, c, h, w, d.out_channels, 3, d.stride, 1};
      const ist::ConvShape c2{n, d.out_channels, c1.out_h(), c1.out_w(), d.out_channels, 3, 1, 1};
      f += 3 * (c1.flops() + c2.flops());
      if (d.projection) f += 3 * ist::ConvShape{n, c, h, w, d.out_channels, 1, d.stride, 0}.flops();
      c = d.out_channels;
      h = c1.out_h();
      w = c1.out_w();
    } else {
      f += 3 * 2.0 * n * c * Net::num_classes;
    }
  }
  return f;
}

template <class Net>
void BM_TrainStep(benchmark::State& state) {
  const int threads = state.range(0) > 0 ? int(state.range(0)) : ist::bench::threads_from_env();
  ist::eigen::CpuContext ctx(threads);
  ist::ResNetNetwork<Net> net(ctx);
  net.configure(kBatch, kSide, kSide);
  const auto layout = ist::ParamLayout::full<Net>();
  std::vector<float> params(Net::num_params), grads(Net::num_params, 0.0f);
  ist::init_params<Net>(std::span<float>(params), 1);
  const auto x = ist::bench::random_vector<float>(std::size_t(kBatch) * Net::in_channels * kSide * kSide, 2);
  std::vector<std::int32_t> labels(kBatch);
  for (int i = 0; i < kBatch; ++i) labels[std::size_t(i)] = i % Net::num_classes;
  for (auto _ : state) {
    const float* logits = net.forward(params.data(), layout, x.data());
    auto loss = ist::eigen::softmax_cross_entropy(kBatch, Net::num_classes, logits, labels.data(), net.dlogits());
    benchmark::DoNotOptimize(loss);
    net.backward(params.data(), grads.data(), layout);
    benchmark::DoNotOptimize(grads.data());
    benchmark::ClobberMemory();
  }
  const double flops = step_flops<Net>(kBatch, kSide, kSide);
  state.counters["threads"] = threads;
  state.counters["GFLOP_per_step"] = flops / 1e9;
  state.counters["FLOPS"] = benchmark::Counter(flops * double(state.iterations()), benchmark::Counter::kIsRate);
}

// Forward only (training mode: batch statistics), for splitting the step time.
template <class Net>
void BM_Forward(benchmark::State& state) {
  const int threads = state.range(0) > 0 ? int(state.range(0)) : ist::bench::threads_from_env();
  ist::eigen::CpuContext ctx(threads);
  ist::ResNetNetwork<Net> net(ctx);
  net.configure(kBatch, kSide, kSide);
  const auto layout = ist::ParamLayout::full<Net>();
  std::vector<float> params(Net::num_params);
  ist::init_params<Net>(std::span<float>(params), 1);
  const auto x = ist::bench::random_vector<float>(std::size_t(kBatch) * Net::in_channels * kSide * kSide, 2);
  for (auto _ : state) {
    const float* logits = net.forward(params.data(), layout, x.data());
    benchmark::DoNotOptimize(logits);
    benchmark::ClobberMemory();
  }
  state.counters["threads"] = threads;
}

using ResNet20 = ist::PreActResNet20<1>;
using ResNet56 = ist::PreActResNet56<1>;
using ResNet110 = ist::PreActResNet110<1>;

// Argument 0 = threads from IST_THREADS (default 2); other values pin the thread count.
BENCHMARK(BM_TrainStep<ResNet20>)->Name("TrainStep/PreActResNet20")->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Forward<ResNet20>)->Name("Forward/PreActResNet20")->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TrainStep<ResNet56>)->Name("TrainStep/PreActResNet56")->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TrainStep<ResNet110>)->Name("TrainStep/PreActResNet110")->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
