#pragma once
// The ModelFamily concept: what the engine (IndependentSubnetTrainer) needs to know about a model, given
// as ModelTraits<Model> (ist/train/model_traits.hpp; specialized for ResNet, Mlp, Gcn).
//
// Required members of ModelTraits<Model> (T below):
//   template <class Compute> using Network = ...;   the network running a (sub-)model on a compute policy:
//                                                   constructible from Compute::Context&
//   using Work = ...;                                its local work and evaluation (a LocalWork policy,
//                                                   ist/train/local_work.hpp: ImageBatches, GraphBatches)
//   static constexpr std::size_t num_params;         |theta|
//   static ModelInfo info();                         blocks, tensors (names, offsets, shapes), widths
//   static void init(std::span<float> params, std::uint64_t seed)
//   static SliceSet slices(const SubnetSpec&)        the global parameters a sub-network holds
//   static ParamLayout layout(const SubnetSpec&)     where its blocks lie in the compact buffer (same size)
//   T::configure(net, spec, ...)                     sets the sub-network's shape; its arguments belong to
//                                                   the family's local work, which calls it
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/train/local_work.hpp"

namespace ist {

template <class Model>
struct ModelTraits;  // specialize for each model family

template <class T>
concept ModelFamily = requires(std::span<float> params, std::uint64_t seed, const SubnetSpec& spec) {
  typename T::Work;
  requires LocalWork<typename T::Work>;
  { T::num_params } -> std::convertible_to<std::size_t>;
  { T::info() } -> std::same_as<ModelInfo>;
  T::init(params, seed);
  { T::slices(spec) } -> std::same_as<SliceSet>;
  { T::layout(spec) } -> std::same_as<ParamLayout>;
};

// One static_assert per required member of ModelTraits<Model>, so a family that misses one gets a single
// sentence naming it.
template <class Model>
consteval bool check_model_family() {
  using T = ModelTraits<Model>;
  constexpr bool has_traits = requires { sizeof(T); };
  static_assert(has_traits, "ist::ModelFamily: no ist::ModelTraits<Model> specialization for this model type");
  if constexpr (!has_traits) {
    return false;
  } else {
    constexpr bool has_work = requires { typename T::Work; };
    constexpr bool work_ok = [] {
      if constexpr (has_work) return LocalWork<typename T::Work>;
      else return false;
    }();
    constexpr bool has_params = requires { { T::num_params } -> std::convertible_to<std::size_t>; };
    constexpr bool has_info = requires { { T::info() } -> std::same_as<ModelInfo>; };
    constexpr bool has_init = requires(std::span<float> p, std::uint64_t s) { T::init(p, s); };
    constexpr bool has_slices = requires(const SubnetSpec& s) { { T::slices(s) } -> std::same_as<SliceSet>; };
    constexpr bool has_layout = requires(const SubnetSpec& s) { { T::layout(s) } -> std::same_as<ParamLayout>; };
    static_assert(has_work, "ist::ModelFamily: ModelTraits<Model> is missing `using Work` (its local work: "
                            "ist::ImageBatches, ist::GraphBatches, or a LocalWork policy)");
    static_assert(!has_work || work_ok, "ist::ModelFamily: ModelTraits<Model>::Work does not satisfy ist::LocalWork");
    static_assert(has_params, "ist::ModelFamily: ModelTraits<Model> is missing `static constexpr std::size_t num_params`");
    static_assert(has_info, "ist::ModelFamily: ModelTraits<Model> is missing `static ModelInfo info()`");
    static_assert(has_init, "ist::ModelFamily: ModelTraits<Model> is missing `static void init(std::span<float>, std::uint64_t seed)`");
    static_assert(has_slices, "ist::ModelFamily: ModelTraits<Model> is missing `static SliceSet slices(const SubnetSpec&)`");
    static_assert(has_layout, "ist::ModelFamily: ModelTraits<Model> is missing `static ParamLayout layout(const SubnetSpec&)`");
    return has_work && work_ok && has_params && has_info && has_init && has_slices && has_layout;
  }
}

namespace archetypes {
// The smallest ModelFamily: one parameter in one block, every sub-network holds it.
struct ModelFamilyArchetype {
  using Work = LocalWorkArchetype;
  static constexpr std::size_t num_params = 1;
  static ModelInfo info() {
    ModelInfo m;
    m.num_params = 1;
    m.blocks.resize(1);
    m.blocks[0].param_count = 1;
    return m;
  }
  static void init(std::span<float> params, std::uint64_t) { params[0] = 0.f; }
  static SliceSet slices(const SubnetSpec&) { return SliceSet{{TensorSlice{0, 1, 1, {}, {}}}}; }
  static ParamLayout layout(const SubnetSpec&) { return ParamLayout::from_offsets({0}, 1); }
};
static_assert(ModelFamily<ModelFamilyArchetype>);
}  // namespace archetypes

}  // namespace ist
