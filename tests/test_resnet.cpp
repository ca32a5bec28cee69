// The compile-time ResNet description, ModelInfo, parameter layouts, and whole-network gradients.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <numeric>
#include <vector>

#include "grad_check.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/model/init.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/model/presets.hpp"

namespace test_resnet {

using namespace ist;

namespace {
using Tiny = ResNet<Stem<2, 4>, Stage<4, 4, 1, 1>, Stage<4, 6, 3, 2, Partitioned>, Head<6, 3>>;
// The same network with the ResIST reference code's head: pool and linear, no final batch norm.
using TinyNoFinalBn = ResNet<Stem<2, 4>, Stage<4, 4, 1, 1>, Stage<4, 6, 3, 2, Partitioned>, Head<6, 3, NoFinalBn>>;

// Parameters of the ResIST reference code's PreActResNet (ResIST_release's PreActResNet(PreActBlock, blocks)),
// counted from its definition and not from ist's layout: a 3x3 stem conv (no bias) from `in` to `stem`
// channels; per block: bn1 and bn2 (weight + bias each), conv1 3x3, conv2 3x3, and a 1x1 shortcut conv where
// the channels or the stride change (no conv bias anywhere); the linear classifier with its bias.
constexpr std::size_t reference_preact_params(int in, int stem, const std::array<int, 4>& blocks,
                                              const std::array<int, 4>& widths, int classes) {
  std::size_t n = std::size_t(9) * in * stem;
  int c = stem;
  for (std::size_t s = 0; s < 4; ++s)
    for (int k = 0; k < blocks[s]; ++k) {
      const std::size_t ci = std::size_t(c), co = std::size_t(widths[s]);
      const bool stride2 = k == 0 && s > 0;
      n += 2 * ci + 9 * co * ci + 2 * co + 9 * co * co + (stride2 || ci != co ? co * ci : 0);
      c = widths[s];
    }
  return n + std::size_t(c) * classes + std::size_t(classes);
}
}

TEST_CASE("resnet: compile-time layout") {
  static_assert(Tiny::num_blocks == 6);  // stem, 1 + 3 basic, head
  static_assert(Tiny::blocks[3].decomposable && Tiny::blocks[4].decomposable && !Tiny::blocks[2].decomposable);
  static_assert(Tiny::blocks[2].projection && !Tiny::blocks[1].projection);
  static_assert(Tiny::num_decomposable() == 2);
  // stem 4*2*9; block(4->4): 4+4+144+4+4+144; block(4->6, s2): 4+4+216+6+6+324+24; 2 x block(6->6): 6+6+324+6+6+324;
  // head 6+6+18+3
  constexpr std::size_t expect = 72 + 304 + 584 + 2 * 672 + 33;
  static_assert(Tiny::num_params == expect);
  // Tensors tile the buffer in order, and each block is one contiguous slice.
  std::size_t off = 0;
  for (const auto& t : Tiny::tensors) {
    CHECK(t.offset == off);
    off += t.size;
  }
  for (const auto& b : Tiny::blocks) {
    const auto& first = Tiny::tensors[std::size_t(b.first_tensor)];
    CHECK(first.offset == b.param_offset);
  }
  // The presets have the sizes of their namesakes.
  CHECK(PreActResNet20<1>::num_params == 271994);
  CHECK(PreActResNet20<1>::num_blocks == 11);
  CHECK(PreActResNet56<3>::num_blocks == 29);
  CHECK(PreActResNet110<3>::num_blocks == 56);
  CHECK(PreActResNet101Resist<>::num_decomposable() == 22);
  CHECK(PreActResNet26Fashion<>::num_params == 899962);
  CHECK(PreActResNet26Fashion<>::num_decomposable() == 8);
}

TEST_CASE("resnet: the head without a final batch norm (NoFinalBn)") {
  static_assert(Tiny::head_bn_relu && !TinyNoFinalBn::head_bn_relu);
  // Head<6, 3, NoFinalBn> holds only fc.weight and fc.bias: 6 + 6 fewer parameters, 2 x 6 fewer statistics.
  static_assert(TinyNoFinalBn::num_params == Tiny::num_params - 12);
  static_assert(TinyNoFinalBn::num_bn_stats == Tiny::num_bn_stats - 12);
  constexpr const BlockDesc& head = TinyNoFinalBn::blocks[5];
  static_assert(head.kind == BlockKind::Head && head.num_batch_norms == 0 && head.num_tensors == 2);
  CHECK(std::string(TinyNoFinalBn::tensors[std::size_t(head.first_tensor)].name) == "fc.weight");
  CHECK(TinyNoFinalBn::tensors[std::size_t(head.first_tensor)].role == TensorRole::LinearWeight);
  CHECK(model_info<TinyNoFinalBn>("tiny").tensors.back().name == "head.fc.bias");
}

TEST_CASE("resnet: the ResIST reference presets have the reference network's parameter count") {
  // PreActResNet101 of the ResIST paper (3x32x32, 10 classes): 41,350,730 parameters, as PyTorch counts
  // sum(p.numel() for p in PreActResNet101().parameters()) for the reference definition.
  constexpr std::size_t resnet101 = reference_preact_params(3, 64, {3, 4, 23, 3}, {64, 128, 256, 512}, 10);
  CHECK(PreActResNet101Resist<3, 10>::num_params == resnet101);
  CHECK(PreActResNet101Resist<3, 100>::num_params ==
        reference_preact_params(3, 64, {3, 4, 23, 3}, {64, 128, 256, 512}, 100));
  CHECK(PreActResNet101Resist<3, 10>::num_decomposable() == 22);
  // The CPU-sized network of the official protocol, for 1 and 3 input channels.
  CHECK(PreActResNet26Resist<1, 10>::num_params == reference_preact_params(1, 16, {1, 1, 9, 1}, {16, 32, 64, 128}, 10));
  CHECK(PreActResNet26Resist<3, 10>::num_params == reference_preact_params(3, 16, {1, 1, 9, 1}, {16, 32, 64, 128}, 10));
  // ist's own head adds one batch norm (weight and bias) to it.
  CHECK(PreActResNet26Fashion<1, 10>::num_params == PreActResNet26Resist<1, 10>::num_params + 2 * 128);
  MESSAGE("PreActResNet101Resist<3, 10>: " << resnet101 << " parameters");
}

TEST_CASE("resnet: ModelInfo names blocks and tensors") {
  const auto info = model_info<Tiny>("tiny");
  REQUIRE(info.blocks.size() == 6);
  CHECK(info.blocks[0].name == "stem");
  CHECK(info.blocks[3].name == "stage2.block2");
  CHECK(info.blocks[5].name == "head");
  CHECK(info.decomposable_blocks() == std::vector<int>{3, 4});
  CHECK(info.tensors[0].name == "stem.conv.weight");
  CHECK(info.tensors[0].shape == std::vector<int>{4, 2, 3, 3});
  CHECK(info.tensors.back().name == "head.fc.bias");
  CHECK(info.summary().find("2 decomposable") != std::string::npos);
}

TEST_CASE("resnet: compact layouts pack the active blocks") {
  const std::vector<std::uint8_t> active{1, 1, 1, 0, 1, 1};
  const auto L = ParamLayout::compact<Tiny>(active);
  CHECK(L.size() == Tiny::num_params - Tiny::blocks[3].param_count);
  CHECK_FALSE(L.has(3));
  CHECK(L.block_offset(4) == Tiny::blocks[3].param_offset);
  CHECK_THROWS_WITH_AS(ParamLayout::compact<Tiny>(std::vector<std::uint8_t>{1, 1}),
                       doctest::Contains("expected 6 block flags, found 2"), Error);
}

namespace {

// Loss = sum(logits .* probe) of a double-precision network, for finite differences.
template <class Net>
struct NetProbe {
  eigen::CpuContext ctx{2};
  ResNetNetwork<Net, double> net{ctx};
  std::vector<double> x, probe;
  ParamLayout layout;
  ForwardOptions<double> opt;
  int batch;

