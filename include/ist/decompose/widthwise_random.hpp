#pragma once
// WidthwiseRandom: IST's and GIST's decomposition. Each round, the hidden units of every width layer
// (ModelInfo::width_layers) are shuffled and dealt into S disjoint groups: U/S units each, the U mod S
// leftovers one each to the first workers. Each worker keeps its group (sorted ascending); every hidden
// unit then has exactly one owner. Blocks are all held by everyone; the model turns a kept-unit list into
// row and column slices (the rows of W_l for the units of layer l, the columns for those of layer l-1),
// and tensors that no unit list touches (the classifier's bias) are shared and averaged.
//
// Layers are shuffled independently, each from its own stream Rng(seed, {"WIDT", round, S, layer}), so
// the plan is a pure function of (seed, round, S).
//
// evaluation_scale() gives the trainer 1/S for the input of every block that takes split units (see there).
//
// A width layer with fewer units than workers cannot be split (a worker would keep nothing, and an
// empty list means "all units"): plan() throws, naming the layer.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <span>
#include <string_view>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/model/model_info.hpp"

namespace ist {

class WidthwiseRandom {
 public:
  Plan plan(const ModelInfo& info, const RoundContext& ctx) const {
    IST_CHECK(ctx.workers >= 1, "ist::WidthwiseRandom::plan: expected at least 1 worker, found ", ctx.workers);
    Plan p;
    p.round = ctx.round;
    p.workers.assign(std::size_t(ctx.workers), full_spec(info));
    if (ctx.workers == 1) return p;  // one worker keeps everything (empty lists)
    for (std::size_t l = 0; l < info.width_layers.size(); ++l) {
      check_splittable(info, l, ctx.workers, "ist::WidthwiseRandom::plan");
      deal_units(p, info, ctx, l, equal_shares(info.width_layers[l].units, ctx.workers));
    }
    return p;
  }

  // Deals the units of width layer l, shuffled by the layer's own stream Rng(seed, {"WIDT", round, S, l}),
  // into p's workers in that order: the first counts[0] to worker 0, the next counts[1] to worker 1, ... (each
  // group sorted). counts sums to the layer's units and each is >= 1 (an empty list would mean "all units").
  // WidthwiseRandom deals equal_shares(); SpeedProportional deals shares sized to the workers' speeds.
  static void deal_units(Plan& p, const ModelInfo& info, const RoundContext& ctx, std::size_t l,
                         const std::vector<int>& counts) {
    const WidthLayerInfo& layer = info.width_layers[l];
    IST_CHECK(counts.size() == p.workers.size(), "ist::WidthwiseRandom::deal_units: layer ", layer.name, ": expected ",
              p.workers.size(), " counts, found ", counts.size());
    int total = 0;
    for (int c : counts) {
      IST_CHECK(c >= 1, "ist::WidthwiseRandom::deal_units: layer ", layer.name, ": every worker needs at least one "
                "unit, found a count of ", c);
      total += c;
    }
    IST_CHECK(total == layer.units, "ist::WidthwiseRandom::deal_units: layer ", layer.name, ": the counts sum to ",
              total, ", expected its ", layer.units, " units");
    std::vector<int> perm(static_cast<std::size_t>(layer.units));
    std::iota(perm.begin(), perm.end(), 0);
    Rng rng(ctx.seed, {kStream, ctx.round, std::uint64_t(ctx.workers), std::uint64_t(l)});
    rng.shuffle(std::span<int>(perm));
    auto next = perm.begin();
    for (std::size_t w = 0; w < counts.size(); ++w) {
      auto& kept = p.workers[w].kept_units[l];
      kept.assign(next, next + counts[w]);
      std::sort(kept.begin(), kept.end());
      next += counts[w];
    }
  }

  // A width layer with fewer units than workers cannot be split: throws, naming the layer.
  static void check_splittable(const ModelInfo& info, std::size_t l, int workers, const char* who) {
    const WidthLayerInfo& layer = info.width_layers[l];
    IST_CHECK(layer.units >= workers, who, ": layer ", layer.name, " has ", layer.units, " units, fewer than the ",
              workers, " workers (each worker needs at least one unit)");
  }

  PlanRules rules() const { return {true, true}; }
  std::string_view name() const { return "widthwise-random"; }

  // Scale of each block's input when the global model is evaluated: 1/S for a block whose input units
  // are split (WidthLayerInfo::input_of), 1 elsewhere. In training a unit of such a block sums over the
  // 1/S of its inputs that its worker keeps; at evaluation it sums over all of them, so the sum is scaled
  // back, as inverted dropout does. Behind a batch norm (IST's hidden layers) or a layer norm the scale
  // cancels; it matters for the classifier, whose logits would otherwise be S times too large (argmax
  // aside, the loss of the global model would be meaningless).
  std::vector<double> evaluation_scale(const ModelInfo& info, int workers) const {
    std::vector<double> out(info.blocks.size(), 1.0);
    for (const auto& layer : info.width_layers)
      if (layer.input_of >= 0 && std::size_t(layer.input_of) < out.size() && layer.units >= workers)
        out[std::size_t(layer.input_of)] = 1.0 / workers;
    return out;
  }

 private:
  static constexpr std::uint64_t kStream = 0x57494454u;  // "WIDT"
};

}  // namespace ist
