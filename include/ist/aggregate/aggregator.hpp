#pragma once
// The Aggregator concept: how the workers' trained slices become the next global model.
//
// Required members (a is a D&):
//   void a.merge(std::span<float> global, const MergeInput& in)
//       Writes the merged values into `global` (the full parameter buffer, or an optimizer-state buffer of
//       the same layout). in.results[w] is worker w's compact buffer, laid out as in.slices[w];
//       in.plan.workers[w] its spec; in.samples[w] the training samples its local steps used this round
//       (a weight for a weighted merge; empty where the caller does not know them). Parameters that no
//       worker held must keep their values.
//   std::string_view a.name() const
// Shipped: HolderAverage (ist/aggregate/holder_average.hpp), SampleWeightedAverage
// (ist/aggregate/sample_weighted_average.hpp).
#include <concepts>
#include <span>
#include <string_view>

#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/model/model_info.hpp"

namespace ist {

// Everything a merge sees. "Per worker" means per plan slot of the workers whose results came back (after a
// failure the failed worker's slot is left out of all of them alike).
struct MergeInput {
  const ModelInfo& info;
  const Plan& plan;
  std::span<const SliceSet> slices;                 // per worker
  std::span<const std::span<const float>> results;  // per worker, compact, in slice order
  // Per worker: the training samples of its local steps this round (StepStats::samples: L x batch for the
  // image families, the training nodes x L for full-batch graphs), the weight of a sample-weighted merge.
  // The trainer always fills it; empty where a caller does not know (a benchmark, a unit test).
  std::span<const double> samples = {};
};

template <class A>
concept Aggregator = requires(A& a, const A& ca, std::span<float> global, const MergeInput& in) {
  a.merge(global, in);
  { ca.name() } -> std::convertible_to<std::string_view>;
};

// One static_assert per required member, so a type that misses one gets a single sentence naming it; a member
// that exists but is not const where it must be gets a sentence saying so. The trainer calls it when it is
// constructed.
template <class A>
consteval bool check_aggregator() {
  constexpr bool has_merge = requires(A& a, std::span<float> global, const MergeInput& in) { a.merge(global, in); };
  constexpr bool has_name = requires(const A& a) {
    { a.name() } -> std::convertible_to<std::string_view>;
  };
  constexpr bool name_not_const = !has_name && requires(A& a) {
    { a.name() } -> std::convertible_to<std::string_view>;
  };
  static_assert(has_merge, "ist::Aggregator: missing member `void merge(std::span<float> global, const MergeInput&)`");
  static_assert(has_name || name_not_const, "ist::Aggregator: missing member `std::string_view name() const`");
  static_assert(!name_not_const,
                "ist::Aggregator: member `name` is not const: declare it `std::string_view name() const`");
  return has_merge && has_name;
}

namespace archetypes {
// The smallest Aggregator: last writer wins.
struct AggregatorArchetype {
  void merge(std::span<float> global, const MergeInput& in) {
    for (std::size_t w = 0; w < in.slices.size(); ++w) scatter(in.results[w], in.slices[w], global);
  }
  std::string_view name() const { return "archetype"; }
};
static_assert(Aggregator<AggregatorArchetype>);
}  // namespace archetypes

}  // namespace ist
