#pragma once
// The plan is data: who trains what in one round.
//
// A Plan holds one SubnetSpec per worker. A SubnetSpec says which blocks the worker holds and, for each
// width-decomposable layer of the model (ModelInfo::width_layers), which hidden units it keeps (sorted,
// unique; empty = all). Everything downstream (slices, communication, the ledger, aggregation) is
// derived from the plan, so a new decomposer needs no change anywhere else.
//
// validate_plan() rejects a bad plan before any byte moves; each message names the worker, the block or
// layer, and the rule.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/model/model_info.hpp"

namespace ist {

// One worker's sub-network for one round.
struct SubnetSpec {
  // One flag per ModelInfo block (info.blocks[b]): 1 = the worker holds and trains block b, 0 = it does not
  // (the block is then the identity in its sub-network). Only decomposable blocks may be 0.
  std::vector<std::uint8_t> active_blocks;
  // One list per width-decomposable layer (info.width_layers[l]): the hidden units the worker keeps, sorted
  // ascending, no duplicates, each in [0, units); empty = all units.
  std::vector<std::vector<int>> kept_units;
  // The local steps the worker trains this round: 0 = the run's L (TrainerConfig::local_steps); else 1..L, for
  // a policy that sizes a slow worker's work by its steps (SpeedProportional with SpeedBudget::Steps). The
  // worker's data stream moves on by L steps either way, so the batches of later rounds do not depend on it.
  int local_steps = 0;
};

// Who trains what in one round: workers[i] is the sub-network of plan slot i (slot i goes to the i-th
// worker the round is partitioned over: worker i unless failures removed some).
struct Plan {
  // The round this plan is for, 0-based: a decomposer sets it to RoundContext::round, and the trainer
  // rejects a plan labelled with another round (a stale or cached plan); validate_plan messages name it.
  std::uint64_t round = 0;
  std::vector<SubnetSpec> workers;
  int num_workers() const noexcept { return int(workers.size()); }
};

// What a round is: every plan is a pure function of these (so every process computes the same plan
// without messages, and the same seed replays it).
struct RoundContext {
  std::uint64_t seed = 0;   // the run's seed (TrainerConfig::seed)
  std::uint64_t round = 0;  // 0-based round index
  int workers = 1;          // S: the number of specs to return
  // The workers' measured pace in the last rounds, oldest first (at most kPaceRounds of them): row k holds,
  // per plan slot of this round, the seconds its worker took per local step and per parameter of its
  // sub-network in that round; 0 where it was not measured (the worker was not in the plan, or failed).
  // Empty in the first round. The trainer fills it the same on every process (a sum over processes), and
  // keeps it in checkpoints, so a plan that reads it is still the same everywhere and after a resume; it
  // is measured, so such plans vary between runs unless the timings are injected (set_compute_timer).
  // Decomposers that ignore it (LayerwiseRandom, WidthwiseRandom) stay pure functions of (seed, round, S).
  std::span<const std::vector<float>> pace_history = {};
  // L, the local steps of a worker's round (TrainerConfig::local_steps); 0 where no trainer runs the plan (a
  // benchmark of plans alone). A SubnetSpec::local_steps must lie in [0, L].
  int local_steps = 0;
};

// How many rounds of pace the trainer keeps and hands to decomposers.
inline constexpr int kPaceRounds = 4;

// n items dealt to s workers in equal shares: n / s each, the n mod s leftovers one each to the first workers.
inline std::vector<int> equal_shares(int n, int s) {
  IST_CHECK(s >= 1 && n >= 0, "ist::equal_shares: expected n >= 0 items and s >= 1 workers, found n = ", n, ", s = ", s);
  std::vector<int> counts(std::size_t(s), n / s);
  for (int w = 0; w < n % s; ++w) ++counts[std::size_t(w)];
  return counts;
}

// Rules a valid plan obeys beyond the structural ones (returned by Decomposer::rules()). The default
// requires a full cover; a policy that may leave a decomposable block or a hidden unit to nobody in a
// round (its parameters then keep their values) returns {false, ...} / {..., false}:
//   ist::PlanRules rules() const { return {.require_block_cover = false}; }
struct PlanRules {
  // Every decomposable block must be held by at least one worker (ResIST's partition covers them all).
  bool require_block_cover = true;
  // Every hidden unit of every width layer must be kept by at least one worker.
  bool require_unit_cover = true;
};

// A SubnetSpec holding everything: all blocks, all units. Start from it and switch off what a worker
// does not hold.
inline SubnetSpec full_spec(const ModelInfo& info) {
  SubnetSpec s;
  s.active_blocks.assign(info.blocks.size(), 1);
  s.kept_units.assign(info.width_layers.size(), {});
  return s;
}

// The structural checks: `expected_workers` specs, each with one flag per block and one unit list per width
// layer; shared blocks held by everyone; unit indices sorted, unique and in range; and the covers `rules`
// asks for. Throws ist::Error naming the round, the worker, the block or layer, and the rule.
inline void validate_plan(const Plan& plan, const ModelInfo& info, int expected_workers, const PlanRules& rules = {}) {
  const char* who = "ist::validate_plan";
  IST_CHECK(plan.num_workers() == expected_workers, who, ": round ", plan.round, ": expected ", expected_workers,
            " worker specs, found ", plan.num_workers(), " (rule: one SubnetSpec per worker)");
  std::vector<int> block_holders(info.blocks.size(), 0);
  std::vector<std::vector<int>> unit_holders(info.width_layers.size());
  for (std::size_t l = 0; l < info.width_layers.size(); ++l)
    unit_holders[l].assign(std::size_t(info.width_layers[l].units), 0);

  for (int w = 0; w < plan.num_workers(); ++w) {
    const SubnetSpec& s = plan.workers[std::size_t(w)];
    IST_CHECK(s.active_blocks.size() == info.blocks.size(), who, ": round ", plan.round, ", worker ", w,
              ": expected ", info.blocks.size(), " block flags, found ", s.active_blocks.size(),
              " (rule: one flag per model block)");
    IST_CHECK(s.kept_units.size() == info.width_layers.size(), who, ": round ", plan.round, ", worker ", w,
              ": expected ", info.width_layers.size(), " unit lists, found ", s.kept_units.size(),
              " (rule: one list per width layer)");
    for (std::size_t b = 0; b < info.blocks.size(); ++b) {
      if (s.active_blocks[b]) {
        ++block_holders[b];
      } else {
        IST_CHECK(info.blocks[b].decomposable, who, ": round ", plan.round, ", worker ", w, ": block ",
                  info.blocks[b].name, " is left out, but it is shared (rule: every worker holds every "
                  "non-decomposable block)");
      }
    }
    for (std::size_t l = 0; l < info.width_layers.size(); ++l) {
      const auto& units = s.kept_units[l];
      const int n = info.width_layers[l].units;
      if (units.empty()) {
        for (auto& h : unit_holders[l]) ++h;
        continue;
      }
      for (std::size_t i = 0; i < units.size(); ++i) {
        IST_CHECK(units[i] >= 0 && units[i] < n, who, ": round ", plan.round, ", worker ", w, ": layer ",
                  info.width_layers[l].name, ": unit ", units[i], " is out of range [0, ", n,
                  ") (rule: unit indices in range)");
        if (i > 0) {
          IST_CHECK(units[i] != units[i - 1], who, ": round ", plan.round, ", worker ", w, ": layer ",
                    info.width_layers[l].name, ": unit ", units[i], " is listed twice (rule: no duplicates)");
          IST_CHECK(units[i] > units[i - 1], who, ": round ", plan.round, ", worker ", w, ": layer ",
                    info.width_layers[l].name, ": units are unsorted at position ", i, " (", units[i - 1], " then ",
                    units[i], ") (rule: unit indices sorted ascending)");
        }
        ++unit_holders[l][std::size_t(units[i])];
      }
    }
  }
  if (rules.require_block_cover)
    for (std::size_t b = 0; b < info.blocks.size(); ++b)
      IST_CHECK(block_holders[b] > 0, who, ": round ", plan.round, ": block ", info.blocks[b].name,
                " is held by no worker (rule: every decomposable block is covered)");
  if (rules.require_unit_cover)
    for (std::size_t l = 0; l < info.width_layers.size(); ++l)
      for (std::size_t u = 0; u < unit_holders[l].size(); ++u)
        IST_CHECK(unit_holders[l][u] > 0, who, ": round ", plan.round, ": layer ", info.width_layers[l].name,
                  ": unit ", u, " is kept by no worker (rule: every hidden unit is covered)");
}

// The checks above for the plan of round ctx.round with ctx.workers workers, and the plan's label: a plan
// whose Plan::round is not ctx.round is rejected (the trainer calls this one before any byte moves).
inline void validate_plan(const Plan& plan, const ModelInfo& info, const RoundContext& ctx,
                          const PlanRules& rules = {}) {
  IST_CHECK(plan.round == ctx.round, "ist::validate_plan: the plan is labelled round ", plan.round,
            ", but this is round ", ctx.round, " (rule: Plan::round equals RoundContext::round; set "
            "plan.round = ctx.round in the decomposer's plan())");
  validate_plan(plan, info, ctx.workers, rules);
  for (int w = 0; w < plan.num_workers(); ++w) {
    const int steps = plan.workers[std::size_t(w)].local_steps;
    IST_CHECK(steps >= 0 && (ctx.local_steps == 0 || steps <= ctx.local_steps), "ist::validate_plan: round ",
              plan.round, ", worker ", w, ": local_steps is ", steps, ", expected 0 (the run's L) to L = ",
              ctx.local_steps, " (rule: a worker trains at most the run's local steps)");
  }
}

}  // namespace ist
