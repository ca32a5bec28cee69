// Benchmarking your own policy with include/ist/bench/round_benchmark.hpp: the worked example of
// docs/benchmarks.md. A downstream project needs only ist::ist and Google Benchmark (benchmark::benchmark).
//
// DepthBudget: every worker trains a window of `budget` consecutive decomposable blocks, the windows
// starting at random offsets each round (blocks may have several holders or none; uncovered blocks keep
// their values, so the plan rules do not require a cover). FirstHolderWins: a user aggregator that keeps,
// for each parameter, the value of the lowest-numbered worker that held it (no averaging).
//
//   ist_bench_custom --benchmark_out=custom.json --benchmark_out_format=json
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "ist/bench/round_benchmark.hpp"
#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/model/presets.hpp"

struct DepthBudget {
  int budget = 2;  // decomposable blocks per worker
  ist::Plan plan(const ist::ModelInfo& info, const ist::RoundContext& ctx) const {
    const std::vector<int> blocks = info.decomposable_blocks();
    IST_CHECK(budget >= 1 && budget <= int(blocks.size()), "DepthBudget: expected 1 <= budget <= ", blocks.size(),
              " decomposable blocks, found ", budget);
    ist::Plan p;
    p.round = ctx.round;
    p.workers.assign(std::size_t(ctx.workers), ist::full_spec(info));
    ist::Rng rng(ctx.seed, {0x42554447u, ctx.round});  // "BUDG": a pure function of (seed, round)
    for (auto& spec : p.workers) {
      for (int b : blocks) spec.active_blocks[std::size_t(b)] = 0;
      const std::size_t start = std::size_t(rng.below(blocks.size() - std::size_t(budget) + 1));
      for (std::size_t k = 0; k < std::size_t(budget); ++k) spec.active_blocks[std::size_t(blocks[start + k])] = 1;
    }
    return p;
  }
  ist::PlanRules rules() const { return {false, false}; }
  std::string_view name() const { return "depth-budget"; }
};
static_assert(ist::Decomposer<DepthBudget>);

struct FirstHolderWins {
  void merge(std::span<float> global, const ist::MergeInput& in) {
    for (std::size_t w = in.slices.size(); w-- > 0;) ist::scatter(in.results[w], in.slices[w], global);
  }
  std::string_view name() const { return "first-holder-wins"; }
};
static_assert(ist::Aggregator<FirstHolderWins>);

using Net = ist::PreActResNet26Fashion<1, 10>;

// Registered before main(), like BENCHMARK(...): one full round against ResIST's, plan and merge alone.
const int registered = [] {
  ist::bench::RoundBenchOptions o;  // S = 4, L = 5, batch 32, workers one after another, 1 thread each
  o.local_steps = 2;
  ist::bench::register_round_benchmark<Net>("Custom/round/depth-budget", DepthBudget{2}, FirstHolderWins{}, o)
      ->Iterations(3);
  ist::bench::register_round_benchmark<Net>("Custom/round/layerwise-random", ist::LayerwiseRandom{},
                                            ist::HolderAverage{}, o)->Iterations(3);
  ist::bench::register_plan_benchmark<Net>("Custom/plan/depth-budget", DepthBudget{2}, 4);
  ist::bench::register_slice_benchmarks<Net>("Custom/slices/depth-budget", DepthBudget{2}, 4);
  ist::bench::register_merge_benchmark<Net>("Custom/merge/first-holder-wins", DepthBudget{2}, FirstHolderWins{}, 4);
  ist::bench::register_merge_benchmark<Net>("Custom/merge/holder-average", DepthBudget{2}, ist::HolderAverage{}, 4);
  return 0;
}();

BENCHMARK_MAIN();