  NetProbe(int batch_, int hw, std::span<const std::uint8_t> active, ParamLayout L) : layout(std::move(L)), batch(batch_) {
    net.configure(batch, hw, hw, active);
    x = test::random_vector(std::size_t(batch) * Net::in_channels * hw * hw, 21);
    probe = test::random_vector(std::size_t(batch) * Net::num_classes, 22);
  }
  double loss(const std::vector<double>& params) {
    const double* logits = net.forward(params.data(), layout, x.data(), opt);
    return test::dot(std::vector<double>(logits, logits + probe.size()), probe);
  }
  std::vector<double> grad(const std::vector<double>& params) {
    loss(params);
    std::copy(probe.begin(), probe.end(), net.dlogits());
    std::vector<double> g(params.size(), 0.0);
    net.backward(params.data(), g.data(), layout);
    return g;
  }
};

// Checks up to `per_tensor` entries of every tensor of the active blocks.
template <class Net>
double network_grad_error(NetProbe<Net>& P, std::vector<double>& params, int per_tensor) {
  const auto g = P.grad(params);
  double diff = 0, norm = 0;
  for (const auto& t : Net::tensors) {
    if (!P.layout.has(t.block)) continue;
    const std::size_t base = P.layout.block_offset(t.block) + (t.offset - Net::blocks[std::size_t(t.block)].param_offset);
    const std::size_t step = std::max<std::size_t>(1, t.size / std::size_t(per_tensor));
    for (std::size_t i = 0; i < t.size; i += step) {
      double& p = params[base + i];
      const double keep = p, h = 1e-5;
      p = keep + h;
      const double up = P.loss(params);
      p = keep - h;
      const double down = P.loss(params);
      p = keep;
      const double numeric = (up - down) / (2 * h);
      diff += (g[base + i] - numeric) * (g[base + i] - numeric);
      norm += numeric * numeric;
    }
  }
  return std::sqrt(diff / norm);
}

// Initialized parameters with non-trivial batch-norm weights and biases, so that their gradients are
// exercised too.
template <class Net>
std::vector<double> params_with_perturbed_batch_norms(std::uint64_t init_seed, std::uint64_t noise_seed) {
  std::vector<double> params(Net::num_params);
  init_params<Net>(std::span<double>(params), init_seed);
  Rng rng(noise_seed);
  for (const auto& t : Net::tensors)
    if (t.role == TensorRole::BnWeight || t.role == TensorRole::BnBias)
      for (std::size_t i = 0; i < t.size; ++i) params[t.offset + i] += 0.3 * rng.normal();
  return params;
}

}  // namespace

TEST_CASE("resnet: InitScheme::TorchDefault draws convolutions as PyTorch does, the rest as KaimingNormal") {
  using Net = PreActResNet26Resist<1, 10>;
  std::vector<float> torch_like(Net::num_params), kaiming(Net::num_params);
  init_params<Net>(std::span<float>(torch_like), 3, InitScheme::TorchDefault);
  init_params<Net>(std::span<float>(kaiming), 3);
  for (const auto& t : Net::tensors) {
    CAPTURE(t.offset);
    const auto begin = torch_like.begin() + std::ptrdiff_t(t.offset);
    if (t.role != TensorRole::ConvWeight) {  // batch norms and the linear layer: the same in both schemes
      CHECK(std::equal(begin, begin + std::ptrdiff_t(t.size), kaiming.begin() + std::ptrdiff_t(t.offset)));
      continue;
    }
    // nn.Conv2d.reset_parameters: kaiming_uniform_(a = sqrt(5)), i.e. uniform in +-1/sqrt(fan_in).
    const double bound = 1.0 / std::sqrt(double(t.shape[1] * t.shape[2] * t.shape[3]));
    double sum2 = 0, largest = 0;
    for (std::size_t i = 0; i < t.size; ++i) {
      sum2 += double(begin[std::ptrdiff_t(i)]) * begin[std::ptrdiff_t(i)];
      largest = std::max(largest, std::abs(double(begin[std::ptrdiff_t(i)])));
    }
    CHECK(largest <= bound);
    if (t.size >= 1000) {  // the uniform distribution's std, bound / sqrt(3), within sampling error
      CHECK(std::sqrt(sum2 / double(t.size)) == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.05));
      CHECK(largest > 0.95 * bound);
    }
  }
}

