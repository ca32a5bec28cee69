#pragma once
// ModelInfo: the run-time description of a model: its blocks (which are decomposable), its parameter
// tensors with names, offsets and shapes. Built from the compile-time description by model_info<Net>().
#include <array>
#include <cstddef>
#include <sstream>
#include <span>
#include <string>
#include <vector>

#include "ist/model/resnet.hpp"

namespace ist {

struct TensorInfo {
  std::string name;  // "stage3.block2.conv1.weight"
  TensorRole role{};
  int block = 0;
  std::size_t offset = 0, size = 0;
  std::vector<int> shape;
};

struct BlockInfo {
  std::string name;  // "stem", "stage3.block2", "head"
  BlockKind kind{};
  int stage = -1, index_in_stage = -1;
  int in_channels = 0, out_channels = 0, stride = 1;
  bool projection = false, decomposable = false;
  int first_tensor = 0, num_tensors = 0;
  std::size_t param_offset = 0, param_count = 0;
};

// A layer whose hidden units a width-wise decomposer may split (IST / GIST). ResNets have none.
struct WidthLayerInfo {
  std::string name;  // "hidden1"
  int units = 0;
  int input_of = -1;  // the block that takes these units as its input (-1: none or unknown)
  int output_of = -1;  // the block whose output these units are (-1: unknown)
};

struct ModelInfo {
  std::string name;
  int in_channels = 0, num_classes = 0;  // in_channels 0: not an image model (any channel count)
  int in_features = 0;                   // > 0: a flat-input model (Mlp, Gcn) taking this many values per sample
  std::size_t num_params = 0;
  std::size_t num_bn_stats = 0;
  std::vector<BlockInfo> blocks;
  std::vector<TensorInfo> tensors;
  std::vector<WidthLayerInfo> width_layers;

  std::vector<int> decomposable_blocks() const {
    std::vector<int> out;
    for (int b = 0; b < int(blocks.size()); ++b)
      if (blocks[std::size_t(b)].decomposable) out.push_back(b);
    return out;
  }
  std::size_t decomposable_params() const {
    std::size_t n = 0;
    for (const auto& b : blocks)
      if (b.decomposable) n += b.param_count;
    return n;
  }
  // A header line (for a width-wise model its hidden layers and units, else its layer-wise decomposable blocks),
  // then one line per block: name, channels, stride, parameters, decomposable.
  std::string summary() const {
    std::ostringstream os;
    os << name << ": " << num_params << " parameters in " << blocks.size() << " blocks, ";
    if (!width_layers.empty()) {
      os << width_layers.size() << " hidden layer" << (width_layers.size() == 1 ? "" : "s") << " split width-wise (";
      for (std::size_t l = 0; l < width_layers.size(); ++l)
        os << (l ? ", " : "") << width_layers[l].name << ": " << width_layers[l].units << " units";
      os << ")\n";
    } else {
      os << decomposable_blocks().size() << " decomposable (" << decomposable_params() << " parameters)\n";
    }
    for (const auto& b : blocks)
      os << "  " << b.name << "  " << b.in_channels << "->" << b.out_channels << "  stride " << b.stride << "  "
         << b.param_count << " params" << (b.projection ? "  projection" : "")
         << (b.decomposable ? "  decomposable" : "") << "\n";
    return os.str();
  }
};

// Appends one TensorInfo per compile-time tensor, named "<block name>.<local name>"; info.blocks must
// already hold the blocks the tensors refer to.
inline void append_tensor_infos(ModelInfo& info, std::span<const TensorDesc> tensors) {
  for (const TensorDesc& d : tensors) {
    TensorInfo t;
    t.name = info.blocks[std::size_t(d.block)].name + "." + d.name;
    t.role = d.role;
    t.block = d.block;
    t.offset = d.offset;
    t.size = d.size;
    t.shape.assign(d.shape.begin(), d.shape.begin() + d.rank);
    info.tensors.push_back(std::move(t));
  }
}
template <std::size_t N>
void append_tensor_infos(ModelInfo& info, const std::array<TensorDesc, N>& tensors) {
  append_tensor_infos(info, std::span<const TensorDesc>(tensors));
}

template <class Model>
ModelInfo model_info(std::string name = "resnet") {
  static_assert(is_resnet<Model>::value, "ist::model_info: Model must be an ist::ResNet<...>");
  ModelInfo info;
  info.name = std::move(name);
  info.in_channels = Model::in_channels;
  info.num_classes = Model::num_classes;
  info.num_params = Model::num_params;
  info.num_bn_stats = Model::num_bn_stats;
  for (const BlockDesc& d : Model::blocks) {
    BlockInfo b;
    switch (d.kind) {
      case BlockKind::Stem: b.name = "stem"; break;
      case BlockKind::Head: b.name = "head"; break;
      case BlockKind::Basic:
        b.name = "stage" + std::to_string(d.stage + 1) + ".block" + std::to_string(d.index_in_stage + 1);
        break;
    }
    b.kind = d.kind;
    b.stage = d.stage;
    b.index_in_stage = d.index_in_stage;
    b.in_channels = d.in_channels;
    b.out_channels = d.out_channels;
    b.stride = d.stride;
    b.projection = d.projection;
    b.decomposable = d.decomposable;
    b.first_tensor = d.first_tensor;
    b.num_tensors = d.num_tensors;
    b.param_offset = d.param_offset;
    b.param_count = d.param_count;
    info.blocks.push_back(std::move(b));
  }
  append_tensor_infos(info, Model::tensors);
  return info;
}

}  // namespace ist
