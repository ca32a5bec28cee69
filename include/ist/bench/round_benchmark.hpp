#pragma once
// Google Benchmark helpers for the parts of an IST round, for any (Model, Decomposer, Aggregator): a
// downstream user benchmarks their own policy in a few lines (docs/benchmarks.md has a worked example).
//
//   #include <ist/bench/round_benchmark.hpp>
//   ist::bench::RoundBenchOptions o;   // S = 4, L = 5, batch 32, 1 thread per worker, sequential workers
//   ist::bench::register_round_benchmark<Net>("Round/mine", MyDecomposer{}, ist::HolderAverage{}, o);
//   ist::bench::register_plan_benchmark<Net>("Plan/mine", MyDecomposer{}, 4);
//   ist::bench::register_slice_benchmarks<Net>("Slices/mine", MyDecomposer{}, 4);
//   ist::bench::register_merge_benchmark<Net>("Merge/mine", MyDecomposer{}, MyAggregator{}, 4);
//   BENCHMARK_MAIN();
//
// What each one times (one benchmark iteration):
//   round   IndependentSubnetTrainer::train_round: plan + validate_plan + gather and send each worker's
//           slices + L local SGD steps per worker + return + merge; the ledger's bytes of the round go to
//           SetBytesProcessed (so "bytes_per_second" is bytes moved per second of round), and counters give
//           bytes per round, its ratio to local SGD's 2·S·|θ|·4, the slowest worker's compute (wall and
//           CPU) and the mean sub-network size. Training data: synthetic random images of the model's
//           input shape (uniform bytes, random labels); a round's cost does not depend on the pixel values.
//   plan    decomposer.plan + validate_plan + ModelTraits::slices for every worker (items = plans).
//   slices  gather of every worker's slices from the global buffer, and scatter back (bytes = the values
//           copied, GB/s).
//   merge   aggregator.merge of S compact results into the global buffer (bytes = the results read).
// The round uses the Eigen CPU backend with in-process workers. Sequential workers (the default) time each
// worker alone, as a cluster with one machine per worker would run them; set parallel_workers to run them
// concurrently on this machine's cores.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ist/aggregate/aggregator.hpp"
#include "ist/aggregate/holder_average.hpp"
#include "ist/backend/cpu_backend.hpp"
#include "ist/comm/in_process_comm.hpp"
#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/image_dataset.hpp"
#include "ist/decompose/decomposer.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/train/model_traits.hpp"
#include "ist/train/trainer.hpp"
#include "ist/train/trainer_config.hpp"