TEST_CASE("resnet: whole PreAct ResNet-20 passes finite differences (double)") {
  using Net = PreActResNet20<1, 10>;
  std::vector<double> params = params_with_perturbed_batch_norms<Net>(7, 3);
  NetProbe<Net> P(3, 8, {}, ParamLayout::full<Net>());
  const double err = network_grad_error(P, params, 6);
  MESSAGE("PreAct ResNet-20 relative gradient error (double): " << err);
  CHECK(err < 1e-6);
}

TEST_CASE("resnet: sub-network gradients with inactive blocks and residual scaling (double)") {
  std::vector<double> params(Tiny::num_params);
  init_params<Tiny>(std::span<double>(params), 8);
  const std::vector<std::uint8_t> active{1, 1, 1, 0, 1, 1};
  NetProbe<Tiny> P(4, 6, active, ParamLayout::full<Tiny>());
  const std::vector<double> scale{1, 1, 1, 0.5, 0.5, 1};
  P.opt.residual_scale = scale;
  const double err = network_grad_error(P, params, 50);
  MESSAGE("sub-network relative gradient error (double): " << err);
  CHECK(err < 1e-6);
  // The inactive block's gradient stays untouched.
  const auto g = P.grad(params);
  for (std::size_t i = 0; i < Tiny::blocks[3].param_count; ++i) REQUIRE(g[Tiny::blocks[3].param_offset + i] == 0.0);
}

