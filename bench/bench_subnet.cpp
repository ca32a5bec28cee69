// One local training step of a ResIST sub-network, per sub-network depth: PreAct ResNet-20/56/110 with the
// blocks that worker 0 holds in ResIST's plan for S = 1 (the whole network), 2, 4 and 8 workers, so the
// number of decomposable blocks active goes from N down to about N/S. Forward (training mode) + softmax
// cross-entropy + backward on the compact sub-network buffer, no optimizer update; batch 128, 1x28x28,
// IST_THREADS threads (default 2). Counters: decomposable blocks active, sub-network parameters, GFLOP per
// step (3x each active conv's forward product, 2x the stem's) and FLOPS.
//
//   build-bench/bench/ist_bench_subnet --benchmark_out=subnet.json --benchmark_out_format=json
#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "ist/backend/eigen/compute.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/model/init.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/model/presets.hpp"

namespace {

constexpr int kBatch = 128, kSide = 28;

// FLOPs of one training step of the sub-network with blocks `active` (inactive blocks are identity-shortcut
// blocks inside a stage, so skipping them leaves the shapes unchanged).
template <class Net>
double subnet_step_flops(const std::vector<std::uint8_t>& active, int n, int h, int w) {
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

template <class Net>
void BM_SubnetStep(benchmark::State& state) {
  const int S = int(state.range(0));
  const int threads = ist::bench::threads_from_env();
  const ist::ModelInfo info = ist::model_info<Net>();
  const std::vector<std::uint8_t> active = ist::LayerwiseRandom{}.plan(info, {1, 0, S}).workers[0].active_blocks;
  int held = 0;
  for (int b : info.decomposable_blocks()) held += active[std::size_t(b)] ? 1 : 0;

  ist::eigen::CpuContext ctx(threads);
  ist::ResNetNetwork<Net> net(ctx);
  net.configure(kBatch, kSide, kSide, active);
  const auto layout = ist::ParamLayout::compact<Net>(active);
  std::vector<float> full(Net::num_params), params(layout.size()), grads(layout.size(), 0.0f);
  ist::init_params<Net>(std::span<float>(full), 1);
  for (std::size_t b = 0, o = 0; b < active.size(); ++b) {  // the compact buffer: the active blocks in order
    if (!active[b]) continue;
    const auto& d = Net::blocks[b];
    std::copy(full.begin() + std::ptrdiff_t(d.param_offset), full.begin() + std::ptrdiff_t(d.param_offset + d.param_count),
              params.begin() + std::ptrdiff_t(o));
    o += d.param_count;
  }
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
  const double flops = subnet_step_flops<Net>(active, kBatch, kSide, kSide);
  state.counters["S"] = S;
  state.counters["threads"] = threads;
  state.counters["blocks_active"] = held;
  state.counters["blocks_decomposable"] = double(info.decomposable_blocks().size());
  state.counters["subnet_params"] = double(layout.size());
  state.counters["GFLOP_per_step"] = flops / 1e9;
  state.counters["FLOPS"] = benchmark::Counter(flops * double(state.iterations()), benchmark::Counter::kIsRate);
}

using ResNet20 = ist::PreActResNet20<1>;
using ResNet56 = ist::PreActResNet56<1>;
using ResNet110 = ist::PreActResNet110<1>;

BENCHMARK(BM_SubnetStep<ResNet20>)->Name("SubnetStep/PreActResNet20")->ArgName("S")->Arg(1)->Arg(2)->Arg(4)->Arg(8)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SubnetStep<ResNet56>)->Name("SubnetStep/PreActResNet56")->ArgName("S")->Arg(1)->Arg(2)->Arg(4)->Arg(8)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SubnetStep<ResNet110>)->Name("SubnetStep/PreActResNet110")->ArgName("S")->Arg(1)->Arg(2)->Arg(4)->Arg(8)
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
