#pragma once
// ModelTraits<Mlp<...>>: plugs ist::Mlp into IndependentSubnetTrainer (IST). A SubnetSpec's kept units
// become row and column slices of each layer's weight (see ist/decompose/width_slices.hpp); the network
// runs the compact sub-network at its kept widths.
//
//   using Net = ist::Mlp<ist::Input<784>, ist::Dense<1024>, ist::Dense<1024>, ist::Dense<10>>;
//   ist::IndependentSubnetTrainer<Net, ist::WidthwiseRandom> trainer(
//       ist::WidthwiseRandom{}, ist::HolderAverage{}, ist::CpuBackend<>(ist::InProcessComm(4)), cfg);
#include <cstdint>
#include <span>

#include "ist/decompose/plan.hpp"
#include "ist/networks/mlp_network.hpp"
#include "ist/model/init.hpp"
#include "ist/model/mlp.hpp"
#include "ist/train/image_batches.hpp"
#include "ist/train/model_traits.hpp"
#include "ist/train/width_chain_traits.hpp"

namespace ist {

template <class... Parts>
struct ModelTraits<Mlp<Parts...>> : detail::WidthChainTraits<Mlp<Parts...>, detail::kMlpName> {
  using Model = Mlp<Parts...>;
  template <class Compute>
  using Network = MlpNetwork<Model, float, Compute>;
  using Work = ImageBatches;

  // Linear weights and the classifier's bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default),
  // norm scale 1, norm shift 0.
  // configure(net, spec, batch, height, width) comes from WidthChainTraits.
  static void init(std::span<float> params, std::uint64_t seed) { init_params<Model>(params, seed); }
};

}  // namespace ist
