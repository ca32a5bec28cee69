#pragma once
// Pre-activation ResNets described by compile-time block lists.
//
//   using Net = ist::ResNet<ist::Stem<1, 16>,                         // 3x3 conv, in -> 16 channels
//                           ist::Stage<16, 16, 3, 1>,                 // 3 basic blocks, stride 1
//                           ist::Stage<16, 32, 3, 2, ist::Partitioned>,  // ResIST cuts this stage
//                           ist::Stage<32, 64, 3, 2>,
//                           ist::Head<64, 10>>;                       // BN-ReLU-avgpool-linear
//
// The head has two forms: Head<C, K> (= Head<C, K, FinalBnRelu>) applies batch norm and ReLU before the
// average pool, as He et al.'s pre-activation ResNet does, so the last block's output is normalized before
// it is classified; Head<C, K, NoFinalBn> pools and classifies the last block's output as it is, as the
// ResIST reference code's PreActResNet does (docs/models.md says which preset follows which source).
//
// A basic block computes  out = scale * conv2(relu(bn2(conv1(a)))) + shortcut,  a = relu(bn1(x)),
// where shortcut = x, or a 1x1 strided conv of a when the block changes channels or resolution (as in
// the ResIST reference code). The first block of a stage carries the stage's stride. In a Partitioned
// stage every block but the first is *decomposable*: ResIST may leave it out of a sub-network, where it
// is the identity.
//
// All channel counts, tensor shapes and the layout of the flat parameter buffer are constexpr:
// Net::blocks[b] and Net::tensors[t] describe them, Net::num_params is the buffer's length. Each
// block's tensors are contiguous in the buffer, so a block is one slice [param_offset, +param_count).
#include <array>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "ist/model/model_desc.hpp"

namespace ist {

// Stage decompositions.
struct Shared {};       // every block is in every sub-network
struct Partitioned {};  // blocks after the first are dealt out to workers (ResIST)

template <int InChannels, int OutChannels>
struct Stem {
  static constexpr int in_channels = InChannels, out_channels = OutChannels;
  static_assert(InChannels > 0 && OutChannels > 0, "ist::Stem: channel counts must be positive");
};

template <int InChannels, int OutChannels, int Blocks, int Stride, class Decomposition = Shared>
struct Stage {
  static constexpr int in_channels = InChannels, out_channels = OutChannels, num_blocks = Blocks, stride = Stride;
  static constexpr bool partitioned = std::is_same_v<Decomposition, Partitioned>;
  static_assert(InChannels > 0 && OutChannels > 0, "ist::Stage: channel counts must be positive");
  static_assert(Blocks >= 1, "ist::Stage: a stage needs at least one block");
  static_assert(Stride == 1 || Stride == 2, "ist::Stage: stride must be 1 or 2");
  static_assert(std::is_same_v<Decomposition, Shared> || std::is_same_v<Decomposition, Partitioned>,
                "ist::Stage: the decomposition must be ist::Shared or ist::Partitioned");
};

// Head forms.
struct FinalBnRelu {};  // batch norm + ReLU, average pool, linear (tensors bn.weight, bn.bias, fc.weight, fc.bias)
struct NoFinalBn {};    // average pool, linear (tensors fc.weight, fc.bias)

template <int InChannels, int Classes, class Form = FinalBnRelu>
struct Head {
  static constexpr int in_channels = InChannels, classes = Classes;
  static constexpr bool bn_relu = std::is_same_v<Form, FinalBnRelu>;
  static_assert(InChannels > 0 && Classes >= 2, "ist::Head: needs channels > 0 and at least 2 classes");
  static_assert(std::is_same_v<Form, FinalBnRelu> || std::is_same_v<Form, NoFinalBn>,
                "ist::Head: the form must be ist::FinalBnRelu or ist::NoFinalBn");
};

namespace detail {

template <class T>
struct is_stem : std::false_type {};
template <int I, int O>
struct is_stem<Stem<I, O>> : std::true_type {};
template <class T>
struct is_stage : std::false_type {};
template <int I, int O, int B, int S, class D>
struct is_stage<Stage<I, O, B, S, D>> : std::true_type {};
template <class T>
struct is_head : std::false_type {};
template <int I, int C, class F>
struct is_head<Head<I, C, F>> : std::true_type {};

// A stage as plain values, for constexpr loops.
struct StageValues {
  int in_channels, out_channels, num_blocks, stride;
  bool partitioned;
};

template <class S>
constexpr StageValues stage_values() {
  return {S::in_channels, S::out_channels, S::num_blocks, S::stride, S::partitioned};
}

constexpr int conv_tensor_count(bool projection) { return projection ? 7 : 6; }

}  // namespace detail

template <class StemT, class... Rest>
struct ResNet {
  static_assert(detail::is_stem<StemT>::value, "ist::ResNet: the first part must be ist::Stem<in, out>");
  static_assert(sizeof...(Rest) >= 2, "ist::ResNet: needs at least one ist::Stage and a final ist::Head");

