// Width-wise decomposition: WidthwiseRandom plan properties, width slices, split-then-merge round trips
// (bit for bit) for Mlp and Gcn, the ledger of an IST round, and a user-written hybrid depth-and-width
// policy running through the unchanged trainer.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "ist/decompose/replicate.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/gcn_traits.hpp"
#include "ist/train/mlp_traits.hpp"
#include "ist/train/trainer.hpp"

namespace test_width_decompose {

using namespace ist;

static_assert(Decomposer<WidthwiseRandom>);

namespace {

ModelInfo widths_info(std::vector<int> units) {
  ModelInfo info;
  info.name = "widths";
  for (std::size_t l = 0; l < units.size(); ++l)
    info.width_layers.push_back(WidthLayerInfo{"layer" + std::to_string(l + 1), units[l]});
  return info;
}

ImageDataset synthetic(int n, int hw, int classes, std::uint64_t seed) {
  ImageDataset d;
  d.n = n;
  d.c = 1;
  d.h = d.w = hw;
  d.num_classes = classes;
  d.source = "synthetic";
  Rng rng(seed);
  d.pixels.resize(std::size_t(n) * hw * hw);
  d.labels.resize(std::size_t(n));
  for (int i = 0; i < n; ++i) {
    const int y = int(rng.below(std::uint64_t(classes)));
    d.labels[std::size_t(i)] = y;
    for (int p = 0; p < hw * hw; ++p)
      d.pixels[std::size_t(i) * std::size_t(hw * hw) + std::size_t(p)] =
          std::uint8_t(std::min(255.0, 60.0 * y + 80.0 * rng.uniform()));
  }
  return d;
}

using SmallMlp = Mlp<Input<16>, Dense<13>, Dense<10>, Dense<3>>;

// Gathers each worker's slices and merges them back unchanged with HolderAverage.
template <class Net>
std::vector<float> split_and_merge(const std::vector<float>& params, const Plan& p, const ModelInfo& info) {
  std::vector<SliceSet> sets;
  std::vector<std::vector<float>> bufs;
  for (const auto& spec : p.workers) {
    sets.push_back(ModelTraits<Net>::slices(spec));
    bufs.emplace_back(sets.back().size());
    gather(std::span<const float>(params), sets.back(), std::span<float>(bufs.back()));
    REQUIRE(bufs.back().size() == ModelTraits<Net>::layout(spec).size());
  }
  std::vector<std::span<const float>> spans(bufs.begin(), bufs.end());
  // Entries nobody holds (cross-group weights) keep their values; the held ones start from junk and must
  // be overwritten with exactly what was gathered.
  std::vector<float> merged = params;
  for (std::size_t w = 0; w < sets.size(); ++w) {
    std::vector<float> junk(sets[w].size(), -7.f);
    scatter(std::span<const float>(junk), sets[w], std::span<float>(merged));
  }
  HolderAverage().merge(std::span<float>(merged), MergeInput{info, p, sets, spans});
  return merged;
}

}  // namespace

TEST_CASE("width: WidthwiseRandom splits every width layer into S disjoint groups that cover it") {
  const ModelInfo info = widths_info({16, 17, 9, 1024, 100});
  const WidthwiseRandom d;
  for (int S : {1, 2, 3, 4, 8}) {
    for (std::uint64_t round = 0; round < 4; ++round) {
      const Plan p = d.plan(info, {13, round, S});
      REQUIRE(p.num_workers() == S);
      CHECK_NOTHROW(validate_plan(p, info, S, d.rules()));
      for (std::size_t l = 0; l < info.width_layers.size(); ++l) {
        const int U = info.width_layers[l].units;
        if (S == 1) {  // one worker keeps everything: the empty list
          CHECK(p.workers[0].kept_units[l].empty());
          continue;
        }
        std::vector<int> owners(std::size_t(U), 0);
        for (int w = 0; w < S; ++w) {
          const auto& kept = p.workers[std::size_t(w)].kept_units[l];
          // Sizes: U/S each, the remainder one each to the first workers.
          CHECK(int(kept.size()) == U / S + (w < U % S ? 1 : 0));
          CHECK(std::is_sorted(kept.begin(), kept.end()));
          for (int u : kept) ++owners[std::size_t(u)];
        }
        // Disjoint and covering: every unit has exactly one owner.
        CHECK(std::all_of(owners.begin(), owners.end(), [](int o) { return o == 1; }));
      }
      for (const auto& w : p.workers) CHECK(std::all_of(w.active_blocks.begin(), w.active_blocks.end(), [](auto a) { return a == 1; }));
    }
  }
}

TEST_CASE("width: WidthwiseRandom is a pure function of (seed, round, S), and layers are shuffled independently") {
  const ModelInfo info = widths_info({64, 64});
  const WidthwiseRandom d;
  const Plan a = d.plan(info, {7, 3, 4}), b = d.plan(info, {7, 3, 4});
  for (int w = 0; w < 4; ++w) CHECK(a.workers[std::size_t(w)].kept_units == b.workers[std::size_t(w)].kept_units);
  auto differs = [&](const Plan& x, const Plan& y) {
    for (std::size_t w = 0; w < x.workers.size(); ++w)
      if (x.workers[w].kept_units != y.workers[w].kept_units) return true;
    return false;
  };
  CHECK(differs(a, d.plan(info, {7, 4, 4})));  // another round
  CHECK(differs(a, d.plan(info, {8, 3, 4})));  // another seed
  CHECK(a.workers[0].kept_units[0] != a.workers[0].kept_units[1]);  // two equal layers, different cuts
  // A layer narrower than S cannot be split.
  CHECK_THROWS_WITH_AS(d.plan(widths_info({64, 3}), {1, 0, 4}),
                       doctest::Contains("layer layer2 has 3 units, fewer than the 4 workers"), Error);
}

TEST_CASE("width: slices take rows of layer l's units and columns of layer l-1's units") {
  using Net = Mlp<Input<3>, Dense<4>, Dense<5>, Dense<2>>;
  SubnetSpec spec = full_spec(ModelTraits<Net>::info());
  spec.kept_units = {{1, 3}, {0, 2, 4}};
  const SliceSet set = ModelTraits<Net>::slices(spec);
  REQUIRE(set.slices.size() == 8);
  // layer1.weight [4, 3]: rows {1, 3}, all columns (the input is never split).
  CHECK(set.slices[0].offset == 0);
  CHECK(set.slices[0].rows == std::vector<int>{1, 3});
  CHECK(set.slices[0].cols.empty());
  CHECK(set.slices[1].rows == std::vector<int>{1, 3});  // norm scale
  CHECK(set.slices[1].num_cols == 1);
  // layer2.weight [5, 4]: rows {0, 2, 4}, columns {1, 3}.
  CHECK(set.slices[3].num_rows == 5);
  CHECK(set.slices[3].num_cols == 4);
  CHECK(set.slices[3].rows == std::vector<int>{0, 2, 4});
  CHECK(set.slices[3].cols == std::vector<int>{1, 3});
  // output.weight [2, 5]: all rows (classes are never split), columns {0, 2, 4}; output.bias whole.
  CHECK(set.slices[6].rows.empty());
  CHECK(set.slices[6].cols == std::vector<int>{0, 2, 4});
  CHECK(set.slices[7].size() == 2);
  CHECK(set.size() == 2 * 3 + 2 * 2 + 3 * 2 + 2 * 3 + 2 * 3 + 2);
  const ParamLayout layout = ModelTraits<Net>::layout(spec);
  CHECK(layout.size() == set.size());
  CHECK(layout.block_offset(1) == 2 * 3 + 2 * 2);
  CHECK(layout.block_offset(2) == 2 * 3 + 2 * 2 + 3 * 2 + 2 * 3);
  // The gathered values are the right ones: W2 row 2, columns 1 and 3.
  std::vector<float> params(Net::num_params);
  std::iota(params.begin(), params.end(), 0.f);
  std::vector<float> compact(set.size());
  gather(std::span<const float>(params), set, std::span<float>(compact));
  const std::size_t w2 = Net::tensors[3].offset;
  CHECK(compact[layout.block_offset(1) + 2] == params[w2 + 2 * 4 + 1]);
  CHECK(compact[layout.block_offset(1) + 3] == params[w2 + 2 * 4 + 3]);
}

TEST_CASE("width: split-then-merge returns Mlp and Gcn models bit for bit") {
  using Gnet = Gcn<Input<20>, GraphConv<33>, GraphConv<17>, GraphConv<5>>;
  const ModelInfo mi = ModelTraits<SmallMlp>::info(), gi = ModelTraits<Gnet>::info();
  std::vector<float> mp(SmallMlp::num_params), gp(Gnet::num_params);
  ModelTraits<SmallMlp>::init(std::span<float>(mp), 3);
  ModelTraits<Gnet>::init(std::span<float>(gp), 3);
  Rng rng(5);  // norm parameters away from 1 and 0
  for (auto& v : mp) v += float(0.01 * rng.normal());
  for (int S : {1, 2, 3, 4, 8}) {
    for (std::uint64_t round = 0; round < 3; ++round) {
      const Plan pm = WidthwiseRandom{}.plan(mi, {4, round, S});
      const Plan pg = WidthwiseRandom{}.plan(gi, {4, round, S});
      CHECK(std::memcmp(split_and_merge<SmallMlp>(mp, pm, mi).data(), mp.data(), mp.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(split_and_merge<Gnet>(gp, pg, gi).data(), gp.data(), gp.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("width: HolderAverage writes disjoint slices back and averages the shared output bias") {
  const ModelInfo info = ModelTraits<SmallMlp>::info();
  std::vector<float> global(SmallMlp::num_params, 0.f);
  const int S = 3;
  const Plan p = WidthwiseRandom{}.plan(info, {1, 0, S});
  std::vector<SliceSet> sets;
  std::vector<std::vector<float>> bufs;
  for (int w = 0; w < S; ++w) {  // worker w returns the value w + 1 everywhere
    sets.push_back(ModelTraits<SmallMlp>::slices(p.workers[std::size_t(w)]));
    bufs.emplace_back(sets.back().size(), float(w + 1));
  }
  std::vector<std::span<const float>> spans(bufs.begin(), bufs.end());
  HolderAverage().merge(std::span<float>(global), MergeInput{info, p, sets, spans});
  // The output bias is held by all: the mean 2.
  const TensorDesc& bias = SmallMlp::tensors.back();
  for (std::size_t i = 0; i < bias.size; ++i) CHECK(global[bias.offset + i] == 2.f);
  // Layer 2's weight: entry (r, c) belongs to the worker holding unit r of layer 2 when it also holds unit c
  // of layer 1; other entries (cross-group) are held by nobody and keep their value 0.
  const TensorDesc& w2 = SmallMlp::tensors[3];
  int owned = 0, unowned = 0;
  for (int r = 0; r < 10; ++r)
    for (int c = 0; c < 13; ++c) {
      int owner = -1;
      for (int w = 0; w < S; ++w) {
        const auto& k2 = p.workers[std::size_t(w)].kept_units[1];
        const auto& k1 = p.workers[std::size_t(w)].kept_units[0];
        if (std::binary_search(k2.begin(), k2.end(), r) && std::binary_search(k1.begin(), k1.end(), c)) owner = w;
      }
      const float v = global[w2.offset + std::size_t(r * 13 + c)];
      if (owner >= 0) {
        ++owned;
        CHECK(v == float(owner + 1));
      } else {
        ++unowned;
        CHECK(v == 0.f);
      }
    }
  CHECK(owned > 0);
  CHECK(unowned > 0);
}

TEST_CASE("width: an IST round moves each worker's slices: 1/S of local SGD's input and output weights, 1/S^2 of hidden-to-hidden") {
  using Net = Mlp<Input<64>, Dense<96>, Dense<96>, Dense<4>>;
  const auto data = synthetic(256, 8, 4, 2);
  TrainerConfig cfg;
  cfg.local_steps = 2;
  cfg.batch = 16;
  cfg.max_rounds = 2;
  cfg.sgd = {0.05, 0.0, 0.0, false};
  cfg.progress = false;
  const int S = 4;
  IndependentSubnetTrainer<Net, WidthwiseRandom> t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(S)),
                                                   cfg);
  t.prepare(data);
  const RoundRecord rec = t.train_round(0);
  const Plan plan = WidthwiseRandom{}.plan(t.info(), {cfg.seed, 0, S});
  std::uint64_t expect = 0;
  for (int w = 0; w < S; ++w) {
    const std::uint64_t sub = ModelTraits<Net>::slices(plan.workers[std::size_t(w)]).size() * sizeof(float);
    CHECK(t.backend().comm().ledger().this_round()[std::size_t(w)].to_worker == sub);
    CHECK(t.backend().comm().ledger().this_round()[std::size_t(w)].from_worker == sub);
    expect += 2 * sub;
  }
  CHECK(rec.bytes() == expect);
  // Per tensor, summed over workers, against local SGD's S whole copies: the input layer's weight moves
  // 1/S (its rows are cut), the hidden-to-hidden weight 1/S^2 (rows and columns are cut), the output
  // weight 1/S (its columns are cut), and the output bias moves whole to everyone.
  std::vector<double> moved(Net::tensors.size(), 0.0);
  for (int w = 0; w < S; ++w) {
    const SliceSet set = ModelTraits<Net>::slices(plan.workers[std::size_t(w)]);
    for (std::size_t k = 0; k < set.slices.size(); ++k) moved[k] += double(set.slices[k].size());
  }
  auto fraction = [&](std::size_t k) { return moved[k] / (double(S) * double(Net::tensors[k].size)); };
  CHECK(fraction(0) == doctest::Approx(1.0 / S));        // layer1.weight [96, 64]
  CHECK(fraction(3) == doctest::Approx(1.0 / (S * S)));  // layer2.weight [96, 96]
  CHECK(fraction(6) == doctest::Approx(1.0 / S));        // output.weight [4, 96]
  CHECK(fraction(7) == doctest::Approx(1.0));            // output.bias, shared
  CHECK(rec.bytes() < rec.local_sgd_bytes);
  MESSAGE("IST S=4 round on Mlp<64, 96, 96, 4>: moved " << rec.bytes() << " bytes, local SGD " << rec.local_sgd_bytes
          << " (" << double(rec.bytes()) / double(rec.local_sgd_bytes) << "x)");
  // lr 0: a round with nothing to learn returns the model bit for bit.
  cfg.sgd.lr = 0;
  IndependentSubnetTrainer<Net, WidthwiseRandom> z(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(S)),
                                                   cfg);
  z.prepare(data);
  const std::vector<float> before(z.params().begin(), z.params().end());
  z.train_round(0);
  z.train_round(1);
  CHECK(std::memcmp(before.data(), z.params().data(), before.size() * sizeof(float)) == 0);
}

TEST_CASE("width: the Mlp trainer rejects data of the wrong size and is deterministic") {
  using Net = Mlp<Input<64>, Dense<32>, Dense<4>>;
  TrainerConfig cfg;
  cfg.local_steps = 3;
  cfg.batch = 16;
  cfg.max_rounds = 2;
  cfg.sgd = {0.05, 0.0, 0.0, false};
  cfg.progress = false;
  IndependentSubnetTrainer<Net, WidthwiseRandom> t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)),
                                                   cfg);
  CHECK_THROWS_WITH_AS(t.prepare(synthetic(64, 7, 4, 1)),
                       doctest::Contains("expected samples of 64 values for this model, found 1x7x7 = 49"), Error);
  const auto data = synthetic(128, 8, 4, 1);
  IndependentSubnetTrainer<Net, WidthwiseRandom> u(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)),
                                                   cfg);
  t.fit(data, data);
  u.fit(data, data);
  CHECK(std::memcmp(t.params().data(), u.params().data(), t.params().size_bytes()) == 0);
}

