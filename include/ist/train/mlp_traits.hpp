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
#include <string>
#include <vector>

#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/decompose/width_slices.hpp"
#include "ist/layers/mlp_network.hpp"
#include "ist/model/init.hpp"
#include "ist/model/mlp.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/train/image_batches.hpp"
#include "ist/train/model_traits.hpp"

namespace ist {

template <class... Parts>
struct ModelTraits<Mlp<Parts...>> {
  using Model = Mlp<Parts...>;
  template <class Compute>
  using Network = MlpNetwork<Model, float, Compute>;
  using Work = ImageBatches;
  static constexpr std::size_t num_params = Model::num_params;
  static constexpr int num_classes = Model::num_classes;

  static ModelInfo info(std::string name = "mlp") { return detail::chain_model_info<Model>(std::move(name)); }
  // Linear weights and the classifier's bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default),
  // norm scale 1, norm shift 0.
  static void init(std::span<float> params, std::uint64_t seed) { init_params<Model>(params, seed); }

  static SliceSet slices(const SubnetSpec& spec) {
    return detail::chain_slices<Model>(spec, "ist::ModelTraits<Mlp>::slices");
  }
  static ParamLayout layout(const SubnetSpec& spec) {
    return detail::chain_layout<Model>(spec, "ist::ModelTraits<Mlp>::layout");
  }

  template <class Net>
  static void configure(Net& net, const SubnetSpec& spec, int batch, int height, int width) {
    const std::vector<int> kept = detail::chain_kept_widths<Model>(spec, "ist::ModelTraits<Mlp>::configure");
    net.set_widths(kept);
    net.configure(batch, height, width);
  }
};

}  // namespace ist
