#pragma once
// What the ModelTraits of the width-decomposable chains (ist::Mlp, ist::Gcn, ist::Sage) share: a SubnetSpec's kept
// units become row and column slices of each layer's weight and a compact layout
// (ist/decompose/width_slices.hpp), and the network runs the compact sub-network at its kept widths.
// Each family adds its network, its initialization and its local work.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/decompose/width_slices.hpp"
#include "ist/model/dense_chain.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/param_layout.hpp"

namespace ist::detail {

// "ist::ModelTraits<name>::what", for messages.
inline std::string width_chain_where(const char* name, const char* what) {
  return std::string("ist::ModelTraits<") + name + ">::" + what;
}

// Name: the family's name for messages and the default ModelInfo name ("mlp", "gcn", "sage").
template <class Model, const char* Name>
struct WidthChainTraits {
  static constexpr std::size_t num_params = Model::num_params;
  static constexpr int num_classes = Model::num_classes;

  static ModelInfo info(std::string name = Name) { return chain_model_info<Model>(std::move(name)); }
  static SliceSet slices(const SubnetSpec& spec) { return chain_slices<Model>(spec, where("slices").c_str()); }
  static ParamLayout layout(const SubnetSpec& spec) { return chain_layout<Model>(spec, where("layout").c_str()); }
  // The network at the kept widths of `spec`, then configured for the family's data shape (images: batch,
  // height, width; graphs: the node count), as the family's local work calls it.
  template <class Net, class... Shape>
  static void configure(Net& net, const SubnetSpec& spec, Shape... shape) {
    net.set_widths(chain_kept_widths<Model>(spec, where("configure").c_str()));
    net.configure(shape...);
  }

 private:
  static std::string where(const char* what) { return width_chain_where(Name, what); }
};

inline constexpr char kMlpName[] = "mlp";
inline constexpr char kGcnName[] = "gcn";
inline constexpr char kSageName[] = "sage";

}  // namespace ist::detail
