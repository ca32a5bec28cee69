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
    const int s = ctx.workers;
    Plan p;
    p.round = ctx.round;
    p.workers.assign(std::size_t(s), full_spec(info));
    if (s == 1) return p;  // one worker keeps everything (empty lists)
    for (std::size_t l = 0; l < info.width_layers.size(); ++l) {
      const int units = info.width_layers[l].units;
      IST_CHECK(units >= s, "ist::WidthwiseRandom::plan: layer ", info.width_layers[l].name, " has ", units,
                " units, fewer than the ", s, " workers (each worker needs at least one unit)");
      std::vector<int> perm(static_cast<std::size_t>(units));
      std::iota(perm.begin(), perm.end(), 0);
      Rng rng(ctx.seed, {kStream, ctx.round, std::uint64_t(s), std::uint64_t(l)});
      rng.shuffle(std::span<int>(perm));
      const int base = units / s, extra = units % s;
      auto next = perm.begin();
      for (int w = 0; w < s; ++w) {
        const int count = base + (w < extra ? 1 : 0);
        auto& kept = p.workers[std::size_t(w)].kept_units[l];
        kept.assign(next, next + count);
        std::sort(kept.begin(), kept.end());
        next += count;
      }
    }
    return p;
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
