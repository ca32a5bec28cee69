#pragma once
// GraphSAGE with the mean aggregator, in the concatenating variant GIST and Cluster-GCN use, described by
// compile-time layer lists:
//
//   using Net = ist::Sage<ist::Input<1433>,     // node features (Cora)
//                         ist::SageConv<256>,   // hidden: [D ‖ M D] W^T + b [-> layer norm] -> ReLU
//                         ist::SageConv<7>>;    // the last layer is the classifier: [D ‖ M D] W^T + b
//
// Layer l computes Z = [D ‖ M D] W_l^T + b_l with D = dropout of its input H_{l-1} (the node features for
// l = 0; the dropout hits the concatenation, both halves with their own masks) and M = D^-1 A the
// mean-aggregation matrix (GraphDataset::mean_aggregation: the mean over each node's neighbours, no self
// loop). Hidden layers then apply, as an option, GIST's non-affine layer norm over the layer's units
// (GraphNorm), then ReLU. The classifier has neither. Weights and biases start uniform in
// ±1/sqrt(2 U_{l-1}), PyTorch's nn.Linear(2 U_{l-1}, U_l) (GIST's reference code: ISTSAGELayer).
//
// The hidden units of every hidden layer are what WidthwiseRandom splits; the input features and the
// classes are never split. Layout of the flat buffer, one block per layer (see dense_chain.hpp):
//   layer l (hidden):  weight [U_l, 2 U_{l-1}]  (columns: U_{l-1} for H, then U_{l-1} for M H), bias [U_l]
//   output:            weight [classes, 2 U_last], bias [classes]
// A sub-network keeps the rows of its units and, in both halves, the columns of its units of the layer
// below (width_slices.hpp); the classifier's bias is shared by every worker (averaged).
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/model/dense_chain.hpp"

namespace ist {

// A GraphSAGE layer (mean aggregator, [h ‖ mean of neighbours of h]) with `Units` outputs. In a Sage, every
// SageConv but the last is hidden.
template <int Units>
struct SageConv {
  static constexpr int units = Units;
  static_assert(Units > 0, "ist::SageConv: the number of units must be positive");
};

namespace detail {
template <class T>
struct is_sage_conv : std::false_type {};
template <int U>
struct is_sage_conv<SageConv<U>> : std::true_type {};
}  // namespace detail

template <class InputT, class... Layers>
struct Sage {
  static_assert(detail::is_input<InputT>::value, "ist::Sage: the first part must be ist::Input<features>");
  static_assert(sizeof...(Layers) >= 1, "ist::Sage: needs at least one ist::SageConv (the classifier)");
  static_assert((detail::is_sage_conv<Layers>::value && ...),
                "ist::Sage: every part after Input must be an ist::SageConv");

  static constexpr int num_layers = int(sizeof...(Layers));
  static constexpr int num_hidden = num_layers - 1;
  static constexpr int num_blocks = num_layers;
  static constexpr std::array<int, std::size_t(num_layers) + 1> widths{InputT::features, Layers::units...};
  static constexpr int in_features = InputT::features;
  static constexpr int num_classes = widths[std::size_t(num_layers)];
  static_assert(num_classes >= 2, "ist::Sage: the last ist::SageConv is the classifier and needs at least 2 classes");
  // Every layer: weight over [h ‖ mean of neighbours of h] and a bias.
  static constexpr ChainParts parts{.hidden_norm = false, .hidden_bias = true, .output_bias = true, .input_copies = 2};

 private:
  static constexpr auto layout_ = detail::make_chain_layout<std::size_t(num_layers), parts>(widths);

 public:
  static constexpr auto blocks = layout_.blocks;
  static constexpr auto tensors = layout_.tensors;
  static constexpr std::size_t num_params = layout_.num_params;
  static constexpr std::size_t num_bn_stats = 0;
};

template <class T>
struct is_sage : std::false_type {};
template <class... P>
struct is_sage<Sage<P...>> : std::true_type {};

// PyTorch's nn.Linear initialization, as GIST's ISTSAGELayer: every tensor of layer l (weight and bias)
// uniform in ±1/sqrt(2 U_{l-1}), the weight's fan-in. Each tensor draws from its own stream
// Rng(seed, {tensor index}).
template <class Model, class T>
void init_sage_params(std::span<T> params, std::uint64_t seed) {
  static_assert(is_sage<Model>::value, "ist::init_sage_params: Model must be an ist::Sage<...>");
  IST_CHECK(params.size() == Model::num_params, "ist::init_sage_params: expected a buffer of ", Model::num_params,
            " parameters, found ", params.size());
  for (std::size_t t = 0; t < Model::tensors.size(); ++t) {
    const TensorDesc& d = Model::tensors[t];
    const BlockDesc& b = Model::blocks[std::size_t(d.block)];
    Rng rng(seed, {std::uint64_t(t)});
    const double bound = 1.0 / std::sqrt(double(Model::parts.input_copies * b.in_channels));
    T* p = params.data() + d.offset;
    for (std::size_t i = 0; i < d.size; ++i) p[i] = T(bound * (2.0 * rng.uniform() - 1.0));
  }
}

}  // namespace ist
