#pragma once
// The Aggregator concept: how the workers' trained slices become the next global model.
//
// Required members (a is a D&):
//   void a.merge(std::span<float> global, const MergeInput& in)
//       Writes the merged values into `global` (the full parameter buffer, or an optimizer-state buffer of
//       the same layout). in.results[w] is worker w's compact buffer, laid out as in.slices[w]. Parameters
//       that no worker held must keep their values.
//   std::string_view a.name() const
#include <concepts>
#include <span>
#include <string_view>

#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/model/model_info.hpp"

namespace ist {

struct MergeInput {
  const ModelInfo& info;
  const Plan& plan;
  std::span<const SliceSet> slices;                 // per worker
  std::span<const std::span<const float>> results;  // per worker, compact, in slice order
};

template <class A>
concept Aggregator = requires(A& a, const A& ca, std::span<float> global, const MergeInput& in) {
  a.merge(global, in);
  { ca.name() } -> std::convertible_to<std::string_view>;
};

template <class A>
consteval bool check_aggregator() {
  constexpr bool has_merge = requires(A& a, std::span<float> global, const MergeInput& in) { a.merge(global, in); };
  constexpr bool has_name = requires(const A& a) {
    { a.name() } -> std::convertible_to<std::string_view>;
  };
  static_assert(has_merge, "ist::Aggregator: missing member `void merge(std::span<float> global, const MergeInput&)`");
  static_assert(has_name, "ist::Aggregator: missing member `std::string_view name() const`");
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
