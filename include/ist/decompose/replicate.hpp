#pragma once
// Replicate: every worker holds the whole model. Through the same trainer this is local SGD with L local
// steps, and with L = 1 and carried optimizer state, synchronous data-parallel SGD.
#include <string_view>

#include "ist/decompose/plan.hpp"

namespace ist {

struct Replicate {
  Plan plan(const ModelInfo& info, const RoundContext& ctx) const {
    Plan p;
    p.round = ctx.round;
    p.workers.assign(std::size_t(ctx.workers), full_spec(info));
    return p;
  }
  PlanRules rules() const { return {true, true}; }
  std::string_view name() const { return "replicate"; }
};

}  // namespace ist
