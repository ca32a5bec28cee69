#pragma once
// ModelTraits<Gcn<...>>: plugs ist::Gcn into IndependentSubnetTrainer (GIST), with full-batch local work. A SubnetSpec's kept units become
// row and column slices of each layer's weight (see ist/decompose/width_slices.hpp); the network runs the
// compact sub-GCN at its kept widths over the whole graph.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/decompose/width_slices.hpp"
#include "ist/layers/gcn_network.hpp"
#include "ist/model/gcn.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/train/full_graph.hpp"
#include "ist/train/model_traits.hpp"

namespace ist {

template <class... Parts>
struct ModelTraits<Gcn<Parts...>> {
  using Model = Gcn<Parts...>;
  template <class Compute>
  using Network = GcnNetwork<Model, float, Compute>;
  using Work = FullGraph;
  static constexpr std::size_t num_params = Model::num_params;
  static constexpr int num_classes = Model::num_classes;

  static ModelInfo info(std::string name = "gcn") { return detail::chain_model_info<Model>(std::move(name)); }
  // Glorot-uniform weights, as Kipf's reference code.
  static void init(std::span<float> params, std::uint64_t seed) { init_gcn_params<Model>(params, seed); }

  static SliceSet slices(const SubnetSpec& spec) {
    return detail::chain_slices<Model>(spec, "ist::ModelTraits<Gcn>::slices");
  }
  static ParamLayout layout(const SubnetSpec& spec) {
    return detail::chain_layout<Model>(spec, "ist::ModelTraits<Gcn>::layout");
  }

  // Sets the kept widths of `spec` and the graph's size.
  template <class Net>
  static void configure(Net& net, const SubnetSpec& spec, int num_nodes) {
    const std::vector<int> kept = detail::chain_kept_widths<Model>(spec, "ist::ModelTraits<Gcn>::configure");
    net.set_widths(kept);
    net.configure(num_nodes);
  }
};

}  // namespace ist