TEST_CASE("resnet: a network without a final batch norm passes finite differences (double)") {
  std::vector<double> params = params_with_perturbed_batch_norms<TinyNoFinalBn>(9, 4);
  NetProbe<TinyNoFinalBn> P(4, 6, {}, ParamLayout::full<TinyNoFinalBn>());
  const double err = network_grad_error(P, params, 50);
  MESSAGE("NoFinalBn relative gradient error (double): " << err);
  CHECK(err < 1e-6);
}

TEST_CASE("resnet: the NoFinalBn head classifies the average of the last block's output") {
  // Known values: logits = fc.weight * mean_hw(x) + fc.bias, x the last block's output, unnormalized. The
  // pooled features come from a twin network whose 6-class head is the identity.
  using Body = ResNet<Stem<2, 4>, Stage<4, 4, 1, 1>, Stage<4, 6, 3, 2, Partitioned>, Head<6, 6, NoFinalBn>>;
  static_assert(Body::num_blocks == TinyNoFinalBn::num_blocks);
  constexpr int batch = 3, hw = 6;
  std::vector<double> params(TinyNoFinalBn::num_params);
  init_params<TinyNoFinalBn>(std::span<double>(params), 11);
  // Body shares every tensor before the head; its head is the identity 6x6 matrix with zero bias, so its
  // logits are the pooled features themselves.
  std::vector<double> body(Body::num_params, 0.0);
  const std::size_t head_at = TinyNoFinalBn::blocks[5].param_offset;
  std::copy(params.begin(), params.begin() + std::ptrdiff_t(head_at), body.begin());
  for (int i = 0; i < 6; ++i) body[head_at + std::size_t(i) * 6 + std::size_t(i)] = 1.0;
  eigen::CpuContext ctx{1};
  const auto x = test::random_vector(std::size_t(batch) * 2 * hw * hw, 5);
  ResNetNetwork<Body, double> body_net(ctx);
  body_net.configure(batch, hw, hw);
  const double* pooled_ptr = body_net.forward(body.data(), ParamLayout::full<Body>(), x.data(), {});
  const std::vector<double> pooled(pooled_ptr, pooled_ptr + batch * 6);
  ResNetNetwork<TinyNoFinalBn, double> net(ctx);
  net.configure(batch, hw, hw);
  const double* logits = net.forward(params.data(), ParamLayout::full<TinyNoFinalBn>(), x.data(), {});
  const double* W = params.data() + head_at;
  const double* bias = W + 3 * 6;
  for (int n = 0; n < batch; ++n)
    for (int k = 0; k < 3; ++k) {
      double expect = bias[k];
      for (int c = 0; c < 6; ++c) expect += W[k * 6 + c] * pooled[std::size_t(n) * 6 + std::size_t(c)];
      CHECK(logits[n * 3 + k] == doctest::Approx(expect).epsilon(1e-12));
    }
}

