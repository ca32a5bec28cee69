#pragma once
// A model's weights as a PyTorch state dict in a safetensors file: export, import, and the name mapping
// (docs/weights.md has the equivalent PyTorch modules).
//
//   ist::save_weights<Net>("model.safetensors", trainer.params());     // the global model
//   std::vector<float> params = ist::load_weights<Net>("model.safetensors");
//
//   # PyTorch
//   model.load_state_dict(safetensors.torch.load_file("model.safetensors"), strict=False)
//
// Names (state_dict_names<Model>(), one per tensor of the model's ModelInfo, in its order):
//   ist::ResNet (a PreActResNet module as in bench/compare_pytorch.py):
//     stem.conv.weight                    -> stem.weight
//     stageS.blockB.{bn1,conv1,bn2,conv2}.* -> blocks.I.{bn1,conv1,bn2,conv2}.*   I: the block's index among
//     stageS.blockB.shortcut.weight       -> blocks.I.proj.weight                 all basic blocks, from 0
//     head.bn.{weight,bias}               -> bn.{weight,bias}                     (Head<C, K, FinalBnRelu>)
//     head.fc.{weight,bias}               -> fc.{weight,bias}
//   ist::Mlp (an nn.Sequential of Linear(bias=False), BatchNorm1d, ReLU per hidden layer, then Linear):
//     layerL.weight                       -> 3(L-1).weight
//     layerL.norm.{weight,bias}           -> 3(L-1)+1.{weight,bias}
//     output.{weight,bias}                -> 3H.{weight,bias}                      H: the hidden layers
//   any other model (ist::Gcn, ist::Sage): ist's own names (layer1.weight, layer1.bias, ..., output.weight).
// Shapes are PyTorch's: conv [out, in, kh, kw], linear [out, in], norm [C]. Values are float32 ("F32").
//
// Batch norm keeps no running statistics in ist (training and evaluation use batch statistics), so the file
// has none: load it with strict=False (the missing keys are exactly the running_mean, running_var and
// num_batches_tracked buffers), and evaluate in train() mode or with BatchNorm(track_running_stats=False).
// load_weights ignores such buffers in a file written by PyTorch; every other name must be a tensor of the
// model, every tensor of the model must be there, with its shape and dtype F32.
//
// Metadata: {"format": "pt"} (what the Hugging Face tools expect of a PyTorch state dict), "ist.model" (the
// ModelInfo's name), and whatever the caller adds, e.g. "ist.evaluation_scale" (evaluation_scale_metadata).
#include <cstddef>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ist/core/error.hpp"
#include "ist/io/json.hpp"
#include "ist/io/safetensors.hpp"
#include "ist/model/dense_chain.hpp"
#include "ist/model/gcn.hpp"
#include "ist/model/mlp.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/resnet.hpp"
#include "ist/model/sage.hpp"