namespace ist::bench {

// The shape of a benchmarked round.
struct RoundBenchOptions {
  int workers = 4;                // S
  int local_steps = 5;            // L
  int batch = 32;                 // per worker
  int threads_per_worker = 1;
  bool parallel_workers = false;  // false: workers one after another (clean per-worker timings)
  int height = 28, width = 28;    // synthetic image size for image models (ModelInfo::in_channels > 0)
  int images = 0;                 // synthetic training images; 0: 4 batches
  std::uint64_t seed = 1;
  OptimizerState optimizer_state = OptimizerState::ResetEachRound;
};

inline void validate(const RoundBenchOptions& o) {
  const char* who = "ist::bench::RoundBenchOptions";
  IST_CHECK(o.workers >= 1, who, ": workers (S) must be >= 1, found ", o.workers);
  IST_CHECK(o.local_steps >= 1, who, ": local_steps (L) must be >= 1, found ", o.local_steps);
  IST_CHECK(o.batch >= 1, who, ": batch must be >= 1, found ", o.batch);
  IST_CHECK(o.threads_per_worker >= 1, who, ": threads_per_worker must be >= 1, found ", o.threads_per_worker);
  IST_CHECK(o.height >= 1 && o.width >= 1, who, ": height and width must be >= 1, found ", o.height, "x", o.width);
  IST_CHECK(o.images == 0 || o.images >= o.batch, who, ": images must be 0 or >= batch (", o.batch, "), found ",
            o.images);
}

// `n` random images (uniform bytes) with random labels, shaped for the model `info` describes: C x H x W
// for an image model, 1 x 1 x in_features for a flat-input one.
inline ImageDataset synthetic_images(const ModelInfo& info, int n, int height, int width, std::uint64_t seed) {
  IST_CHECK(n >= 1, "ist::bench::synthetic_images: expected n >= 1 images, found ", n);
  IST_CHECK(info.num_classes >= 1, "ist::bench::synthetic_images: model ", info.name,
            ": expected num_classes >= 1, found ", info.num_classes);
  ImageDataset d;
  d.n = n;
  if (info.in_features > 0) {
    d.c = 1;
    d.h = 1;
    d.w = info.in_features;
  } else {
    d.c = info.in_channels > 0 ? info.in_channels : 1;
    d.h = height;
    d.w = width;
  }
  d.num_classes = info.num_classes;
  d.source = "synthetic";
  Rng rng(seed, {0x424e4348u});  // "BNCH"
  d.pixels.resize(std::size_t(n) * d.image_size());
  for (auto& p : d.pixels) p = std::uint8_t(rng.below(256));
  d.labels.resize(std::size_t(n));
  for (auto& y : d.labels) y = std::int32_t(rng.below(std::uint64_t(info.num_classes)));
  return d;
}

// A round of IndependentSubnetTrainer<Model, D, A> on synthetic data; one benchmark iteration = one round.
// Returns Google Benchmark's handle, for ->Unit(...), ->MinTime(...), ->Iterations(...).
template <class Model, class D, class A = HolderAverage>
benchmark::internal::Benchmark* register_round_benchmark(const std::string& name, D decomposer, A aggregator = {},
                                                         RoundBenchOptions o = {}) {
  validate(o);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [decomposer, aggregator, o](benchmark::State& state) {
    using Trainer = IndependentSubnetTrainer<Model, D, A, CpuBackend<InProcessComm>>;
    TrainerConfig cfg;
    cfg.local_steps = o.local_steps;
    cfg.batch = o.batch;
    cfg.seed = o.seed;
    cfg.max_rounds = 1;
    cfg.progress = false;
    cfg.optimizer_state = o.optimizer_state;
    Trainer trainer(decomposer, aggregator,
                    CpuBackend<InProcessComm>(InProcessComm(o.workers, o.parallel_workers), o.threads_per_worker),
                    cfg);
    const ImageDataset data = synthetic_images(trainer.info(), o.images > 0 ? o.images : 4 * o.batch, o.height,
                                               o.width, o.seed);
    trainer.prepare(data);
    (void)trainer.train_round(0);  // warm up: buffers, first touch
    std::uint64_t round = 1, bytes = 0, local_sgd = 0;
    double cpu_max = 0, wall_max = 0, subnet = 0;
    for (auto _ : state) {
      const RoundRecord r = trainer.train_round(round++);
      bytes += r.bytes();
      local_sgd += r.local_sgd_bytes;
      cpu_max += r.compute_cpu_seconds_max;
      wall_max += r.compute_seconds_max;
      subnet += r.mean_subnet_params;
    }
    const double it = double(state.iterations());
    state.SetBytesProcessed(std::int64_t(bytes));
    state.counters["S"] = o.workers;
    state.counters["L"] = o.local_steps;
    state.counters["batch"] = o.batch;
    state.counters["bytes_per_round"] = double(bytes) / it;
    state.counters["vs_local_sgd_bytes"] = local_sgd ? double(bytes) / double(local_sgd) : 0.0;
    state.counters["compute_s_max"] = wall_max / it;
    state.counters["compute_cpu_s_max"] = cpu_max / it;
    state.counters["subnet_params"] = subnet / it;
    state.SetLabel(std::string(decomposer.name()) + " + " + std::string(aggregator.name()));
  });
  return b->Unit(benchmark::kMillisecond)->UseRealTime();
}

// decomposer.plan + validate_plan + the slices of every worker; one iteration = one round's plan.
template <class Model, class D>
benchmark::internal::Benchmark* register_plan_benchmark(const std::string& name, D decomposer, int workers,
                                                        std::uint64_t seed = 1) {
  IST_CHECK(workers >= 1, "ist::bench::register_plan_benchmark: ", name, ": expected workers >= 1, found ", workers);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [decomposer, workers, seed](benchmark::State& state) {
    const ModelInfo info = ModelTraits<Model>::info();
    std::uint64_t round = 0;
    std::size_t values = 0;
    for (auto _ : state) {
      const Plan plan = decomposer.plan(info, RoundContext{seed, round++, workers});
      validate_plan(plan, info, workers, decomposer.rules());
      for (const auto& spec : plan.workers) values += ModelTraits<Model>::slices(spec).size();
      benchmark::DoNotOptimize(values);
    }
    state.SetItemsProcessed(std::int64_t(state.iterations()));
    state.counters["S"] = workers;
    state.counters["blocks"] = double(info.blocks.size());
    state.counters["subnet_params"] = double(values) / double(state.iterations()) / workers;
    state.SetLabel(std::string(decomposer.name()));
  });
  return b->Unit(benchmark::kMicrosecond);
}

