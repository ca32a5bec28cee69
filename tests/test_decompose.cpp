// Plans, plan validation, LayerwiseRandom, Replicate, slices, HolderAverage and SampleWeightedAverage.
#include <doctest/doctest.h>

#include <cstring>
#include <initializer_list>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include "ist/aggregate/holder_average.hpp"
#include "ist/aggregate/sample_weighted_average.hpp"
#include "ist/decompose/decomposer.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/model_traits.hpp"

namespace test_decompose {

using namespace ist;

static_assert(Decomposer<LayerwiseRandom> && Decomposer<Replicate>);
static_assert(HasEvaluationScale<LayerwiseRandom> && !HasEvaluationScale<Replicate>);
static_assert(Aggregator<HolderAverage> && Aggregator<SampleWeightedAverage>);

namespace {
using Net = PreActResNet26Fashion<1, 10>;  // 8 decomposable blocks (stage 3, blocks 2..9)

std::vector<int> holders(const Plan& p, std::size_t blocks) {
  std::vector<int> h(blocks, 0);
  for (const auto& w : p.workers)
    for (std::size_t b = 0; b < blocks; ++b) h[b] += w.active_blocks[b];
  return h;
}
}  // namespace

TEST_CASE("decompose: LayerwiseRandom covers each decomposable block exactly once and keeps shared blocks") {
  const auto info = model_info<Net>();
  const LayerwiseRandom d;
  for (int S : {1, 2, 3, 4, 8, 11}) {
    for (std::uint64_t round = 0; round < 5; ++round) {
      const Plan p = d.plan(info, {42, round, S});
      REQUIRE(p.num_workers() == S);
      CHECK_NOTHROW(validate_plan(p, info, S, d.rules()));
      const auto h = holders(p, info.blocks.size());
      for (std::size_t b = 0; b < info.blocks.size(); ++b)
        CHECK(h[b] == (info.blocks[b].decomposable ? 1 : S));
      // Deal sizes: N/S each, leftovers one each to the first workers.
      const int n = 8;
      for (int w = 0; w < S; ++w) {
        int held = 0;
        for (int b : info.decomposable_blocks()) held += p.workers[std::size_t(w)].active_blocks[std::size_t(b)];
        CHECK(held == n / S + (w < n % S ? 1 : 0));
      }
    }
  }
  // A pure function of (seed, round, S).
  const Plan a = d.plan(info, {7, 3, 4}), b = d.plan(info, {7, 3, 4});
  for (int w = 0; w < 4; ++w) CHECK(a.workers[std::size_t(w)].active_blocks == b.workers[std::size_t(w)].active_blocks);
  bool differs = false;
  for (std::uint64_t r = 0; r < 10 && !differs; ++r) {
    const Plan c = d.plan(info, {7, 4 + r, 4});
    for (int w = 0; w < 4; ++w) differs |= c.workers[std::size_t(w)].active_blocks != a.workers[std::size_t(w)].active_blocks;
  }
  CHECK(differs);
}

TEST_CASE("decompose: LayerwiseRandom minimum depth tops up workers and keeps every block covered") {
  const auto info = model_info<Net>();
  const LayerwiseRandom d(3);
  for (std::uint64_t round = 0; round < 10; ++round) {
    const Plan p = d.plan(info, {1, round, 4});
    CHECK_NOTHROW(validate_plan(p, info, 4, d.rules()));
    for (const auto& w : p.workers) {
      int held = 0;
      for (int b : info.decomposable_blocks()) held += w.active_blocks[std::size_t(b)];
      CHECK(held == 3);  // 8 blocks over 4 workers gives 2 each, topped up to 3
    }
  }
  // Evaluation scale: max(1/S, m/N) on decomposable blocks, 1 elsewhere.
  const auto s = d.evaluation_scale(info, 4);
  for (std::size_t b = 0; b < info.blocks.size(); ++b)
    CHECK(s[b] == doctest::Approx(info.blocks[b].decomposable ? 3.0 / 8.0 : 1.0));
  const auto s0 = LayerwiseRandom{}.evaluation_scale(info, 4);
  CHECK(s0[info.decomposable_blocks()[0]] == doctest::Approx(0.25));
}

TEST_CASE("decompose: validate_plan rejects bad plans, naming worker, block or layer, and rule") {
  ModelInfo info = model_info<Net>();
  info.width_layers = {{"hidden1", 6}};
  Plan good = Replicate{}.plan(info, {0, 0, 2});
  CHECK_NOTHROW(validate_plan(good, info, 2));

  CHECK_THROWS_WITH_AS(validate_plan(good, info, 3), doctest::Contains("expected 3 worker specs, found 2"), Error);
  Plan p = good;
  p.workers[1].active_blocks.pop_back();
  CHECK_THROWS_WITH_AS(validate_plan(p, info, 2), doctest::Contains("worker 1: expected 14 block flags, found 13"), Error);
  p = good;
  p.workers[0].active_blocks[0] = 0;
  CHECK_THROWS_WITH_AS(validate_plan(p, info, 2),
                       doctest::Contains("worker 0: block stem is left out, but it is shared"), Error);
  p = good;
  const int b = info.decomposable_blocks()[2];
  for (auto& w : p.workers) w.active_blocks[std::size_t(b)] = 0;
  CHECK_THROWS_WITH_AS(validate_plan(p, info, 2),
                       doctest::Contains("block stage3.block4 is held by no worker (rule: every decomposable block is covered)"),
                       Error);
  CHECK_NOTHROW(validate_plan(p, info, 2, PlanRules{false, true}));  // a policy may allow it
  p = good;
  p.workers[1].kept_units[0] = {0, 3, 2};
  CHECK_THROWS_WITH_AS(validate_plan(p, info, 2), doctest::Contains("worker 1: layer hidden1: units are unsorted"), Error);
  p.workers[1].kept_units[0] = {0, 2, 2};
  CHECK_THROWS_WITH_AS(validate_plan(p, info, 2), doctest::Contains("unit 2 is listed twice (rule: no duplicates)"),
                       Error);
  p.workers[1].kept_units[0] = {0, 6};
  CHECK_THROWS_WITH_AS(validate_plan(p, info, 2), doctest::Contains("unit 6 is out of range [0, 6)"), Error);
  p.workers[0].kept_units[0] = {0, 1, 2};
  p.workers[1].kept_units[0] = {3, 4};
  CHECK_THROWS_WITH_AS(validate_plan(p, info, 2), doctest::Contains("layer hidden1: unit 5 is kept by no worker"), Error);
}

TEST_CASE("decompose: validate_plan with the round's context rejects a plan labelled with another round") {
  const ModelInfo info = model_info<Net>();
  Plan p = Replicate{}.plan(info, {1, 0, 2});
  CHECK_NOTHROW(validate_plan(p, info, RoundContext{1, 0, 2}));
  p.round = 7;
  CHECK_THROWS_WITH_AS(validate_plan(p, info, RoundContext{1, 0, 2}),
                       doctest::Contains("ist::validate_plan: the plan is labelled round 7, but this is round 0"),
                       Error);
  CHECK_NOTHROW(validate_plan(p, info, RoundContext{1, 7, 2}));
  // The structural checks run too: S comes from the context.
  CHECK_THROWS_WITH_AS(validate_plan(p, info, RoundContext{1, 7, 3}), doctest::Contains("expected 3 worker specs"),
                       Error);
}

TEST_CASE("decompose: slices gather and scatter rows and columns") {
  // A 3x4 matrix at offset 2 of a buffer of 16; keep rows {0, 2} and cols {1, 3}; plus a whole 2-value tensor.
  std::vector<float> global(16);
  std::iota(global.begin(), global.end(), 0.f);
  SliceSet set;
  set.slices.push_back(TensorSlice{2, 3, 4, {0, 2}, {1, 3}});
  set.slices.push_back(TensorSlice{14, 1, 2, {}, {}});
  REQUIRE(set.size() == 6);
  std::vector<float> compact(6);
  gather(std::span<const float>(global), set, std::span<float>(compact));
  CHECK(compact == std::vector<float>{3, 5, 11, 13, 14, 15});
  std::vector<float> back(16, -1.f);
  scatter(std::span<const float>(compact), set, std::span<float>(back));
  CHECK(back[3] == 3.f);
  CHECK(back[13] == 13.f);
  CHECK(back[4] == -1.f);
  std::vector<float> wrong(5);
  CHECK_THROWS_WITH_AS(gather(std::span<const float>(global), set, std::span<float>(wrong)),
                       doctest::Contains("expected a compact buffer of 6 values, found 5"), Error);
}

namespace {

// Slices of a flat global buffer: worker w holds the `count` values from `begin`, one entry per worker.
std::vector<SliceSet> flat_slices(std::initializer_list<std::pair<std::size_t, std::size_t>> ranges) {
  std::vector<SliceSet> sets(ranges.size());
  std::size_t w = 0;
  for (const auto& [begin, count] : ranges) sets[w++].slices.push_back(TensorSlice{begin, 1, int(count), {}, {}});
  return sets;
}

// A model cut by a plan: each worker's slices and the values gathered from `params` into its compact buffer.
struct SplitModel {
  std::vector<SliceSet> sets;
  std::vector<std::vector<float>> bufs;
  std::vector<std::span<const float>> results() const { return {bufs.begin(), bufs.end()}; }
};

SplitModel split(const std::vector<float>& params, const Plan& plan) {
  using Traits = ModelTraits<Net>;
  SplitModel m;
  for (const auto& spec : plan.workers) {
    m.sets.push_back(Traits::slices(spec));
    m.bufs.emplace_back(m.sets.back().size());
    gather(std::span<const float>(params), m.sets.back(), std::span<float>(m.bufs.back()));
  }
  return m;
}

}  // namespace

TEST_CASE("decompose: HolderAverage matches a hand-computed average, and split-then-merge is the identity") {
  // Global of 6 values; worker 0 holds [0,4), worker 1 holds [2,6): values 2,3 are shared, 0,1 and 4,5 exclusive.
  const ModelInfo info;
  const Plan plan;
  const std::vector<SliceSet> slices = flat_slices({{0, 4}, {2, 4}});
  const std::vector<float> r0{10, 11, 12, 13}, r1{20, 21, 22, 23};
  const std::vector<std::span<const float>> results{r0, r1};
  std::vector<float> global{0, 0, 0, 0, 0, 0, 99};  // last value held by nobody
  HolderAverage avg;
  avg.merge(std::span<float>(global).first(6), MergeInput{info, plan, slices, results});
  CHECK(global == std::vector<float>{10, 11, (12 + 20) / 2.f, (13 + 21) / 2.f, 22, 23, 99});

  // Split a real model by a LayerwiseRandom plan and merge the untouched slices: bit-for-bit identity.
  using Traits = ModelTraits<Net>;
  std::vector<float> params(Net::num_params);
  Traits::init(std::span<float>(params), 5);
  const auto minfo = Traits::info();
  for (std::uint64_t round = 0; round < 3; ++round) {
    const Plan p = LayerwiseRandom(2).plan(minfo, {5, round, 3});
    const SplitModel m = split(params, p);
    for (std::size_t w = 0; w < p.workers.size(); ++w) CHECK(m.bufs[w].size() == Traits::layout(p.workers[w]).size());
    const std::vector<std::span<const float>> spans = m.results();
    std::vector<float> merged = params;
    HolderAverage().merge(std::span<float>(merged), MergeInput{minfo, p, m.sets, spans});
    CHECK(std::memcmp(merged.data(), params.data(), params.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("aggregate: SampleWeightedAverage weights each holder by its samples; without counts it is HolderAverage") {
  // Global of 6 values; worker 0 holds [0,4) and trained on 100 samples, worker 1 holds [2,6) on 300, worker 2
  // holds [3,5) on 0 samples (it weighs nothing). Values 2 and 3 are shared by 0 and 1, value 4 by 1 and 2.
  const ModelInfo info;
  const Plan plan;
  const std::vector<SliceSet> slices = flat_slices({{0, 4}, {2, 4}, {3, 2}});
  const std::vector<float> r0{10, 11, 12, 13}, r1{20, 21, 22, 23}, r2{-50, -60};
  const std::vector<std::span<const float>> results{r0, r1, r2};
  const std::vector<double> samples{100, 300, 0};
  std::vector<float> global{0, 0, 0, 0, 0, 0, 99};  // the last value is held by nobody
  SampleWeightedAverage avg;
  avg.merge(std::span<float>(global).first(6), MergeInput{info, plan, slices, results, samples});
  CHECK(global[0] == 10.f);
  CHECK(global[1] == 11.f);
  CHECK(global[2] == float((100.0 * 12 + 300.0 * 20) / 400.0));  // 18, not the plain mean 16
  CHECK(global[3] == float((100.0 * 13 + 300.0 * 21 + 0.0 * -50) / 400.0));
  CHECK(global[4] == 22.f);                                   // worker 2's -60 weighs 0
  CHECK(global[5] == 23.f);
  CHECK(global[6] == 99.f);
  CHECK(global[2] != (12.f + 20.f) / 2.f);

  // A value held only by workers of weight 0 keeps its value.
  std::vector<float> g2{5, 5, 5, 5, 5, 5};
  const std::vector<double> zero{0, 0, 0};
  avg.merge(std::span<float>(g2), MergeInput{info, plan, slices, results, zero});
  CHECK(g2 == std::vector<float>{5, 5, 5, 5, 5, 5});

  // Without sample counts every worker weighs 1: HolderAverage's result, bit for bit.
  std::vector<float> a{0, 0, 0, 0, 0, 0}, b = a;
  SampleWeightedAverage().merge(std::span<float>(a), MergeInput{info, plan, slices, results});
  HolderAverage().merge(std::span<float>(b), MergeInput{info, plan, slices, results});
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);

  // Counts that do not match the workers are an error.
  const std::vector<double> two{1, 2};
  CHECK_THROWS_WITH_AS(avg.merge(std::span<float>(a), MergeInput{info, plan, slices, results, two}),
                       doctest::Contains("expected one sample count per worker (3), found 2"), Error);
  const std::vector<double> negative{1, -2, 3};
  CHECK_THROWS_WITH_AS(avg.merge(std::span<float>(a), MergeInput{info, plan, slices, results, negative}),
                       doctest::Contains("worker 1: expected a sample count >= 0, found -2"), Error);
}

TEST_CASE("aggregate: SampleWeightedAverage split-then-merge with unequal sample counts is the identity") {
  using Traits = ModelTraits<Net>;
  std::vector<float> params(Net::num_params);
  Traits::init(std::span<float>(params), 6);
  const auto minfo = Traits::info();
  const Plan p = LayerwiseRandom(3).plan(minfo, {6, 0, 4});  // min depth 3: some blocks have several holders
  const SplitModel m = split(params, p);
  const std::vector<std::span<const float>> spans = m.results();
  const std::vector<double> samples{128, 384, 1000, 7};
  std::vector<float> merged = params;
  SampleWeightedAverage().merge(std::span<float>(merged), MergeInput{minfo, p, m.sets, spans, samples});
  CHECK(std::memcmp(merged.data(), params.data(), params.size() * sizeof(float)) == 0);
}

// docs/aggregators.md's worked example, verbatim: it compiles, satisfies the concept and merges as the
// library's SampleWeightedAverage does.
namespace docs_example {
// Each parameter becomes the mean over the workers that held it, each weighted by the training samples its
// local steps used this round (in.samples); without counts, every worker weighs 1.
class SampleWeightedAverage {
 public:
  void merge(std::span<float> global, const ist::MergeInput& in) {
    sums_.assign(global.size(), 0.0);
    weights_.assign(global.size(), 0.0);
    for (std::size_t w = 0; w < in.slices.size(); ++w) {
      const double weight = in.samples.empty() ? 1.0 : in.samples[w];
      ist::scatter_accumulate(in.results[w], in.slices[w], std::span<double>(sums_), std::span<double>(weights_),
                              weight);
    }
    for (std::size_t i = 0; i < global.size(); ++i)
      if (weights_[i] > 0) global[i] = float(sums_[i] / weights_[i]);  // nobody held it (or only weight 0): keep
  }
  std::string_view name() const { return "sample-weighted-average"; }

 private:
  std::vector<double> sums_, weights_;
};
static_assert(ist::Aggregator<SampleWeightedAverage>);
}  // namespace docs_example

TEST_CASE("aggregate: the docs' SampleWeightedAverage example merges as the library's does") {
  const ModelInfo info;
  const Plan plan;
  const std::vector<SliceSet> slices = flat_slices({{0, 4}, {2, 4}});
  const std::vector<float> r0{10, 11, 12, 13}, r1{20, 21, 22, 23};
  const std::vector<std::span<const float>> results{r0, r1};
  const std::vector<double> samples{100, 300};
  std::vector<float> a(7, 99.f), b(7, 99.f);
  docs_example::SampleWeightedAverage().merge(std::span<float>(a), MergeInput{info, plan, slices, results, samples});
  SampleWeightedAverage().merge(std::span<float>(b), MergeInput{info, plan, slices, results, samples});
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  CHECK(a[2] == 18.f);  // (100 * 12 + 300 * 20) / 400, not the plain mean 16
  CHECK(a[6] == 99.f);
}

}  // namespace test_decompose