namespace ist {

// How a model's tensors are named in a state dict (see the top of this header).
enum class StateDictNaming {
  PreActResNet,  // ist::ResNet: stem, blocks.I, bn, fc
  Sequential,    // ist::Mlp: nn.Sequential indices
  Ist,           // ist's own tensor names
};

template <class Model>
constexpr StateDictNaming state_dict_naming() {
  if constexpr (is_resnet<Model>::value) return StateDictNaming::PreActResNet;
  else if constexpr (is_mlp<Model>::value) return StateDictNaming::Sequential;
  else return StateDictNaming::Ist;
}

// The ModelInfo of a ResNet, Mlp, Gcn or Sage, as the trainer builds it (ModelTraits<Model>::info()).
template <class Model>
ModelInfo weights_model_info() {
  if constexpr (is_resnet<Model>::value) return model_info<Model>("resnet");
  else if constexpr (is_mlp<Model>::value) return detail::chain_model_info<Model>("mlp");
  else if constexpr (is_gcn<Model>::value) return detail::chain_model_info<Model>("gcn");
  else if constexpr (is_sage<Model>::value) return detail::chain_model_info<Model>("sage");
  else static_assert(is_resnet<Model>::value, "ist::weights_model_info: Model must be an ist::ResNet, Mlp, Gcn or Sage");
}

// The state-dict name of every tensor of `info`, in its order.
inline std::vector<std::string> state_dict_names(const ModelInfo& info, StateDictNaming naming) {
  std::vector<std::string> names;
  const char* who = "ist::state_dict_names: ";
  auto local_name = [&](const TensorInfo& t) {  // "conv1.weight" of "stage2.block1.conv1.weight"
    const std::string& block = info.blocks.at(std::size_t(t.block)).name;
    IST_CHECK(t.name.size() > block.size() + 1 && t.name.compare(0, block.size(), block) == 0, who, "tensor ",
              t.name, " is not named after its block ", block);
    return t.name.substr(block.size() + 1);
  };
  int hidden = 0;  // Sequential: the hidden layers
  for (const BlockInfo& b : info.blocks) hidden += b.kind == BlockKind::Basic;
  for (const TensorInfo& t : info.tensors) {
    const BlockInfo& b = info.blocks.at(std::size_t(t.block));
    const std::string local = local_name(t);
    switch (naming) {
      case StateDictNaming::Ist:
        names.push_back(t.name);
        break;
      case StateDictNaming::PreActResNet:
        if (b.kind == BlockKind::Stem) {
          IST_CHECK(local == "conv.weight", who, "unexpected stem tensor ", t.name);
          names.push_back("stem.weight");
        } else if (b.kind == BlockKind::Basic) {
          // Blocks are numbered in model order and the stem is block 0: basic block I is block I + 1.
          names.push_back("blocks." + std::to_string(t.block - 1) + "." +
                          (local == "shortcut.weight" ? std::string("proj.weight") : local));
        } else {
          names.push_back(local);  // bn.weight, bn.bias, fc.weight, fc.bias
        }
        break;
      case StateDictNaming::Sequential: {
        const int index = b.kind == BlockKind::Head ? 3 * hidden : 3 * t.block;
        if (local.rfind("norm.", 0) == 0) names.push_back(std::to_string(index + 1) + "." + local.substr(5));
        else names.push_back(std::to_string(index) + "." + local);
        break;
      }
    }
  }
  return names;
}

template <class Model>
std::vector<std::string> state_dict_names() {
  return state_dict_names(weights_model_info<Model>(), state_dict_naming<Model>());
}

namespace detail {

inline std::vector<std::int64_t> torch_shape(const TensorInfo& t) { return {t.shape.begin(), t.shape.end()}; }

// The names of the batch-norm buffers PyTorch keeps for the norm whose weight is `weight_name`.
inline bool is_norm_buffer(const std::string& name, const std::set<std::string>& norm_weights) {
  for (const char* suffix : {".running_mean", ".running_var", ".num_batches_tracked"}) {
    const std::string_view s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0)
      return norm_weights.count(name.substr(0, name.size() - s.size()) + ".weight") != 0;
  }
  return false;
}

}  // namespace detail

// Writes `params` (the model's flat buffer, laid out as `info` says) as a safetensors state dict with the
// given names (state_dict_names), atomically. `metadata` is added to {"format": "pt", "ist.model": name}.
inline void save_state_dict(const std::string& path, const ModelInfo& info, const std::vector<std::string>& names,
                            std::span<const float> params, std::map<std::string, std::string> metadata = {}) {
  IST_CHECK(params.size() == info.num_params, "ist::save_weights: ", path, ": expected ", info.num_params,
            " parameters for model ", info.name, ", found ", params.size());
  IST_CHECK(names.size() == info.tensors.size(), "ist::save_weights: ", path, ": expected ", info.tensors.size(),
            " names, found ", names.size());
  std::vector<SafetensorsTensorView> tensors;
  for (std::size_t i = 0; i < info.tensors.size(); ++i) {
    const TensorInfo& t = info.tensors[i];
    tensors.push_back({names[i], detail::torch_shape(t), params.subspan(t.offset, t.size)});
  }
  metadata.emplace("format", "pt");
  metadata.emplace("ist.model", info.name);
  write_safetensors(path, tensors, metadata);
}

