#pragma once
// ModelTraits<Sage<...>>: plugs ist::Sage (GraphSAGE, mean aggregator) into IndependentSubnetTrainer (GIST),
// with full-batch local work (GraphBatches), exactly as ist::Gcn. A SubnetSpec's kept units become row slices of
// each hidden layer's weight and bias and column slices, in both halves of [h ‖ mean of neighbours of h], of
// the next layer's weight (WidthChainTraits, width_slices.hpp); the network runs the compact sub-network at
// its kept widths over the whole graph.
#include <cstdint>
#include <span>

#include "ist/data/graph.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/model/sage.hpp"
#include "ist/networks/sage_network.hpp"
#include "ist/train/graph_batches.hpp"
#include "ist/train/model_traits.hpp"
#include "ist/train/width_chain_traits.hpp"

namespace ist {

template <class... Parts>
struct ModelTraits<Sage<Parts...>> : detail::WidthChainTraits<Sage<Parts...>, detail::kSageName> {
  using Model = Sage<Parts...>;
  template <class Compute>
  using Network = SageNetwork<Model, float, Compute>;
  using Work = GraphBatches;

  // PyTorch's nn.Linear initialization (GIST's ISTSAGELayer). configure(net, spec, num_nodes)
  // (WidthChainTraits) sets the kept widths and the graph's size.
  static void init(std::span<float> params, std::uint64_t seed) { init_sage_params<Model>(params, seed); }
  // GraphBatches: a GraphSAGE layer aggregates with the mean over each node's neighbours, M = D^-1 A.
  static const GraphMatrix& aggregation_matrix(const GraphDataset& g) { return g.mean_aggregation; }
};

}  // namespace ist