// ---- A hybrid depth-and-width policy, written by a user -----------------------------------------------
// Each round, every hidden layer is, at random, either kept at full width by every worker (replicated,
// then averaged: a "depth" share) or cut width-wise into S disjoint groups. It is only a Decomposer: the
// trainer, the slices, the backend and HolderAverage are unchanged.
namespace {
struct HybridDepthWidth {
  double full_width_probability = 0.5;
  Plan plan(const ModelInfo& info, const RoundContext& ctx) const {
    Plan p = WidthwiseRandom{}.plan(info, ctx);
    Rng rng(ctx.seed, {0x48594252u, ctx.round});  // "HYBR"
    for (std::size_t l = 0; l < info.width_layers.size(); ++l)
      if (rng.uniform() < full_width_probability)
        for (auto& w : p.workers) w.kept_units[l].clear();  // empty = all units
    return p;
  }
  PlanRules rules() const { return {}; }
  std::string_view name() const { return "hybrid-depth-width"; }
};
}  // namespace

TEST_CASE("width: a user-written hybrid depth-and-width policy trains through the unchanged trainer") {
  using Net = Mlp<Input<64>, Dense<48>, Dense<48>, Dense<48>, Dense<4>>;
  const auto data = synthetic(512, 8, 4, 3);
  TrainerConfig cfg;
  cfg.local_steps = 4;
  cfg.batch = 32;
  cfg.max_rounds = 8;
  cfg.sgd = {0.05, 0.0, 0.0, false};
  cfg.eval_every = 0;
  cfg.progress = false;
  const int S = 3;
  const ModelInfo info = ModelTraits<Net>::info();
  // The policy mixes both kinds of layers over these rounds.
  int full = 0, cut = 0;
  for (std::uint64_t r = 0; r < 8; ++r) {
    const Plan p = HybridDepthWidth{}.plan(info, {cfg.seed, r, S});
    CHECK_NOTHROW(validate_plan(p, info, S, HybridDepthWidth{}.rules()));
    for (std::size_t l = 0; l < 3; ++l) (p.workers[0].kept_units[l].empty() ? full : cut) += 1;
    // Split-then-merge is still the identity.
    std::vector<float> params(Net::num_params);
    ModelTraits<Net>::init(std::span<float>(params), r);
    CHECK(std::memcmp(split_and_merge<Net>(params, p, info).data(), params.data(), params.size() * sizeof(float)) == 0);
  }
  CHECK(full > 0);
  CHECK(cut > 0);
  IndependentSubnetTrainer<Net, HybridDepthWidth> hybrid(HybridDepthWidth{}, HolderAverage{},
                                                         CpuBackend<>(InProcessComm(S)), cfg);
  IndependentSubnetTrainer<Net, WidthwiseRandom> ist(WidthwiseRandom{}, HolderAverage{},
                                                     CpuBackend<>(InProcessComm(S)), cfg);
  IndependentSubnetTrainer<Net, Replicate> local(Replicate{}, HolderAverage{}, CpuBackend<>(InProcessComm(S)), cfg);
  const FitResult h = hybrid.fit(data, data), w = ist.fit(data, data), l = local.fit(data, data);
  MESSAGE("hybrid: accuracy " << h.final_eval.accuracy << ", " << h.total_bytes << " bytes; IST: "
          << w.final_eval.accuracy << ", " << w.total_bytes << " bytes; local SGD: " << l.final_eval.accuracy << ", "
          << l.total_bytes << " bytes");
  // It moves more than pure width cuts and less than local SGD, and it learns (4 classes: chance is 0.25).
  CHECK(h.total_bytes > w.total_bytes);
  CHECK(h.total_bytes < l.total_bytes);
  CHECK(h.final_eval.accuracy > 0.5);
}

}  // namespace test_width_decompose
