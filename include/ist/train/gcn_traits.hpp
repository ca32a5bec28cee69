#pragma once
// ModelTraits<Gcn<...>>: plugs ist::Gcn into IndependentSubnetTrainer (GIST), with full-batch local work
// (GraphBatches). A SubnetSpec's kept units become row and column slices of each layer's weight
// (WidthChainTraits); the network runs the compact sub-GCN at its kept widths over the whole graph.
#include <cstdint>
#include <span>

#include "ist/data/graph.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/networks/gcn_network.hpp"
#include "ist/model/gcn.hpp"
#include "ist/train/graph_batches.hpp"
#include "ist/train/model_traits.hpp"
#include "ist/train/width_chain_traits.hpp"

namespace ist {

template <class... Parts>
struct ModelTraits<Gcn<Parts...>> : detail::WidthChainTraits<Gcn<Parts...>, detail::kGcnName> {
  using Model = Gcn<Parts...>;
  template <class Compute>
  using Network = GcnNetwork<Model, float, Compute>;
  using Work = GraphBatches;

  // Glorot-uniform weights, as Kipf's reference code. configure(net, spec, num_nodes) (WidthChainTraits)
  // sets the kept widths and the graph's size.
  static void init(std::span<float> params, std::uint64_t seed) { init_gcn_params<Model>(params, seed); }
  // GraphBatches: a GCN layer aggregates with A_hat = D^-1/2 (A + I) D^-1/2.
  static const GraphMatrix& aggregation_matrix(const GraphDataset& g) { return g.adjacency; }
};

}  // namespace ist