namespace detail {
// One round's plan, slices and compact buffers (gathered from a random global model).
template <class Model, class D>
struct PlannedRound {
  ModelInfo info = ModelTraits<Model>::info();
  Plan plan;
  std::vector<SliceSet> slices;
  std::vector<float> global;
  std::vector<std::vector<float>> compact;
  std::size_t values = 0;  // sum of the workers' slice sizes

  PlannedRound(const D& decomposer, int workers, std::uint64_t seed) : global(ModelTraits<Model>::num_params) {
    plan = decomposer.plan(info, RoundContext{seed, 0, workers});
    validate_plan(plan, info, workers, decomposer.rules());
    Rng rng(seed, {0x534c4943u});  // "SLIC"
    for (auto& v : global) v = float(rng.uniform()) - 0.5f;
    for (const auto& spec : plan.workers) {
      slices.push_back(ModelTraits<Model>::slices(spec));
      compact.emplace_back(slices.back().size());
      gather(std::span<const float>(global), slices.back(), std::span<float>(compact.back()));
      values += slices.back().size();
    }
  }
};
}  // namespace detail

// Gather (global -> each worker's compact buffer) and scatter (back) of one round's slices, as two
// benchmarks "<name>/gather" and "<name>/scatter"; bytes = values copied x 4.
template <class Model, class D>
void register_slice_benchmarks(const std::string& name, D decomposer, int workers, std::uint64_t seed = 1) {
  IST_CHECK(workers >= 1, "ist::bench::register_slice_benchmarks: ", name, ": expected workers >= 1, found ", workers);
  benchmark::RegisterBenchmark((name + "/gather").c_str(), [decomposer, workers, seed](benchmark::State& state) {
    detail::PlannedRound<Model, D> r(decomposer, workers, seed);
    for (auto _ : state) {
      for (std::size_t w = 0; w < r.slices.size(); ++w)
        gather(std::span<const float>(r.global), r.slices[w], std::span<float>(r.compact[w]));
      benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(r.values * sizeof(float)));
    state.counters["S"] = workers;
    state.SetLabel(std::string(decomposer.name()));
  })->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark((name + "/scatter").c_str(), [decomposer, workers, seed](benchmark::State& state) {
    detail::PlannedRound<Model, D> r(decomposer, workers, seed);
    for (auto _ : state) {
      for (std::size_t w = 0; w < r.slices.size(); ++w)
        scatter(std::span<const float>(r.compact[w]), r.slices[w], std::span<float>(r.global));
      benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(r.values * sizeof(float)));
    state.counters["S"] = workers;
    state.SetLabel(std::string(decomposer.name()));
  })->Unit(benchmark::kMicrosecond);
}

// aggregator.merge of one round's S compact results into the global buffer; bytes = the results read.
template <class Model, class D, class A>
benchmark::internal::Benchmark* register_merge_benchmark(const std::string& name, D decomposer, A aggregator,
                                                         int workers, std::uint64_t seed = 1) {
  static_assert(check_aggregator<A>());
  IST_CHECK(workers >= 1, "ist::bench::register_merge_benchmark: ", name, ": expected workers >= 1, found ", workers);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [decomposer, aggregator, workers, seed](benchmark::State& state) {
    detail::PlannedRound<Model, D> r(decomposer, workers, seed);
    A agg = aggregator;
    std::vector<std::span<const float>> results;
    for (const auto& c : r.compact) results.emplace_back(c);
    const MergeInput in{r.info, r.plan, r.slices, results};
    for (auto _ : state) {
      agg.merge(std::span<float>(r.global), in);
      benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(r.values * sizeof(float)));
    state.counters["S"] = workers;
    state.counters["params"] = double(r.global.size());
    state.SetLabel(std::string(aggregator.name()) + " of " + std::string(decomposer.name()));
  });
  return b->Unit(benchmark::kMicrosecond);
}

}  // namespace ist::bench
