#pragma once
// What fully connected model families (ist::Mlp, ist::Gcn, ist::Sage) share: the input part, and the
// constexpr layout of a chain of weight layers.
//
// A chain has L weight layers over widths w[0..L]: layer l maps w[l] -> w[l+1] features. Layers 0..L-2
// are hidden (their w[l+1] units are what a width-wise decomposer splits); layer L-1 is the classifier
// (w[L] = classes, never split). Every layer is one block, its tensors contiguous in the flat buffer, in
// this order (ChainParts says which are present; c = ChainParts::input_copies):
//   hidden layer:  weight [w[l+1], c * w[l]]   (row u holds unit u's input weights)
//                  with hidden_bias: bias [w[l+1]]
//                  with hidden_norm: norm weight [w[l+1]], norm bias [w[l+1]]
//   classifier:    weight [classes, c * w[L-1]]
//                  with output_bias: bias [classes]
// Weights are stored [out, in], row-major, as ist::eigen::linear_forward takes them. With c = 2 (GraphSAGE's
// [h ‖ mean of neighbours of h]) a weight's columns are the input's w[l] features twice: columns [0, w[l])
// take h, columns [w[l], 2 w[l]) the neighbours' mean; input unit j owns columns j and j + w[l].
#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/model_desc.hpp"