// Reads a safetensors state dict into the flat buffer of `info`: every tensor of the model must be in the
// file under its name (names[i] for info.tensors[i]) with its shape and dtype F32; the file must hold no
// other tensor but PyTorch's batch-norm buffers of the model's norms (running_mean, running_var,
// num_batches_tracked), which are ignored. Errors name the file and the tensor.
inline std::vector<float> load_state_dict(const std::string& path, const ModelInfo& info,
                                          const std::vector<std::string>& names) {
  const char* who = "ist::load_weights: ";
  IST_CHECK(names.size() == info.tensors.size(), who, path, ": expected ", info.tensors.size(), " names, found ",
            names.size());
  const SafetensorsFile file = read_safetensors(path);
  std::set<std::string> expected(names.begin(), names.end()), norm_weights;
  for (std::size_t i = 0; i < info.tensors.size(); ++i)
    if (info.tensors[i].role == TensorRole::BnWeight) norm_weights.insert(names[i]);
  for (const std::string& name : file.names())
    IST_CHECK(expected.count(name) != 0 || detail::is_norm_buffer(name, norm_weights), who, path,
              ": the file has a tensor \"", name, "\" that model ", info.name, " does not have (",
              info.tensors.size(), " tensors, e.g. \"", names.front(), "\"); is it a state dict of another model?");
  std::vector<float> params(info.num_params);
  for (std::size_t i = 0; i < info.tensors.size(); ++i) {
    const TensorInfo& t = info.tensors[i];
    IST_CHECK(file.contains(names[i]), who, path, ": tensor \"", names[i], "\" of model ", info.name,
              " (ist: ", t.name, ") is missing");
    const SafetensorsEntry& e = file.entry(names[i]);
    const std::vector<std::int64_t> shape = detail::torch_shape(t);
    IST_CHECK(e.shape == shape, who, path, ": tensor \"", names[i], "\": expected shape ", detail::shape_text(shape),
              ", found ", detail::shape_text(e.shape));
    const std::vector<float> values = file.floats(names[i]);  // checks the dtype
    std::copy(values.begin(), values.end(), params.begin() + std::ptrdiff_t(t.offset));
  }
  return params;
}

// save_state_dict / load_state_dict for an ist::ResNet, Mlp or Gcn, with the names of the top of this header.
template <class Model>
void save_weights(const std::string& path, std::span<const float> params,
                  std::map<std::string, std::string> metadata = {}) {
  const ModelInfo info = weights_model_info<Model>();
  save_state_dict(path, info, state_dict_names(info, state_dict_naming<Model>()), params, std::move(metadata));
}

template <class Model>
std::vector<float> load_weights(const std::string& path) {
  const ModelInfo info = weights_model_info<Model>();
  return load_state_dict(path, info, state_dict_names(info, state_dict_naming<Model>()));
}

namespace detail {

// evaluation_scale_metadata's work, for the model whose ModelInfo is `info` and state-dict names `names`.
inline std::string evaluation_scale_json(const ModelInfo& info, const std::vector<std::string>& names, bool resnet,
                                         std::span<const double> block_scale) {
  IST_CHECK(block_scale.size() == info.blocks.size(), "ist::evaluation_scale_metadata: expected ", info.blocks.size(),
            " scales (one per block), found ", block_scale.size());
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (std::size_t b = 0; b < info.blocks.size(); ++b) {
    if (block_scale[b] == 1.0) continue;
    // The tensor the scale multiplies: a ResNet basic block's conv2 (its residual branch's last op); a
    // chain layer's weight. ResNet stems and heads are never scaled.
    const BlockInfo& block = info.blocks[b];
    IST_CHECK(!resnet || block.kind == BlockKind::Basic, "ist::evaluation_scale_metadata: block ", block.name,
              " has scale ", block_scale[b], ", but only basic blocks have a residual branch to scale");
    const std::string scaled = block.name + (resnet ? ".conv2.weight" : ".weight");
    for (int t = block.first_tensor; t < block.first_tensor + block.num_tensors; ++t)
      if (info.tensors[std::size_t(t)].name == scaled) j[names[std::size_t(t)]] = block_scale[b];
  }
  return json_text(j);
}

}  // namespace detail

// The metadata entry "ist.evaluation_scale": how ist evaluates the global model, given one scale per block
// (a decomposer's evaluation_scale(info, S)): a JSON object mapping the weight to multiply by each scale
// that is not 1, e.g. {"blocks.5.conv2.weight": 0.25} (ResNet: the residual branch ends in conv2) or
// {"3.weight": 0.25} (Mlp: layer l computes s * (x W^T)). Multiplying those weights gives PyTorch ist's
// evaluation; the weights in the file are the global model's, unscaled.
template <class Model>
std::string evaluation_scale_metadata(std::span<const double> block_scale) {
  const ModelInfo info = weights_model_info<Model>();
  return detail::evaluation_scale_json(info, state_dict_names(info, state_dict_naming<Model>()),
                                       is_resnet<Model>::value, block_scale);
}

}  // namespace ist
