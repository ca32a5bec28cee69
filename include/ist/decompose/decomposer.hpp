#pragma once
// The Decomposer concept: how a round's global model is cut into sub-networks.
//
// Required members (d is a const D):
//   Plan d.plan(const ModelInfo& info, const RoundContext& ctx)
//       One SubnetSpec per worker (ctx.workers of them). Must be a pure function of (info, ctx.seed,
//       ctx.round, ctx.workers): every rank computes it locally and the same seed replays it.
//   PlanRules d.rules()
//       What validate_plan() must enforce for this policy's plans (cover every block / unit or not).
//   std::string_view d.name()
//       Short name for logs and metrics ("layerwise-random").
// Optional:
//   std::vector<double> d.evaluation_scale(const ModelInfo& info, int workers)
//       Scale per block for evaluating the global model: a ResNet block scales its residual branch
//       (ResIST: 1/S on partitioned blocks), an Mlp or Gcn layer its input (WidthwiseRandom: 1/S on
//       layers whose input units are split). Without it every scale is 1.
#include <concepts>
#include <string_view>
#include <vector>

#include "ist/decompose/plan.hpp"
#include "ist/model/model_info.hpp"

namespace ist {

template <class D>
concept Decomposer = requires(const D& d, const ModelInfo& info, const RoundContext& ctx) {
  { d.plan(info, ctx) } -> std::same_as<Plan>;
  { d.rules() } -> std::same_as<PlanRules>;
  { d.name() } -> std::convertible_to<std::string_view>;
};

template <class D>
concept HasEvaluationScale = requires(const D& d, const ModelInfo& info, int workers) {
  { d.evaluation_scale(info, workers) } -> std::same_as<std::vector<double>>;
};

// One static_assert per required member, so a type that misses one gets a single sentence naming it; a member
// that exists but is not const gets a sentence saying so. The trainer calls it when it is constructed.
template <class D>
consteval bool check_decomposer() {
  constexpr bool has_plan = requires(const D& d, const ModelInfo& info, const RoundContext& ctx) {
    { d.plan(info, ctx) } -> std::same_as<Plan>;
  };
  constexpr bool has_rules = requires(const D& d) {
    { d.rules() } -> std::same_as<PlanRules>;
  };
  constexpr bool has_name = requires(const D& d) {
    { d.name() } -> std::convertible_to<std::string_view>;
  };
  // The same members callable on a non-const D only: declared without const.
  constexpr bool plan_not_const = !has_plan && requires(D& d, const ModelInfo& info, const RoundContext& ctx) {
    { d.plan(info, ctx) } -> std::same_as<Plan>;
  };
  constexpr bool rules_not_const = !has_rules && requires(D& d) {
    { d.rules() } -> std::same_as<PlanRules>;
  };
  constexpr bool name_not_const = !has_name && requires(D& d) {
    { d.name() } -> std::convertible_to<std::string_view>;
  };
  static_assert(has_plan || plan_not_const,
                "ist::Decomposer: missing member `Plan plan(const ModelInfo&, const RoundContext&) const`");
  static_assert(!plan_not_const, "ist::Decomposer: member `plan` is not const: declare it "
                                 "`Plan plan(const ModelInfo&, const RoundContext&) const` (a plan is a pure "
                                 "function of the model and the round)");
  static_assert(has_rules || rules_not_const, "ist::Decomposer: missing member `PlanRules rules() const`");
  static_assert(!rules_not_const,
                "ist::Decomposer: member `rules` is not const: declare it `PlanRules rules() const`");
  static_assert(has_name || name_not_const, "ist::Decomposer: missing member `std::string_view name() const`");
  static_assert(!name_not_const,
                "ist::Decomposer: member `name` is not const: declare it `std::string_view name() const`");
  return has_plan && has_rules && has_name;
}

namespace archetypes {
// The smallest Decomposer: every worker holds everything.
struct DecomposerArchetype {
  Plan plan(const ModelInfo& info, const RoundContext& ctx) const {
    Plan p;
    p.round = ctx.round;
    p.workers.assign(std::size_t(ctx.workers), full_spec(info));
    return p;
  }
  PlanRules rules() const { return {}; }
  std::string_view name() const { return "archetype"; }
};
static_assert(Decomposer<DecomposerArchetype>);
}  // namespace archetypes

}  // namespace ist
