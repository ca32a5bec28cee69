// The round-level costs of IST, through the reusable helpers of include/ist/bench/round_benchmark.hpp:
//
//   Round/<protocol>/<model>/S:<S>   one full round (plan + validate + gather/send + L local steps per worker
//                                    + return + merge) on synthetic images: resist (LayerwiseRandom),
//                                    local-sgd (Replicate), ddp (Replicate, L = 1, momentum carried), and
//                                    ist on an MLP (WidthwiseRandom). Workers run one after another, 1 thread
//                                    each, so compute_cpu_s_max is one worker's compute; bytes_per_second is
//                                    bytes moved over the round's wall time, bytes_per_round the ledger's count.
//   Plan/<decomposer>/<model>/S:<S>  plan generation + validate_plan + slices, per round (items/s)
//   Slices/<decomposer>/<model>/S:<S>/gather|scatter   copying the workers' slices, GB/s
//   Merge/holder-average/<decomposer>/<model>/S:<S>    HolderAverage of S results, GB/s of results read
//
// Rounds take L, batch and threads per worker from IST_ROUND_L (default 5), IST_ROUND_BATCH (default 32) and
// IST_THREADS (default 2); bench/compare_pytorch.py --round sets them to time the same round in PyTorch.
//
//   build-bench/bench/ist_bench_round --benchmark_out=round.json --benchmark_out_format=json
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "bench_common.hpp"
#include "ist/bench/round_benchmark.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/model/gcn.hpp"
#include "ist/model/mlp.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/gcn_traits.hpp"
#include "ist/train/mlp_traits.hpp"

namespace {

using ResNet26F = ist::PreActResNet26Fashion<1, 10>;
using ResNet20 = ist::PreActResNet20<1, 10>;
using ResNet110 = ist::PreActResNet110<1, 10>;
using MlpFashion = ist::Mlp<ist::Input<784>, ist::Dense<1024>, ist::Dense<1024>, ist::Dense<10>>;
using GcnCora = ist::Gcn<ist::Input<1433>, ist::GraphConv<256>, ist::GraphConv<7>>;

std::string s_of(int s) { return "/S:" + std::to_string(s); }

int env_int(const char* name, int fallback) {
  const char* s = std::getenv(name);
  const int v = s ? std::atoi(s) : 0;
  return v > 0 ? v : fallback;
}

const int registered = [] {
  namespace ib = ist::bench;
  // Full rounds: the three protocols of bench/protocols.py on the default preset and on PreAct ResNet-20,
  // and IST on the MLP.
  for (int S : {2, 4, 8}) {
    ib::RoundBenchOptions o;
    o.workers = S;
    o.local_steps = env_int("IST_ROUND_L", 5);
    o.batch = env_int("IST_ROUND_BATCH", 32);
    o.threads_per_worker = ib::threads_from_env();
    ib::register_round_benchmark<ResNet20>("Round/resist/resnet20" + s_of(S), ist::LayerwiseRandom{},
                                           ist::HolderAverage{}, o)->Iterations(3);
    ib::register_round_benchmark<ResNet26F>("Round/resist/resnet26-fashion" + s_of(S), ist::LayerwiseRandom{},
                                            ist::HolderAverage{}, o)->Iterations(3);
    ib::register_round_benchmark<ResNet26F>("Round/local-sgd/resnet26-fashion" + s_of(S), ist::Replicate{},
                                            ist::HolderAverage{}, o)->Iterations(3);
    ib::RoundBenchOptions ddp = o;
    ddp.local_steps = 1;
    ddp.optimizer_state = ist::OptimizerState::Carry;
    ib::register_round_benchmark<ResNet26F>("Round/ddp/resnet26-fashion" + s_of(S), ist::Replicate{},
                                            ist::HolderAverage{}, ddp)->Iterations(5);
    ib::RoundBenchOptions mlp = o;
    mlp.batch = 128;
    ib::register_round_benchmark<MlpFashion>("Round/ist/mlp-1024x2" + s_of(S), ist::WidthwiseRandom{},
                                             ist::HolderAverage{}, mlp)->Iterations(5);
  }
  // Plan generation and validation, per decomposer.
  for (int S : {2, 4, 8}) {
    ib::register_plan_benchmark<ResNet110>("Plan/layerwise-random/resnet110" + s_of(S), ist::LayerwiseRandom{}, S);
    ib::register_plan_benchmark<ResNet110>("Plan/layerwise-random-min4/resnet110" + s_of(S), ist::LayerwiseRandom(4),
                                           S);
    ib::register_plan_benchmark<ResNet110>("Plan/replicate/resnet110" + s_of(S), ist::Replicate{}, S);
    ib::register_plan_benchmark<MlpFashion>("Plan/widthwise-random/mlp-1024x2" + s_of(S), ist::WidthwiseRandom{}, S);
    ib::register_plan_benchmark<GcnCora>("Plan/widthwise-random/gcn-cora-256" + s_of(S), ist::WidthwiseRandom{}, S);
  }
  // Moving slices and merging them: contiguous blocks (ResIST), row/column cuts (IST).
  for (int S : {2, 4, 8}) {
    ib::register_slice_benchmarks<ResNet110>("Slices/layerwise-random/resnet110" + s_of(S), ist::LayerwiseRandom{}, S);
    ib::register_slice_benchmarks<MlpFashion>("Slices/widthwise-random/mlp-1024x2" + s_of(S), ist::WidthwiseRandom{},
                                              S);
    ib::register_merge_benchmark<ResNet110>("Merge/holder-average/layerwise-random/resnet110" + s_of(S),
                                            ist::LayerwiseRandom{}, ist::HolderAverage{}, S);
    ib::register_merge_benchmark<ResNet110>("Merge/holder-average/replicate/resnet110" + s_of(S), ist::Replicate{},
                                            ist::HolderAverage{}, S);
    ib::register_merge_benchmark<MlpFashion>("Merge/holder-average/widthwise-random/mlp-1024x2" + s_of(S),
                                             ist::WidthwiseRandom{}, ist::HolderAverage{}, S);
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
