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
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/model/model_info.hpp"

namespace ist {

struct SubnetSpec {
  std::vector<std::uint8_t> active_blocks;  // one flag per ModelInfo block
  std::vector<std::vector<int>> kept_units;  // one list per ModelInfo width layer; empty = all units
};

struct Plan {
  std::uint64_t round = 0;
  std::vector<SubnetSpec> workers;
  int num_workers() const noexcept { return int(workers.size()); }
};

// What a round is: every plan is a pure function of these.
struct RoundContext {
  std::uint64_t seed = 0;
  std::uint64_t round = 0;
  int workers = 1;
};

// Rules a valid plan obeys beyond the structural ones.
struct PlanRules {
  // Every decomposable block must be held by at least one worker (ResIST's partition covers them all).
  bool require_block_cover = true;
  // Every hidden unit of every width layer must be kept by at least one worker.
  bool require_unit_cover = true;
};

// A SubnetSpec holding everything: all blocks, all units.
inline SubnetSpec full_spec(const ModelInfo& info) {
  SubnetSpec s;
  s.active_blocks.assign(info.blocks.size(), 1);
  s.kept_units.assign(info.width_layers.size(), {});
  return s;
}

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

}  // namespace ist