namespace ist {

// The input of a fully connected model: `Features` values per sample (an image's c*h*w) or per node.
template <int Features>
struct Input {
  static constexpr int features = Features;
  static_assert(Features > 0, "ist::Input: the number of input features must be positive");
};

namespace detail {

template <class T>
struct is_input : std::false_type {};
template <int F>
struct is_input<Input<F>> : std::true_type {};

}  // namespace detail

// Which tensors the layers of a chain have, and how many times each layer takes its input.
struct ChainParts {
  bool hidden_norm = false;  // hidden layers: a per-unit norm scale and shift (IST's batch norm)
  bool hidden_bias = false;  // hidden layers: a bias per unit
  bool output_bias = false;  // the classifier: a bias per class
  int input_copies = 1;      // 2: every weight takes [h ‖ mean of neighbours of h] (GraphSAGE)
};

namespace detail {

constexpr std::size_t chain_tensor_count(std::size_t layers, ChainParts p) {
  return (layers - 1) * (1 + (p.hidden_bias ? 1 : 0) + (p.hidden_norm ? 2 : 0)) + (p.output_bias ? 2 : 1);
}

template <std::size_t L, std::size_t NT>
struct ChainLayout {
  std::array<BlockDesc, L> blocks{};
  std::array<TensorDesc, NT> tensors{};
  std::size_t num_params = 0;
};

// The layout of a chain over `widths` (L + 1 values). Hidden layers are BlockKind::Basic blocks, the
// classifier a BlockKind::Head block; a block's in_channels / out_channels are its fan-in / fan-out.
template <std::size_t L, ChainParts Parts>
constexpr ChainLayout<L, chain_tensor_count(L, Parts)> make_chain_layout(const std::array<int, L + 1>& widths) {
  static_assert(Parts.input_copies == 1 || Parts.input_copies == 2,
                "ist::detail::make_chain_layout: input_copies must be 1 or 2");
  ChainLayout<L, chain_tensor_count(L, Parts)> c{};
  std::size_t off = 0;
  int t = 0;
  auto add = [&](int block, const char* name, TensorRole role, int rows, int cols) {
    TensorDesc d{};
    d.name = name;
    d.role = role;
    d.block = block;
    d.offset = off;
    d.rank = cols > 1 || role == TensorRole::LinearWeight ? 2 : 1;
    d.shape = {rows, d.rank == 2 ? cols : 1, 1, 1};
    d.size = std::size_t(rows) * std::size_t(cols);
    off += d.size;
    c.tensors[std::size_t(t++)] = d;
  };
  for (std::size_t l = 0; l < L; ++l) {
    const bool hidden = l + 1 < L;
    BlockDesc b{};
    b.kind = hidden ? BlockKind::Basic : BlockKind::Head;
    b.index_in_stage = int(l);
    b.in_channels = widths[l];
    b.out_channels = widths[l + 1];
    b.first_tensor = t;
    b.param_offset = off;
    const int out = widths[l + 1], in = widths[l];
    add(int(l), "weight", TensorRole::LinearWeight, out, Parts.input_copies * in);
    if (hidden && Parts.hidden_bias) add(int(l), "bias", TensorRole::LinearBias, out, 1);
    if (hidden && Parts.hidden_norm) {
      add(int(l), "norm.weight", TensorRole::BnWeight, out, 1);
      add(int(l), "norm.bias", TensorRole::BnBias, out, 1);
    }
    if (!hidden && Parts.output_bias) add(int(l), "bias", TensorRole::LinearBias, out, 1);
    b.num_tensors = t - b.first_tensor;
    b.param_count = off - b.param_offset;
    c.blocks[l] = b;
  }
  c.num_params = off;
  return c;
}

// Block name of layer l in a chain of L layers: "layer1", "layer2", ..., "output".
inline std::string chain_block_name(std::size_t l, std::size_t layers) {
  return l + 1 == layers ? std::string("output") : "layer" + std::to_string(l + 1);
}

// The sizes of a chain Model (Mlp, Gcn, Sage) as values. MlpNetwork, GcnNetwork and SageNetwork take them at run
// time, so their code compiles once per value type, not once per model (gist-gcn alone has a hundred models).
struct ChainShape {
  int in_features = 0;
  int num_classes = 0;
  int num_hidden = 0;
  int num_layers = 0;
  int num_blocks = 0;
};
template <class Model>
constexpr ChainShape chain_shape() {
  return {Model::in_features, Model::num_classes, Model::num_hidden, Model::num_layers, Model::num_blocks};
}

// A chain Model's compile-time description as values, for the helpers here and in
// ist/decompose/width_slices.hpp, which then compile once rather than once per model.
struct ChainDesc {
  ChainShape shape;
  std::size_t num_params = 0;
  int input_copies = 1;
  std::span<const int> widths;          // num_layers + 1 values: the input, each hidden layer's units, the classes
  std::span<const BlockDesc> blocks;    // one per layer
  std::span<const TensorDesc> tensors;  // in block order
};
template <class Model>
ChainDesc chain_desc() {
  return {chain_shape<Model>(), Model::num_params, Model::parts.input_copies, Model::widths, Model::blocks,
          Model::tensors};
}

// ModelInfo of a chain model: one block per layer (none decomposable), its tensors, and one width layer
// per hidden layer ("layer1", ...).
inline ModelInfo chain_model_info(const ChainDesc& c, std::string name) {
  ModelInfo info;
  info.name = std::move(name);
  info.in_channels = 0;  // not an image model: any c x h x w with c*h*w == in_features
  info.in_features = c.shape.in_features;
  info.num_classes = c.shape.num_classes;
  info.num_params = c.num_params;
  info.num_bn_stats = 0;
  const std::size_t L = c.blocks.size();
  for (std::size_t l = 0; l < L; ++l) {
    const BlockDesc& d = c.blocks[l];
    BlockInfo b;
    b.name = chain_block_name(l, L);
    b.kind = d.kind;
    b.index_in_stage = d.index_in_stage;
    b.in_channels = d.in_channels;
    b.out_channels = d.out_channels;
    b.first_tensor = d.first_tensor;
    b.num_tensors = d.num_tensors;
    b.param_offset = d.param_offset;
    b.param_count = d.param_count;
    info.blocks.push_back(std::move(b));
    if (l + 1 < L)
      info.width_layers.push_back(WidthLayerInfo{chain_block_name(l, L), d.out_channels, int(l) + 1, int(l)});
  }
  ist::append_tensor_infos(info, c.tensors);
  return info;
}
template <class Model>
ModelInfo chain_model_info(std::string name) {
  return chain_model_info(chain_desc<Model>(), std::move(name));
}

// The width of each hidden layer of a chain Model (Mlp, Gcn) that a network runs at: `kept` (num_hidden
// values, 1 <= k_l <= U_l), or every layer at full width when `kept` is empty. `who` names the caller in errors.
inline std::vector<int> hidden_widths(const ChainDesc& c, std::span<const int> kept, const char* who) {
  const int hidden = c.shape.num_hidden;
  IST_CHECK(kept.empty() || kept.size() == std::size_t(hidden), who, ": expected ", hidden,
            " widths (one per hidden layer), found ", kept.size());
  std::vector<int> widths(static_cast<std::size_t>(hidden));
  for (int l = 0; l < hidden; ++l) {
    const int full = c.widths[std::size_t(l) + 1];
    const int k = kept.empty() ? full : kept[std::size_t(l)];
    IST_CHECK(k >= 1 && k <= full, who, ": hidden layer ", l + 1, ": expected a width in [1, ", full, "], found ", k);
    widths[std::size_t(l)] = k;
  }
  return widths;
}
template <class Model>
std::vector<int> hidden_widths(std::span<const int> kept, const char* who) {
  return hidden_widths(chain_desc<Model>(), kept, who);
}

}  // namespace detail
}  // namespace ist
