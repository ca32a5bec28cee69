// One training step of a pre-activation ResNet on the Eigen backend: forward, softmax cross-entropy,
// backward (parameter gradients), no optimizer update. Batch 128, 1x28x28 inputs (Fashion-MNIST sized),
// IST_THREADS threads (default 2). Reports ms/step and effective GFLOP/s (convolution and linear
// multiply-adds x2, forward + both backward products; the stem's input gradient is not computed).
//
//   build/bench/ist_bench_step --benchmark_filter=ResNet20 --benchmark_format=json
#include <benchmark/benchmark.h>

#include <algorithm>
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

// The active blocks of a ResIST sub-network with S workers: every block that is not decomposable, and the
// first N/S of the N decomposable ones (LayerwiseRandom deals N/S to each worker; within a partitioned stage
// the blocks have one shape, so which ones does not change the work). S = 1: the whole network.
template <class Net>
std::vector<std::uint8_t> subnet_blocks(int workers) {
  int decomposable = 0;
  for (const auto& d : Net::blocks) decomposable += d.decomposable ? 1 : 0;
  int keep = decomposable / workers;
  std::vector<std::uint8_t> active;
  for (const auto& d : Net::blocks) {
    const bool on = !d.decomposable || keep-- > 0;
    active.push_back(on ? 1 : 0);
  }
  return active;
}

// Floating-point operations of one training step of the active blocks: 3x each conv's forward product
// (forward, input gradient, weight gradient), 2x for the stem (no input gradient), 3x for the linear layer.
template <class Net>
double step_flops(int n, int h, int w, const std::vector<std::uint8_t>& active) {
  double f = 0;
  int c = Net::in_channels;
  for (std::size_t b = 0; b < Net::blocks.size(); ++b) {
    const auto& d = Net::blocks[b];
    if (d.kind == ist::BlockKind::Stem) {
      f += 2 * ist::ConvShape{n, c, h, w, d.out_channels, 3, 1, 1}.flops();
      c = d.out_channels;
    } else if (d.kind == ist::BlockKind::Basic) {
      const ist::ConvShape c1{n, c, h, w, d.out_channels, 3, d.stride, 1};
      const ist::ConvShape c2{n, d.out_channels, c1.out_h(), c1.out_w(), d.out_channels, 3, 1, 1};
      if (active[b]) {
        f += 3 * (c1.flops() + c2.flops());
        if (d.projection) f += 3 * ist::ConvShape{n, c, h, w, d.out_channels, 1, d.stride, 0}.flops();
      }
      c = d.out_channels;
      h = c1.out_h();
      w = c1.out_w();
    } else {
      f += 3 * 2.0 * n * c * Net::num_classes;
    }
  }
  return f;
}

// What every benchmark here runs on: the thread count (argument 0; 0 = IST_THREADS), the network on its
// context, the whole parameter layout, parameters drawn with seed 1 and one batch of random inputs.
template <class Net>
struct NetBench {
  int threads;
  ist::eigen::CpuContext ctx;
  ist::ResNetNetwork<Net> net{ctx};
  ist::ParamLayout layout = ist::ParamLayout::full<Net>();
  std::vector<float> params = initial_params();
  std::vector<float> x = ist::bench::random_vector<float>(std::size_t(kBatch) * Net::in_channels * kSide * kSide, 2);

  explicit NetBench(const benchmark::State& state)
      : threads(state.range(0) > 0 ? int(state.range(0)) : ist::bench::threads_from_env()), ctx(threads) {}

  static std::vector<float> initial_params() {
    std::vector<float> p(Net::num_params);
    ist::init_params<Net>(std::span<float>(p), 1);
    return p;
  }
};

// Argument 1: S, the step of a ResIST worker's sub-network (subnet_blocks); 1 for the whole network.
template <class Net>
void BM_TrainStep(benchmark::State& state) {
  NetBench<Net> b(state);
  auto& [threads, ctx, net, layout, params, x] = b;
  const auto active = subnet_blocks<Net>(int(state.range(1)));
  net.configure(kBatch, kSide, kSide, active);
  std::vector<float> grads(Net::num_params, 0.0f);
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
  const double flops = step_flops<Net>(kBatch, kSide, kSide, active);
  state.counters["threads"] = threads;
  state.counters["GFLOP_per_step"] = flops / 1e9;
  state.counters["FLOPS"] = benchmark::Counter(flops * double(state.iterations()), benchmark::Counter::kIsRate);
}

// Forward only (training mode: batch statistics), for splitting the step time.
template <class Net>
void BM_Forward(benchmark::State& state) {
  NetBench<Net> b(state);
  auto& [threads, ctx, net, layout, params, x] = b;
  net.configure(kBatch, kSide, kSide);
  for (auto _ : state) {
    const float* logits = net.forward(params.data(), layout, x.data());
    benchmark::DoNotOptimize(logits);
    benchmark::ClobberMemory();
  }
  state.counters["threads"] = threads;
}

// Evaluation of a test set as ist::evaluate runs it: forward only (training = false, batch statistics, as
// ResIST evaluates), batches of 128 in order, the last one partial. Argument 1: the number of images
// (10,000: Fashion-MNIST's test set). The time is per pass over the whole set.
template <class Net>
void BM_Evaluate(benchmark::State& state) {
  NetBench<Net> b(state);
  auto& [threads, ctx, net, layout, params, x] = b;
  const int images = int(state.range(1));
  ist::ForwardOptions<float> opt;
  opt.training = false;
  for (auto _ : state) {
    for (int done = 0; done < images; done += kBatch) {
      net.configure(std::min(kBatch, images - done), kSide, kSide);
      const float* logits = net.forward(params.data(), layout, x.data(), opt);
      benchmark::DoNotOptimize(logits);
    }
    benchmark::ClobberMemory();
  }
  state.counters["threads"] = threads;
  state.counters["images"] = images;
}

using ResNet20 = ist::PreActResNet20<1>;
using ResNet26Fashion = ist::PreActResNet26Fashion<1, 10>;
using ResNet56 = ist::PreActResNet56<1>;
using ResNet110 = ist::PreActResNet110<1>;

// Argument 0 = threads from IST_THREADS (default 2); other values pin the thread count.
BENCHMARK(BM_TrainStep<ResNet20>)->Name("TrainStep/PreActResNet20")->Args({0, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Forward<ResNet20>)->Name("Forward/PreActResNet20")->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TrainStep<ResNet56>)->Name("TrainStep/PreActResNet56")->Args({0, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TrainStep<ResNet110>)->Name("TrainStep/PreActResNet110")->Args({0, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
// The main job's network, whole and as one of S = 4 ResIST workers' sub-networks (2 of its 8 decomposable
// blocks); the evaluation of the 10,000 Fashion-MNIST test images.
BENCHMARK(BM_TrainStep<ResNet26Fashion>)->Name("TrainStep/resnet26-fashion")->Args({0, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TrainStep<ResNet26Fashion>)->Name("TrainStep/resnet26-fashion-sub4")->Args({0, 4})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Evaluate<ResNet26Fashion>)->Name("Evaluate/resnet26-fashion")->Args({0, 10000})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