 private:
  using Parts = std::tuple<Rest...>;
  static constexpr std::size_t num_stages_ = sizeof...(Rest) - 1;
  using HeadT = std::tuple_element_t<num_stages_, Parts>;
  static_assert(detail::is_head<HeadT>::value, "ist::ResNet: the last part must be ist::Head<channels, classes>");

  template <std::size_t... I>
  static constexpr std::array<detail::StageValues, num_stages_> stages_of(std::index_sequence<I...>) {
    static_assert((detail::is_stage<std::tuple_element_t<I, Parts>>::value && ...),
                  "ist::ResNet: every part between Stem and Head must be an ist::Stage");
    return {detail::stage_values<std::tuple_element_t<I, Parts>>()...};
  }

 public:
  static constexpr std::array<detail::StageValues, num_stages_> stages =
      stages_of(std::make_index_sequence<num_stages_>{});
  static constexpr int num_stages = int(num_stages_);
  static constexpr int in_channels = StemT::in_channels;
  static constexpr int num_classes = HeadT::classes;
  static constexpr bool head_bn_relu = HeadT::bn_relu;  // Head<..., FinalBnRelu> (true) or NoFinalBn (false)

 private:
  static constexpr bool channels_chain() {
    int c = StemT::out_channels;
    for (const auto& s : stages) {
      if (s.in_channels != c) return false;
      c = s.out_channels;
    }
    return c == HeadT::in_channels;
  }
  static_assert(channels_chain(),
                "ist::ResNet: channel counts must chain: Stem out == first Stage in, each Stage out == next "
                "Stage in, last Stage out == Head in");

  static constexpr int count_blocks() {
    int n = 2;  // stem + head
    for (const auto& s : stages) n += s.num_blocks;
    return n;
  }

 public:
  static constexpr int num_blocks = count_blocks();  // stem, basic blocks, head

 private:
  static constexpr int count_tensors() {
    int n = 1 + (HeadT::bn_relu ? 4 : 2);  // stem conv; head [bn weight/bias,] fc weight/bias
    for (const auto& s : stages)
      for (int b = 0; b < s.num_blocks; ++b) {
        const bool proj = b == 0 && (s.in_channels != s.out_channels || s.stride != 1);
        n += detail::conv_tensor_count(proj);
      }
    return n;
  }

 public:
  static constexpr int num_tensors = count_tensors();

 private:
  struct Layout {
    std::array<BlockDesc, num_blocks> blocks{};
    std::array<TensorDesc, num_tensors> tensors{};
    std::size_t num_params = 0;
    std::size_t num_bn_stats = 0;
  };

