#pragma once
// The compile-time description every model family gives of itself (ResNet, Mlp, Gcn): its blocks (the
// units a layer-wise decomposer keeps or leaves out) and its parameter tensors (names, roles, offsets and
// shapes in the flat parameter buffer). ModelInfo (model_info.hpp) is the run-time copy of these tables.
#include <array>
#include <cstddef>

namespace ist {

enum class BlockKind { Stem, Basic, Head };
enum class TensorRole { ConvWeight, BnWeight, BnBias, LinearWeight, LinearBias };

// One parameter tensor. shape has `rank` meaningful entries (the rest are 1).
struct TensorDesc {
  const char* name = "";  // local name inside its block: "conv1.weight", "bn1.bias", ...
  TensorRole role{};
  int block = 0;
  std::size_t offset = 0;  // in the flat parameter buffer
  std::size_t size = 0;
  int rank = 1;
  std::array<int, 4> shape{1, 1, 1, 1};
};

struct BlockDesc {
  BlockKind kind{};
  int stage = -1;           // -1 for stem and head
  int index_in_stage = -1;  // 0-based
  int in_channels = 0, out_channels = 0, stride = 1;
  bool projection = false;    // 1x1 conv shortcut
  bool decomposable = false;  // may be left out of a sub-network
  int first_tensor = 0, num_tensors = 0;
  std::size_t param_offset = 0, param_count = 0;
  int num_batch_norms = 0;  // batch-norm layers in the block (stem: 0, basic: 2, head: 1)
  std::size_t bn_stats_offset = 0;  // into the running-statistics buffer ([mean c][var c] per norm)
};

}  // namespace ist
