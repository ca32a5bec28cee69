#pragma once
// Fully connected networks (IST's model) described by compile-time layer lists.
//
//   using Net = ist::Mlp<ist::Input<784>,      // flattened 1x28x28 images
//                        ist::Dense<1024>,     // hidden: bias-free linear -> batch norm -> ReLU
//                        ist::Dense<1024>,
//                        ist::Dense<10>>;      // the last layer is the classifier: linear with bias
//
// IST's configuration (Yuan et al., "Distributed Learning of Fully Connected Neural Networks using
// Independent Subnet Training"): each hidden layer is a bias-free linear map followed by batch
// normalization from batch statistics (with a per-unit scale and shift) and ReLU; the classifier is a
// linear map with a bias. Train it with plain SGD (momentum 0).
//
// The hidden units of every hidden layer are what WidthwiseRandom splits; the input and the classes are
// never split. Layout of the flat buffer, one block per layer (see dense_chain.hpp):
//   layer l (hidden):  weight [U_l, U_{l-1}], norm.weight [U_l], norm.bias [U_l]
//   output:            weight [classes, U_last], bias [classes]
#include <array>
#include <cstddef>
#include <type_traits>

#include "ist/model/dense_chain.hpp"

namespace ist {

// A fully connected layer with `Units` outputs. In an Mlp, every Dense but the last is hidden.
template <int Units>
struct Dense {
  static constexpr int units = Units;
  static_assert(Units > 0, "ist::Dense: the number of units must be positive");
};

namespace detail {
template <class T>
struct is_dense : std::false_type {};
template <int U>
struct is_dense<Dense<U>> : std::true_type {};
}  // namespace detail

template <class InputT, class... Layers>
struct Mlp {
  static_assert(detail::is_input<InputT>::value, "ist::Mlp: the first part must be ist::Input<features>");
  static_assert(sizeof...(Layers) >= 1, "ist::Mlp: needs at least one ist::Dense (the classifier)");
  static_assert((detail::is_dense<Layers>::value && ...), "ist::Mlp: every part after Input must be an ist::Dense");

  static constexpr int num_layers = int(sizeof...(Layers));  // weight layers, classifier included
  static constexpr int num_hidden = num_layers - 1;          // width-decomposable layers
  static constexpr int num_blocks = num_layers;
  // widths[0] = input features, widths[1..num_hidden] = hidden units, widths[num_layers] = classes.
  static constexpr std::array<int, std::size_t(num_layers) + 1> widths{InputT::features, Layers::units...};
  static constexpr int in_features = InputT::features;
  static constexpr int num_classes = widths[std::size_t(num_layers)];
  static_assert(num_classes >= 2, "ist::Mlp: the last ist::Dense is the classifier and needs at least 2 classes");
  // Hidden layers: bias-free weight, batch norm scale and shift; the classifier has a bias.
  static constexpr ChainParts parts{.hidden_norm = true, .hidden_bias = false, .output_bias = true, .input_copies = 1};

 private:
  static constexpr auto layout_ = detail::make_chain_layout<std::size_t(num_layers), parts>(widths);

 public:
  static constexpr auto blocks = layout_.blocks;
  static constexpr auto tensors = layout_.tensors;
  static constexpr std::size_t num_params = layout_.num_params;
  static constexpr std::size_t num_bn_stats = 0;  // batch statistics only: no running statistics
};

template <class T>
struct is_mlp : std::false_type {};
template <class... P>
struct is_mlp<Mlp<P...>> : std::true_type {};

}  // namespace ist