  static constexpr Layout make_layout() {
    Layout L{};
    int t = 0;
    std::size_t off = 0, stats = 0;
    auto add = [&](int block, const char* name, TensorRole role, int rank, std::array<int, 4> shape) {
      TensorDesc d{};
      d.name = name;
      d.role = role;
      d.block = block;
      d.offset = off;
      d.rank = rank;
      d.shape = shape;
      d.size = std::size_t(shape[0]) * shape[1] * shape[2] * shape[3];
      off += d.size;
      L.tensors[t++] = d;
    };
    auto open_block = [&](int b, BlockDesc d) {
      d.first_tensor = t;
      d.param_offset = off;
      d.bn_stats_offset = stats;
      L.blocks[b] = d;
    };
    int b = 0;
    {  // stem
      BlockDesc d{};
      d.kind = BlockKind::Stem;
      d.in_channels = StemT::in_channels;
      d.out_channels = StemT::out_channels;
      open_block(b, d);
      add(b, "conv.weight", TensorRole::ConvWeight, 4, {StemT::out_channels, StemT::in_channels, 3, 3});
      L.blocks[b].num_tensors = t - L.blocks[b].first_tensor;
      L.blocks[b].param_count = off - L.blocks[b].param_offset;
      ++b;
    }
    for (int si = 0; si < num_stages; ++si) {
      const auto& s = stages[std::size_t(si)];
      for (int k = 0; k < s.num_blocks; ++k) {
        BlockDesc d{};
        d.kind = BlockKind::Basic;
        d.stage = si;
        d.index_in_stage = k;
        d.in_channels = k == 0 ? s.in_channels : s.out_channels;
        d.out_channels = s.out_channels;
        d.stride = k == 0 ? s.stride : 1;
        d.projection = d.in_channels != d.out_channels || d.stride != 1;
        d.decomposable = s.partitioned && k > 0;
        d.num_batch_norms = 2;
        open_block(b, d);
        const int ci = d.in_channels, co = d.out_channels;
        add(b, "bn1.weight", TensorRole::BnWeight, 1, {ci, 1, 1, 1});
        add(b, "bn1.bias", TensorRole::BnBias, 1, {ci, 1, 1, 1});
        add(b, "conv1.weight", TensorRole::ConvWeight, 4, {co, ci, 3, 3});
        add(b, "bn2.weight", TensorRole::BnWeight, 1, {co, 1, 1, 1});
        add(b, "bn2.bias", TensorRole::BnBias, 1, {co, 1, 1, 1});
        add(b, "conv2.weight", TensorRole::ConvWeight, 4, {co, co, 3, 3});
        if (d.projection) add(b, "shortcut.weight", TensorRole::ConvWeight, 4, {co, ci, 1, 1});
        L.blocks[b].num_tensors = t - L.blocks[b].first_tensor;
        L.blocks[b].param_count = off - L.blocks[b].param_offset;
        stats += std::size_t(2) * (ci + co);
        ++b;
      }
    }
    {  // head
      BlockDesc d{};
      d.kind = BlockKind::Head;
      d.in_channels = HeadT::in_channels;
      d.out_channels = HeadT::classes;
      d.num_batch_norms = HeadT::bn_relu ? 1 : 0;
      open_block(b, d);
      if (HeadT::bn_relu) {
        add(b, "bn.weight", TensorRole::BnWeight, 1, {HeadT::in_channels, 1, 1, 1});
        add(b, "bn.bias", TensorRole::BnBias, 1, {HeadT::in_channels, 1, 1, 1});
      }
      add(b, "fc.weight", TensorRole::LinearWeight, 2, {HeadT::classes, HeadT::in_channels, 1, 1});
      add(b, "fc.bias", TensorRole::LinearBias, 1, {HeadT::classes, 1, 1, 1});
      L.blocks[b].num_tensors = t - L.blocks[b].first_tensor;
      L.blocks[b].param_count = off - L.blocks[b].param_offset;
      if (HeadT::bn_relu) stats += std::size_t(2) * HeadT::in_channels;
    }
    L.num_params = off;
    L.num_bn_stats = stats;
    return L;
  }
  static constexpr Layout layout_ = make_layout();

 public:
  static constexpr std::array<BlockDesc, num_blocks> blocks = layout_.blocks;
  static constexpr std::array<TensorDesc, num_tensors> tensors = layout_.tensors;
  static constexpr std::size_t num_params = layout_.num_params;
  static constexpr std::size_t num_bn_stats = layout_.num_bn_stats;  // running mean+var buffer length

  static constexpr int num_decomposable() {
    int n = 0;
    for (const auto& b : blocks) n += b.decomposable;
    return n;
  }
  // Offset of tensor `local` (0-based within its block) of block `block`, relative to the block's start.
  static constexpr std::size_t tensor_offset_in_block(int block, int local) {
    const auto& b = blocks[std::size_t(block)];
    return tensors[std::size_t(b.first_tensor + local)].offset - b.param_offset;
  }
};

template <class T>
struct is_resnet : std::false_type {};
template <class... P>
struct is_resnet<ResNet<P...>> : std::true_type {};

}  // namespace ist