TEST_CASE("resnet: an inactive block is the identity, and a compact buffer runs the same sub-network") {
  using Net = Tiny;
  eigen::CpuContext ctx(2);
  std::vector<float> params(Net::num_params);
  init_params<Net>(std::span<float>(params), 9);
  const int batch = 4, hw = 6;
  auto xd = test::random_vector(std::size_t(batch) * Net::in_channels * hw * hw, 10);
  std::vector<float> x(xd.begin(), xd.end());
  const std::vector<std::uint8_t> active{1, 1, 1, 0, 1, 1};

  // (a) full buffer, block 3 inactive
  ResNetNetwork<Net> a(ctx);
  a.configure(batch, hw, hw, active);
  const auto full = ParamLayout::full<Net>();
  std::vector<float> la(a.forward(params.data(), full, x.data()), a.forward(params.data(), full, x.data()) + batch * 3);

  // (b) all blocks active, block 3's conv2 zeroed: its branch is 0, so it passes x through unchanged
  auto zeroed = params;
  const auto& conv2 = Net::tensors[std::size_t(Net::blocks[3].first_tensor + 5)];
  std::fill(zeroed.begin() + long(conv2.offset), zeroed.begin() + long(conv2.offset + conv2.size), 0.f);
  ResNetNetwork<Net> b(ctx);
  b.configure(batch, hw, hw);
  const float* lb = b.forward(zeroed.data(), full, x.data());
  for (int i = 0; i < batch * 3; ++i) CHECK(la[std::size_t(i)] == lb[i]);

  // (c) a compact buffer holding only the active blocks: identical logits and gradients, bit for bit
  const auto compact = ParamLayout::compact<Net>(active);
  std::vector<float> packed(compact.size());
  for (int blk = 0; blk < Net::num_blocks; ++blk)
    if (compact.has(blk))
      std::memcpy(packed.data() + compact.block_offset(blk), params.data() + Net::blocks[std::size_t(blk)].param_offset,
                  Net::blocks[std::size_t(blk)].param_count * sizeof(float));
  ResNetNetwork<Net> c(ctx);
  c.configure(batch, hw, hw, active);
  const float* lc = c.forward(packed.data(), compact, x.data());
  for (int i = 0; i < batch * 3; ++i) CHECK(la[std::size_t(i)] == lc[i]);
  const std::int32_t labels[4] = {0, 1, 2, 1};
  eigen::softmax_cross_entropy(batch, 3, a.forward(params.data(), full, x.data()), labels, a.dlogits());
  eigen::softmax_cross_entropy(batch, 3, lc, labels, c.dlogits());
  std::vector<float> ga(Net::num_params, 0.f), gc(compact.size(), 0.f);
  a.backward(params.data(), ga.data(), full);
  c.backward(packed.data(), gc.data(), compact);
  for (int blk = 0; blk < Net::num_blocks; ++blk)
    if (compact.has(blk))
      for (std::size_t i = 0; i < Net::blocks[std::size_t(blk)].param_count; ++i)
        REQUIRE(ga[Net::blocks[std::size_t(blk)].param_offset + i] == gc[compact.block_offset(blk) + i]);

  // Misuse is reported clearly.
  ResNetNetwork<Net> d(ctx);
  CHECK_THROWS_WITH_AS(d.configure(batch, hw, hw, std::vector<std::uint8_t>{0, 1, 1, 1, 1, 1}),
                       doctest::Contains("block 0 is not decomposable"), Error);
  CHECK_THROWS_WITH_AS(c.forward(packed.data(), ParamLayout::compact<Net>(std::vector<std::uint8_t>{1, 1, 1, 0, 0, 1}),
                                 x.data()),
                       doctest::Contains("block 4 is active but the parameter layout does not hold it"), Error);
}

TEST_CASE("resnet: running statistics are updated in training and used in evaluation") {
  using Net = Tiny;
  eigen::CpuContext ctx(1);
  std::vector<float> params(Net::num_params), stats(Net::num_bn_stats);
  init_params<Net>(std::span<float>(params), 11);
  init_bn_stats<Net>(std::span<float>(stats));
  const int batch = 4, hw = 6;
  auto xd = test::random_vector(std::size_t(batch) * 2 * hw * hw, 12, 2.0);
  std::vector<float> x(xd.begin(), xd.end());
  ResNetNetwork<Net> net(ctx);
  net.configure(batch, hw, hw);
  const auto full = ParamLayout::full<Net>();
  ForwardOptions<float> train;
  train.running_stats = stats.data();
  train.running_momentum = 1.0f;  // running = this batch's statistics
  std::vector<float> lt(net.forward(params.data(), full, x.data(), train),
                        net.forward(params.data(), full, x.data(), train) + batch * 3);
  // Evaluating with running statistics equal to the batch's reproduces the batch-statistics logits up to
  // the biased/unbiased variance difference; check it is close, and that the buffer moved off its init.
  ForwardOptions<float> eval;
  eval.training = false;
  eval.bn = BnStatistics::Running;
  eval.running_stats = stats.data();
  const float* le = net.forward(params.data(), full, x.data(), eval);
  double diff = 0, norm = 0;
  for (int i = 0; i < batch * 3; ++i) {
    diff += (le[i] - lt[std::size_t(i)]) * (le[i] - lt[std::size_t(i)]);
    norm += lt[std::size_t(i)] * lt[std::size_t(i)];
  }
  CHECK(std::sqrt(diff / norm) < 0.1);
  CHECK(stats[0] != 0.0f);
  ForwardOptions<float> missing;
  missing.bn = BnStatistics::Running;
  CHECK_THROWS_WITH_AS(net.forward(params.data(), full, x.data(), missing),
                       doctest::Contains("needs a running_stats buffer"), Error);
}

}  // namespace test_resnet
