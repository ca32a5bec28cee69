#pragma once
// LayerwiseRandom: ResIST's decomposition. Each round the decomposable blocks (the non-first blocks of
// partitioned stages) are shuffled and dealt into S chunks: N/S blocks each, the N mod S leftovers one
// each to the first workers. Every decomposable block then has exactly one owner. All other blocks are
// in every sub-network.
//
// With a minimum depth m > 0, a worker holding fewer than m decomposable blocks is topped up with extra
// random blocks it does not hold (those blocks then have several owners); every block stays covered.
//
// The plan is a pure function of (seed, round, S).
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/model/model_info.hpp"

namespace ist {

class LayerwiseRandom {
 public:
  explicit LayerwiseRandom(int min_depth = 0) : min_depth_(min_depth) {
    IST_CHECK(min_depth >= 0, "ist::LayerwiseRandom: expected min_depth >= 0, found ", min_depth);
  }

  Plan plan(const ModelInfo& info, const RoundContext& ctx) const {
    IST_CHECK(ctx.workers >= 1, "ist::LayerwiseRandom::plan: expected at least 1 worker, found ", ctx.workers);
    const int n = int(info.decomposable_blocks().size()), s = ctx.workers;
    Rng rng = block_order(ctx);
    Plan p = deal_blocks(info, ctx, equal_shares(n, s), rng);
    if (min_depth_ > 0) {
      const int depth = std::min(min_depth_, n);
      for (int w = 0; w < s; ++w) {
        auto& act = p.workers[std::size_t(w)].active_blocks;
        std::vector<int> missing;
        for (int b : info.decomposable_blocks())
          if (!act[std::size_t(b)]) missing.push_back(b);
        int held = n - int(missing.size());
        rng.shuffle(std::span<int>(missing));
        for (std::size_t k = 0; held < depth; ++k, ++held) act[std::size_t(missing[k])] = 1;
      }
    }
    return p;
  }

  PlanRules rules() const { return {true, true}; }
  std::string_view name() const { return "layerwise-random"; }

  // The random stream that orders a round's blocks: a function of (seed, round, S).
  static Rng block_order(const RoundContext& ctx) {
    return Rng(ctx.seed, {kStream, ctx.round, std::uint64_t(ctx.workers)});
  }

  // A plan in which every worker holds every non-decomposable block, and the decomposable blocks, shuffled
  // by `rng`, are dealt in that order: the first counts[0] to worker 0, the next counts[1] to worker 1, ...
  // (counts sums to the number of decomposable blocks, so each has exactly one owner). LayerwiseRandom
  // deals equal_shares(); SpeedProportional deals shares sized to the workers' speeds.
  static Plan deal_blocks(const ModelInfo& info, const RoundContext& ctx, const std::vector<int>& counts, Rng& rng) {
    std::vector<int> ids = info.decomposable_blocks();
    IST_CHECK(counts.size() == std::size_t(ctx.workers), "ist::LayerwiseRandom::deal_blocks: expected ", ctx.workers,
              " counts, found ", counts.size());
    int total = 0;
    for (int c : counts) total += c;
    IST_CHECK(total == int(ids.size()), "ist::LayerwiseRandom::deal_blocks: the counts sum to ", total, ", expected ",
              ids.size(), " (one owner per decomposable block)");
    rng.shuffle(std::span<int>(ids));
    Plan p;
    p.round = ctx.round;
    p.workers.assign(std::size_t(ctx.workers), full_spec(info));
    for (int b : ids)
      for (auto& w : p.workers) w.active_blocks[std::size_t(b)] = 0;
    std::size_t next = 0;
    for (std::size_t w = 0; w < counts.size(); ++w)
      for (int k = 0; k < counts[w]; ++k) p.workers[w].active_blocks[std::size_t(ids[next++])] = 1;
    return p;
  }
  int min_depth() const noexcept { return min_depth_; }

  // ResIST evaluates the global model with every block active and the residual branch of each
  // decomposable block scaled by 1/S, or max(1/S, m/N) with a minimum depth m over N blocks.
  std::vector<double> evaluation_scale(const ModelInfo& info, int workers) const {
    const int n = int(info.decomposable_blocks().size());
    double scale = 1.0 / workers;
    if (min_depth_ > 0 && n > 0) scale = std::max(scale, double(std::min(min_depth_, n)) / n);
    scale = std::min(scale, 1.0);
    std::vector<double> out(info.blocks.size(), 1.0);
    for (std::size_t b = 0; b < info.blocks.size(); ++b)
      if (info.blocks[b].decomposable) out[b] = scale;
    return out;
  }

 private:
  static constexpr std::uint64_t kStream = 0x4c415945u;  // "LAYE"
  int min_depth_;
};

}  // namespace ist
