// Plans, plan validation, LayerwiseRandom, Replicate, slices and HolderAverage.
#include <doctest/doctest.h>

#include <numeric>
#include <vector>

#include "ist/aggregate/holder_average.hpp"
#include "ist/decompose/decomposer.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/model_traits.hpp"

using namespace ist;

static_assert(Decomposer<LayerwiseRandom> && Decomposer<Replicate>);
static_assert(HasEvaluationScale<LayerwiseRandom> && !HasEvaluationScale<Replicate>);
static_assert(Aggregator<HolderAverage>);

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

TEST_CASE("decompose: HolderAverage matches a hand-computed average, and split-then-merge is the identity") {
  // Global of 6 values; worker 0 holds [0,4), worker 1 holds [2,6): values 2,3 are shared, 0,1 and 4,5 exclusive.
  const ModelInfo info;
  const Plan plan;
  std::vector<SliceSet> slices(2);
  slices[0].slices.push_back(TensorSlice{0, 1, 4, {}, {}});
  slices[1].slices.push_back(TensorSlice{2, 1, 4, {}, {}});
  const std::vector<float> r0{10, 11, 12, 13}, r1{20, 21, 22, 23};
  const std::vector<std::span<const float>> results{r0, r1};
  std::vector<float> global{0, 0, 0, 0, 0, 0, 99};  // last value held by nobody
  slices[1].slices[0].num_cols = 4;
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
    std::vector<SliceSet> sets;
    std::vector<std::vector<float>> bufs;
    for (const auto& spec : p.workers) {
      sets.push_back(Traits::slices(spec));
      bufs.emplace_back(sets.back().size());
      gather(std::span<const float>(params), sets.back(), std::span<float>(bufs.back()));
      CHECK(bufs.back().size() == Traits::layout(spec).size());
    }
    std::vector<std::span<const float>> spans(bufs.begin(), bufs.end());
    std::vector<float> merged = params;
    HolderAverage().merge(std::span<float>(merged), MergeInput{minfo, p, sets, spans});
    CHECK(std::memcmp(merged.data(), params.data(), params.size() * sizeof(float)) == 0);
  }
}
