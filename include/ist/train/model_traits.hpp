#pragma once
// ModelTraits<Model>: what the trainer needs to know about a model family, in one place: its run-time
// description, initialization, how a SubnetSpec becomes slices and a compact layout, which network runs
// it, and its local work (how a worker spends its L steps, how the model is scored: ist/train/local_work.hpp).
// Specialized for ist::ResNet here; other families (Mlp, Gcn) specialize it too. The ModelFamily concept
// (ist/train/model_family.hpp) lists the members.
#include <cstdint>
#include <span>
#include <string>

#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/model/init.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/model/resnet.hpp"
#include "ist/train/image_batches.hpp"
#include "ist/train/model_family.hpp"

namespace ist {

template <class... Parts>
struct ModelTraits<ResNet<Parts...>> {
  using Model = ResNet<Parts...>;
  template <class Compute>
  using Network = ResNetNetwork<Model, float, Compute>;
  using Work = ImageBatches;
  static constexpr std::size_t num_params = Model::num_params;
  static constexpr std::size_t num_bn_stats = Model::num_bn_stats;
  static constexpr int num_classes = Model::num_classes;

  static ModelInfo info(std::string name = "resnet") { return model_info<Model>(std::move(name)); }
  static void init(std::span<float> params, std::uint64_t seed, InitScheme scheme = InitScheme::KaimingNormal) {
    init_params<Model>(params, seed, scheme);
  }
  static void init_stats(std::span<float> stats) { init_bn_stats<Model>(stats); }

  // A ResNet sub-network is a set of whole blocks: one contiguous slice per held block, in model order.
  static SliceSet slices(const SubnetSpec& spec) {
    SliceSet set;
    for (std::size_t b = 0; b < spec.active_blocks.size(); ++b) {
      if (!spec.active_blocks[b]) continue;
      TensorSlice s;
      s.offset = Model::blocks[b].param_offset;
      s.num_rows = 1;
      s.num_cols = int(Model::blocks[b].param_count);
      set.slices.push_back(std::move(s));
    }
    return set;
  }
  // The compact layout matching slices(spec).
  static ParamLayout layout(const SubnetSpec& spec) { return ParamLayout::compact<Model>(spec.active_blocks); }

  template <class Net>
  static void configure(Net& net, const SubnetSpec& spec, int batch, int height, int width) {
    net.configure(batch, height, width, spec.active_blocks);
  }
};

}  // namespace ist
