#pragma once
// Graph convolutional networks (Kipf & Welling; GIST's model) described by compile-time layer lists.
//
//   using Net = ist::Gcn<ist::Input<1433>,      // node features (Cora)
//                        ist::GraphConv<256>,   // hidden: A_hat (H W^T) -> ReLU [-> layer norm]
//                        ist::GraphConv<7>>;    // the last layer is the classifier: A_hat (H W^T)
//
// Layer l computes Z = A_hat (D W_l^T) with D = dropout(H_{l-1}) (the input features for l = 0),
// A_hat = D^-1/2 (A + I) D^-1/2 the normalized adjacency. Hidden layers then apply ReLU and, as an
// option, GIST's non-affine layer norm (GraphNorm, ist/model/graph_norm.hpp). As in Kipf's
// reference code the layers have no bias. Weights are initialized Glorot-uniform.
//
// The hidden units of every hidden layer are what WidthwiseRandom splits; the input features and the
// classes are never split. Layout of the flat buffer, one block per layer (see dense_chain.hpp):
//   layer l (hidden):  weight [U_l, U_{l-1}]
//   output:            weight [classes, U_last]
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/model/dense_chain.hpp"
#include "ist/model/graph_norm.hpp"

namespace ist {

// A graph convolution with `Units` outputs. In a Gcn, every GraphConv but the last is hidden.
template <int Units>
struct GraphConv {
  static constexpr int units = Units;
  static_assert(Units > 0, "ist::GraphConv: the number of units must be positive");
};

namespace detail {
template <class T>
struct is_graph_conv : std::false_type {};
template <int U>
struct is_graph_conv<GraphConv<U>> : std::true_type {};
}  // namespace detail

template <class InputT, class... Layers>
struct Gcn {
  static_assert(detail::is_input<InputT>::value, "ist::Gcn: the first part must be ist::Input<features>");
  static_assert(sizeof...(Layers) >= 1, "ist::Gcn: needs at least one ist::GraphConv (the classifier)");
  static_assert((detail::is_graph_conv<Layers>::value && ...),
                "ist::Gcn: every part after Input must be an ist::GraphConv");

  static constexpr int num_layers = int(sizeof...(Layers));
  static constexpr int num_hidden = num_layers - 1;
  static constexpr int num_blocks = num_layers;
  static constexpr std::array<int, std::size_t(num_layers) + 1> widths{InputT::features, Layers::units...};
  static constexpr int in_features = InputT::features;
  static constexpr int num_classes = widths[std::size_t(num_layers)];
  static_assert(num_classes >= 2, "ist::Gcn: the last ist::GraphConv is the classifier and needs at least 2 classes");
  // Kipf & Welling's layers: weights only.
  static constexpr ChainParts parts{.hidden_norm = false, .hidden_bias = false, .output_bias = false, .input_copies = 1};

 private:
  static constexpr auto layout_ = detail::make_chain_layout<std::size_t(num_layers), parts>(widths);

 public:
  static constexpr auto blocks = layout_.blocks;
  static constexpr auto tensors = layout_.tensors;
  static constexpr std::size_t num_params = layout_.num_params;
  static constexpr std::size_t num_bn_stats = 0;
};

template <class T>
struct is_gcn : std::false_type {};
template <class... P>
struct is_gcn<Gcn<P...>> : std::true_type {};

// Glorot (Xavier) uniform initialization, as Kipf's reference code: W_l ~ U(-b, b) with
// b = sqrt(6 / (fan_in + fan_out)). Each tensor draws from its own stream Rng(seed, {tensor index}).
template <class Model, class T>
void init_gcn_params(std::span<T> params, std::uint64_t seed) {
  static_assert(is_gcn<Model>::value, "ist::init_gcn_params: Model must be an ist::Gcn<...>");
  IST_CHECK(params.size() == Model::num_params, "ist::init_gcn_params: expected a buffer of ", Model::num_params,
            " parameters, found ", params.size());
  for (std::size_t t = 0; t < Model::tensors.size(); ++t) {
    const TensorDesc& d = Model::tensors[t];
    Rng rng(seed, {std::uint64_t(t)});
    const double bound = std::sqrt(6.0 / double(d.shape[0] + d.shape[1]));
    T* p = params.data() + d.offset;
    for (std::size_t i = 0; i < d.size; ++i) p[i] = T(bound * (2.0 * rng.uniform() - 1.0));
  }
}

}  // namespace ist
