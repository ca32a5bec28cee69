// ist::Mlp (IST's model): compile-time layout, batch norm over features, finite-difference gradient checks of
// the whole network and of width-wise sub-networks (double), and a compact sub-network computing exactly what
// the full network computes with the other units cut off.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "grad_check.hpp"
#include "ist/backend/eigen/batch_norm_1d.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/mlp_traits.hpp"

namespace test_mlp {

using namespace ist;
using ist::test::dot;
using ist::test::max_rel_error;
using ist::test::random_vector;

namespace {
using Fashion = Mlp<Input<784>, Dense<1024>, Dense<1024>, Dense<10>>;
using Small = Mlp<Input<6>, Dense<5>, Dense<4>, Dense<3>>;

static_assert(Fashion::num_layers == 3 && Fashion::num_hidden == 2 && Fashion::num_classes == 10);
static_assert(Fashion::num_params == 784 * 1024 + 2 * 1024 + 1024 * 1024 + 2 * 1024 + 10 * 1024 + 10);
static_assert(Small::blocks[1].param_offset == 6 * 5 + 2 * 5);
static_assert(Small::tensors[3].offset == Small::blocks[1].param_offset);  // layer2.weight

// L = sum(logits .* probe) for the network under `layout`, `widths`; grads by backward().
template <class Net>
struct MlpProbe {
  eigen::CpuContext ctx{1};
  MlpNetwork<Net, double> net{ctx};
  ParamLayout layout;
  std::vector<double> x, probe;
  ForwardOptions<double> opt;
  int batch;
  MlpProbe(int b, const SubnetSpec& spec) : layout(ModelTraits<Net>::layout(spec)), batch(b) {
    net.set_widths(detail::chain_kept_widths<Net>(spec, "test"));
    net.configure(b);
    x = random_vector(std::size_t(b) * Net::in_features, 11);
    probe = random_vector(std::size_t(b) * Net::num_classes, 12);
  }
  double loss(const std::vector<double>& p) {
    const double* y = net.forward(p.data(), layout, x.data(), opt);
    return dot(std::vector<double>(y, y + probe.size()), probe);
  }
  std::vector<double> grad(const std::vector<double>& p) {
    loss(p);
    std::copy(probe.begin(), probe.end(), net.dlogits());
    std::vector<double> g(p.size(), 0.0);
    net.backward(p.data(), g.data(), layout);
    return g;
  }
};

std::vector<double> small_params(std::uint64_t seed) {
  std::vector<double> p(Small::num_params);
  init_params<Small>(std::span<double>(p), seed);
  Rng rng(seed + 1);  // non-trivial norm scale and shift, so their gradients are exercised
  for (const auto& t : Small::tensors)
    if (t.role == TensorRole::BnWeight || t.role == TensorRole::BnBias)
      for (std::size_t i = 0; i < t.size; ++i) p[t.offset + i] += 0.3 * rng.normal();
  return p;
}
}  // namespace

TEST_CASE("mlp: ModelInfo names layers, tensors and width layers") {
  const ModelInfo info = ModelTraits<Small>::info();
  CHECK(info.num_params == Small::num_params);
  CHECK(info.in_features == 6);
  CHECK(info.in_channels == 0);
  REQUIRE(info.blocks.size() == 3);
  CHECK(info.blocks[0].name == "layer1");
  CHECK(info.blocks[2].name == "output");
  REQUIRE(info.width_layers.size() == 2);
  CHECK(info.width_layers[0].name == "layer1");
  CHECK(info.width_layers[0].units == 5);
  CHECK(info.width_layers[1].units == 4);
  REQUIRE(info.tensors.size() == 8);
  CHECK(info.tensors[0].name == "layer1.weight");
  CHECK(info.tensors[0].shape == std::vector<int>{5, 6});
  CHECK(info.tensors[1].name == "layer1.norm.weight");
  CHECK(info.tensors[6].name == "output.weight");
  CHECK(info.tensors[7].name == "output.bias");
  CHECK(info.tensors[7].shape == std::vector<int>{3});
  // The summary's header names the width-wise layers (not "0 decomposable", the layer-wise count).
  const std::string head = info.summary().substr(0, info.summary().find('\n'));
  CHECK(head.find("2 hidden layers split width-wise (layer1: 5 units, layer2: 4 units)") != std::string::npos);
  CHECK(head.find("decomposable") == std::string::npos);
}

TEST_CASE("mlp: batch norm over features: known values and finite differences (double)") {
  eigen::CpuContext ctx(1);
  {  // two samples, two features: x = [[1, 10], [3, 30]] -> xhat = [[-1, -1], [1, 1]] (eps 0)
    const std::vector<double> x{1, 10, 3, 30}, gamma{2, 1}, beta{0.5, -1};
    std::vector<double> y(4), mean(2), invstd(2);
    eigen::batch_norm_1d_forward_train(ctx, 2, 2, x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                       invstd.data(), false, 0.0);
    CHECK(mean == std::vector<double>{2, 20});
    CHECK(y[0] == doctest::Approx(-1.5));
    CHECK(y[1] == doctest::Approx(-2));
    CHECK(y[2] == doctest::Approx(2.5));
    CHECK(y[3] == doctest::Approx(0));
  }
  for (bool relu : {false, true}) {
    for (int threads : {1, 2}) {
      eigen::CpuContext tctx(threads);
      const int n = 7, c = 37;  // 37 features: uneven thread blocks
      auto x = random_vector(std::size_t(n) * c, 1), gamma = random_vector(std::size_t(c), 2, 0.5),
           beta = random_vector(std::size_t(c), 3, 0.5);
      for (auto& g : gamma) g += 1.0;
      const auto probe = random_vector(std::size_t(n) * c, 4);
      std::vector<double> y(x.size()), mean(static_cast<std::size_t>(c)), invstd(static_cast<std::size_t>(c));
      auto loss = [&] {
        eigen::batch_norm_1d_forward_train(tctx, n, c, x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                           invstd.data(), relu);
        return dot(y, probe);
      };
      loss();
      std::vector<double> dx(x.size()), dgamma(static_cast<std::size_t>(c), 0.0), dbeta(static_cast<std::size_t>(c), 0.0);
      eigen::batch_norm_1d_backward(tctx, n, c, x.data(), y.data(), probe.data(), gamma.data(), mean.data(),
                                    invstd.data(), dx.data(), dgamma.data(), dbeta.data(), relu);
      const double ex = max_rel_error(x, dx, loss), eg = max_rel_error(gamma, dgamma, loss),
                   eb = max_rel_error(beta, dbeta, loss);
      CAPTURE(relu);
      CAPTURE(threads);
      CHECK(ex < 1e-6);
      CHECK(eg < 1e-7);
      CHECK(eb < 1e-7);
    }
  }
}

TEST_CASE("mlp: whole network passes finite differences (double)") {
  auto p = small_params(3);
  MlpProbe<Small> P(9, full_spec(ModelTraits<Small>::info()));
  const auto g = P.grad(p);
  const double err = max_rel_error(p, g, [&] { return P.loss(p); });
  MESSAGE("Mlp<6, 5, 4, 3> relative gradient error (double): " << err);
  CHECK(err < 1e-6);
  // With input scales per layer (WidthwiseRandom::evaluation_scale's 1/S).
  const std::vector<double> scale{1.0, 0.5, 0.25};
  P.opt.residual_scale = scale;
  const auto gs = P.grad(p);
  CHECK(max_rel_error(p, gs, [&] { return P.loss(p); }) < 1e-6);
}

TEST_CASE("mlp: WidthwiseRandom's evaluation scale is 1/S behind split units, and only the classifier feels it") {
  const ModelInfo info = ModelTraits<Small>::info();
  CHECK(WidthwiseRandom{}.evaluation_scale(info, 4) == std::vector<double>{1.0, 0.25, 0.25});
  // Behind batch norm the scale cancels (up to eps): hidden layer 2 scaled by 1/4 changes nothing, the
  // classifier's input scale divides the logits minus the bias.
  auto p = small_params(5);
  MlpProbe<Small> P(9, full_spec(info));
  const double* y = P.net.forward(p.data(), P.layout, P.x.data(), P.opt);
  const std::vector<double> plain(y, y + 9 * 3);
  const std::vector<double> scale{1.0, 0.25, 0.5};
  P.opt.residual_scale = scale;
  y = P.net.forward(p.data(), P.layout, P.x.data(), P.opt);
  const double* bias = p.data() + Small::tensors.back().offset;
  for (int i = 0; i < 9 * 3; ++i) CHECK(y[i] - bias[i % 3] == doctest::Approx(0.5 * (plain[std::size_t(i)] - bias[i % 3])).epsilon(1e-2));
}

TEST_CASE("mlp: width-wise sub-networks pass finite differences on their compact buffers (double)") {
  const ModelInfo info = ModelTraits<Small>::info();
  const auto full = small_params(4);
  for (int S : {2, 3}) {
    const Plan plan = WidthwiseRandom{}.plan(info, {9, 0, S});
    for (const auto& spec : plan.workers) {
      const SliceSet set = ModelTraits<Small>::slices(spec);
      std::vector<double> p(set.size());
      gather(std::span<const double>(full), set, std::span<double>(p));
      MlpProbe<Small> P(8, spec);
      REQUIRE(P.layout.size() == p.size());
      const auto g = P.grad(p);
      const double err = max_rel_error(p, g, [&] { return P.loss(p); });
      CAPTURE(S);
      CHECK(err < 1e-6);
    }
  }
}

TEST_CASE("mlp: a compact sub-network computes what the full network computes with the other units cut off") {
  // Cut off = the outgoing weights of every unit not kept are zero. Then the kept units of each layer see
  // exactly the inputs they see in the sub-network, and the classifier sees only the kept last layer.
  using Net = Mlp<Input<12>, Dense<10>, Dense<7>, Dense<4>>;
  const ModelInfo info = ModelTraits<Net>::info();
  std::vector<double> full(Net::num_params);
  init_params<Net>(std::span<double>(full), 21);
  const Plan plan = WidthwiseRandom{}.plan(info, {5, 2, 3});
  const SubnetSpec& spec = plan.workers[1];
  // The network with units cut off, at full width.
  std::vector<double> cut = full;
  for (int l = 1; l < Net::num_layers; ++l) {
    const TensorDesc& w = Net::tensors[std::size_t(Net::blocks[std::size_t(l)].first_tensor)];
    const auto& kept = spec.kept_units[std::size_t(l - 1)];
    for (int r = 0; r < w.shape[0]; ++r)
      for (int c = 0; c < w.shape[1]; ++c)
        if (!std::binary_search(kept.begin(), kept.end(), c)) cut[w.offset + std::size_t(r * w.shape[1] + c)] = 0;
  }
  const int batch = 6;
  eigen::CpuContext ctx(1);
  MlpNetwork<Net, double> big(ctx), small(ctx);
  big.configure(batch);
  small.set_widths(detail::chain_kept_widths<Net>(spec, "test"));
  small.configure(batch);
  const auto x = random_vector(std::size_t(batch) * 12, 8);
  const SliceSet set = ModelTraits<Net>::slices(spec);
  std::vector<double> compact(set.size());
  gather(std::span<const double>(full), set, std::span<double>(compact));
  const double* a = big.forward(cut.data(), ModelTraits<Net>::layout(full_spec(info)), x.data());
  const double* b = small.forward(compact.data(), ModelTraits<Net>::layout(spec), x.data());
  double diff = 0;
  for (int i = 0; i < batch * Net::num_classes; ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
  CHECK(diff < 1e-12);
}

TEST_CASE("mlp: misuse is rejected with the expected and found values") {
  eigen::CpuContext ctx(1);
  MlpNetwork<Small> net(ctx);
  const std::vector<int> bad{5, 9};
  CHECK_THROWS_WITH_AS(net.set_widths(bad), doctest::Contains("hidden layer 2: expected a width in [1, 4], found 9"),
                       Error);
  std::vector<float> p(Small::num_params), x(6);
  CHECK_THROWS_WITH_AS(net.forward(p.data(), ModelTraits<Small>::layout(full_spec(ModelTraits<Small>::info())), x.data()),
                       doctest::Contains("call configure() first"), Error);
  net.configure(1);
  const std::vector<int> narrow{2, 2};
  net.set_widths(narrow);
  CHECK_THROWS_WITH_AS(net.forward(p.data(), ModelTraits<Small>::layout(full_spec(ModelTraits<Small>::info())), x.data()),
                       doctest::Contains("the layout holds 83 values, but the configured widths need"), Error);
}

}  // namespace test_mlp
