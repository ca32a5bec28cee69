// ist::Sage (GraphSAGE, mean aggregator, GIST's ISTSAGELayer): the mean-aggregation matrix, the layout with
// its two-copy input columns, known values by hand and against a dense reference, finite-difference
// gradient checks of whole networks and of width-wise sub-networks (double), a compact sub-network computing
// what the full network computes with the other units cut off, and split-then-merge round trips. Learning
// Cora: test_sage_learning.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "grad_check.hpp"
#include "ist/aggregate/holder_average.hpp"
#include "ist/data/graph.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/graph_trainer.hpp"
#include "ist/train/sage_traits.hpp"

namespace test_sage {

using namespace ist;
using ist::test::dot;
using ist::test::max_rel_error;
using ist::test::random_vector;

namespace {

using Dense = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Edges = std::vector<std::array<std::int32_t, 2>>;

// A small graph in double: nonnegative sparse features [N, F] and M = D^-1 A from random edges among the first
// N - 1 nodes, so the last node is isolated (an empty row of M).
struct SmallGraph {
  eigen::SparseRowMatrix<double> x, m;
  SmallGraph(int nodes, int features, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<Eigen::Triplet<double, int>> t;
    for (int i = 0; i < nodes; ++i)
      for (int j = 0; j < features; ++j)
        if (rng.uniform() < 0.4) t.emplace_back(i, j, rng.uniform() + 0.1);
    x.resize(nodes, features);
    x.setFromTriplets(t.begin(), t.end());
    x.makeCompressed();
    Edges e;
    for (int k = 0; k < 2 * nodes; ++k)
      e.push_back({std::int32_t(rng.below(std::uint64_t(nodes - 1))), std::int32_t(rng.below(std::uint64_t(nodes - 1)))});
    m = mean_aggregation_matrix(nodes, e).cast<double>();
    m.makeCompressed();
  }
};

template <class Net>
struct SageProbe {
  eigen::CpuContext ctx;
  SageNetwork<Net, double> net{ctx};
  const SmallGraph& g;
  ParamLayout layout;
  GraphForwardOptions opt;
  std::vector<double> probe;
  SageProbe(const SmallGraph& graph, const SubnetSpec& spec, GraphForwardOptions o, int threads = 1)
      : ctx(threads), g(graph), layout(ModelTraits<Net>::layout(spec)), opt(o) {
    ModelTraits<Net>::configure(net, spec, int(g.x.rows()));
    probe = random_vector(std::size_t(g.x.rows()) * Net::num_classes, 31);
  }
  double loss(const std::vector<double>& p) {
    const double* y = net.forward(p.data(), layout, g.x, g.m, opt);
    return dot(std::vector<double>(y, y + probe.size()), probe);
  }
  std::vector<double> grad(const std::vector<double>& p) {
    loss(p);
    std::copy(probe.begin(), probe.end(), net.dlogits());
    std::vector<double> gr(p.size(), 0.0);
    net.backward(p.data(), gr.data(), layout);
    return gr;
  }
};

// The full network without dropout, written plainly on dense matrices: for each layer C = [H, M H],
// Z = C W^T + b, and for hidden layers H = relu(norm(Z)).
template <class Net>
Dense dense_reference(const std::vector<double>& p, const SmallGraph& g, GraphNorm norm) {
  const Dense M = Dense(Eigen::MatrixXd(g.m));
  Dense h = Dense(Eigen::MatrixXd(g.x));
  const long N = h.rows();
  for (int l = 0; l < Net::num_layers; ++l) {
    const TensorDesc& w = Net::tensors[std::size_t(2 * l)];
    const TensorDesc& b = Net::tensors[std::size_t(2 * l + 1)];
    const long in = h.cols();
    Dense c(N, 2 * in);
    c << h, M * h;
    const Eigen::Map<const Dense> W(p.data() + w.offset, w.shape[0], w.shape[1]);
    const Eigen::Map<const Eigen::RowVectorXd> B(p.data() + b.offset, b.shape[0]);
    Dense z = (c * W.transpose()).rowwise() + B;
    if (l + 1 < Net::num_layers) {
      if (norm == GraphNorm::PerNode)
        for (long i = 0; i < N; ++i) {
          const double mean = z.row(i).mean();
          const double var = (z.row(i).array() - mean).square().mean();
          z.row(i) = (z.row(i).array() - mean) / std::sqrt(var + 1e-5);
        }
      z = z.cwiseMax(0.0);
    }
    h = z;
  }
  return h;
}

using Two = Sage<Input<7>, SageConv<6>, SageConv<3>>;
using Three = Sage<Input<7>, SageConv<6>, SageConv<5>, SageConv<3>>;

}  // namespace

TEST_CASE("sage: the mean-aggregation matrix D^-1 A, known values") {
  // Path 0 - 1 - 2 with node 1's edge to 2 listed in both directions and a self loop on 2 (ignored); node 3 has
  // no neighbour. Degrees of A: 1, 2, 1, 0.
  const Edges edges{{0, 1}, {1, 2}, {2, 1}, {2, 2}};
  const GraphMatrix m = mean_aggregation_matrix(4, edges);
  const Eigen::MatrixXf d = Eigen::MatrixXf(m);
  CHECK(m.nonZeros() == 4);
  CHECK(d(0, 1) == 1.f);
  CHECK(d(1, 0) == 0.5f);
  CHECK(d(1, 2) == 0.5f);
  CHECK(d(2, 1) == 1.f);
  CHECK(d.diagonal().cwiseAbs().maxCoeff() == 0.f);  // no self loops
  CHECK(d.row(3).cwiseAbs().maxCoeff() == 0.f);       // an isolated node's mean is 0
  CHECK_THROWS_WITH_AS(mean_aggregation_matrix(3, Edges{{0, 3}}),
                       doctest::Contains("ist::mean_aggregation_matrix: edge 0 (0, 3) has a node out of range [0, 3)"),
                       Error);
}

TEST_CASE("sage: the layout: weights over [h ‖ mean of neighbours], a bias per layer") {
  static_assert(Three::num_params == 6 * 14 + 6 + 5 * 12 + 5 + 3 * 10 + 3);
  static_assert(Three::tensors.size() == 6);
  CHECK(Three::tensors[0].shape[0] == 6);
  CHECK(Three::tensors[0].shape[1] == 14);  // 2 x 7 input features
  CHECK(Three::tensors[1].role == TensorRole::LinearBias);
  CHECK(Three::tensors[1].size == 6);
  CHECK(Three::tensors[2].shape[1] == 12);
  CHECK(Three::tensors[4].shape[0] == 3);
  CHECK(Three::tensors[4].shape[1] == 10);
  const ModelInfo info = ModelTraits<Three>::info();
  CHECK(info.name == "sage");
  REQUIRE(info.width_layers.size() == 2);
  CHECK(info.width_layers[0].units == 6);
  CHECK(info.width_layers[1].units == 5);
  CHECK(info.tensors[2].name == "layer2.weight");
  CHECK(info.tensors[5].name == "output.bias");
  // PyTorch's nn.Linear bounds: every tensor of layer l within 1/sqrt(2 U_{l-1}).
  std::vector<double> p(Three::num_params);
  init_sage_params<Three>(std::span<double>(p), 4);
  for (const TensorDesc& d : Three::tensors) {
    const double bound = 1 / std::sqrt(2.0 * Three::blocks[std::size_t(d.block)].in_channels);
    double most = 0;
    for (std::size_t i = 0; i < d.size; ++i) most = std::max(most, std::abs(p[d.offset + i]));
    CHECK(most <= bound);
    CHECK(most > 0.5 * bound);
  }
}

TEST_CASE("sage: known values by hand on a tiny graph") {
  // Nodes 0 - 1 - 2 (a path), 2 features each, a single layer (the classifier) with 2 classes:
  //   X = [[1, 0], [0, 2], [3, 1]],  M X = [[0, 2], [2, 0.5], [0, 2]]   (node 1 averages nodes 0 and 2)
  //   W = [[1, 0, 0, 1], [0, 1, 1, 0]] (class 0: x_0 + mean_1; class 1: x_1 + mean_0), b = [0.5, -1]
  //   logits = [[1 + 2, 0 + 0], [0 + 0.5, 2 + 2], [3 + 2, 1 + 0]] + b = [[3.5, -1], [1, 3], [5.5, 0]]
  using One = Sage<Input<2>, SageConv<2>>;
  eigen::SparseRowMatrix<double> x(3, 2);
  x.insert(0, 0) = 1;
  x.insert(1, 1) = 2;
  x.insert(2, 0) = 3;
  x.insert(2, 1) = 1;
  x.makeCompressed();
  const eigen::SparseRowMatrix<double> m = mean_aggregation_matrix(3, Edges{{0, 1}, {1, 2}}).cast<double>();
  const std::vector<double> p{1, 0, 0, 1, 0, 1, 1, 0, 0.5, -1};
  REQUIRE(p.size() == One::num_params);
  eigen::CpuContext ctx(1);
  SageNetwork<One, double> net(ctx);
  net.configure(3);
  GraphForwardOptions opt;
  opt.training = false;
  const double* y = net.forward(p.data(), ParamLayout::full<One>(), x, m, opt);
  const std::vector<double> expected{3.5, -1, 1, 3, 5.5, 0};
  for (int i = 0; i < 6; ++i) CHECK(y[i] == doctest::Approx(expected[std::size_t(i)]));
  // With input scale 1/2 the weight's part halves and the bias stays: [[2, -1], [0.75, 1], [3, -0.5]].
  const std::vector<double> half{0.5};
  opt.input_scale = half;
  y = net.forward(p.data(), ParamLayout::full<One>(), x, m, opt);
  const std::vector<double> scaled{2, -1, 0.75, 1, 3, -0.5};
  for (int i = 0; i < 6; ++i) CHECK(y[i] == doctest::Approx(scaled[std::size_t(i)]));
}

TEST_CASE("sage: deep networks match a dense reference, with and without layer norm") {
  const SmallGraph g(13, 7, 2);
  std::vector<double> p(Three::num_params);
  init_sage_params<Three>(std::span<double>(p), 3);
  for (GraphNorm norm : {GraphNorm::None, GraphNorm::PerNode}) {
    eigen::CpuContext ctx(2);
    SageNetwork<Three, double> net(ctx);
    net.configure(13);
    GraphForwardOptions opt;
    opt.training = false;
    opt.norm = norm;
    const double* y = net.forward(p.data(), ParamLayout::full<Three>(), g.x, g.m, opt);
    const Dense ref = dense_reference<Three>(p, g, norm);
    double diff = 0;
    for (int i = 0; i < 13; ++i)
      for (int c = 0; c < 3; ++c) diff = std::max(diff, std::abs(y[i * 3 + c] - ref(i, c)));
    CAPTURE(int(norm));
    CHECK(diff < 1e-12);
  }
}

TEST_CASE("sage: an inference-only workspace gives the same logits bit for bit in far less memory") {
  const SmallGraph g(13, 7, 4);
  std::vector<double> p(Three::num_params);
  init_sage_params<Three>(std::span<double>(p), 5);
  for (GraphNorm norm : {GraphNorm::None, GraphNorm::PerNode}) {
    CAPTURE(int(norm));
    eigen::CpuContext ctx(2);
    SageNetwork<Three, double> train(ctx), infer(ctx);
    train.configure(13);
    infer.configure(13, GraphPass::Inference);
    CHECK(infer.workspace_bytes() * 2 < train.workspace_bytes());
    GraphForwardOptions opt;
    opt.training = false;
    opt.norm = norm;
    const double* a = train.forward(p.data(), ParamLayout::full<Three>(), g.x, g.m, opt);
    const std::vector<double> want(a, a + 13 * Three::num_classes);
    const double* b = infer.forward(p.data(), ParamLayout::full<Three>(), g.x, g.m, opt);
    CHECK(std::equal(want.begin(), want.end(), b));
    opt.training = true;
    CHECK_THROWS_WITH_AS(infer.forward(p.data(), ParamLayout::full<Three>(), g.x, g.m, opt),
                         doctest::Contains("configured with GraphPass::Inference, so training = false only"), Error);
    std::vector<double> grads(p.size(), 0.0);
    CHECK_THROWS_WITH_AS(infer.backward(p.data(), grads.data(), ParamLayout::full<Three>()),
                         doctest::Contains("configured with GraphPass::Inference"), Error);
    // Configured for training again, it trains.
    infer.configure(13);
    (void)infer.forward(p.data(), ParamLayout::full<Three>(), g.x, g.m, opt);
    CHECK_NOTHROW(infer.backward(p.data(), grads.data(), ParamLayout::full<Three>()));
  }
}


namespace {
// The logits of the training pass (training = false) and of GraphPass::Inference in blocks of `rows` rows
// (0: automatic), for a Net in T on g's matrices cast to T.
template <class Net, class T>
void check_blocked_inference(const SmallGraph& g, std::uint64_t seed) {
  const eigen::SparseRowMatrix<T> x = g.x.cast<T>(), m = g.m.cast<T>();
  const int n = int(x.rows());
  std::vector<T> p(Net::num_params);
  init_sage_params<Net>(std::span<T>(p), seed);
  const std::vector<double> scale{1.0, 0.5, 0.25};  // GIST's evaluation scale behind split units
  for (GraphNorm norm : {GraphNorm::None, GraphNorm::PerNode, GraphNorm::Whole}) {
    CAPTURE(int(norm));
    eigen::CpuContext ctx(2);
    SageNetwork<Net, T> train(ctx);
    train.configure(n);
    GraphForwardOptions opt;
    opt.training = false;
    opt.norm = norm;
    opt.input_scale = std::span<const double>(scale.data(), std::size_t(Net::num_layers));
    const T* a = train.forward(p.data(), ParamLayout::full<Net>(), x, m, opt);
    const std::vector<T> want(a, a + std::size_t(n) * Net::num_classes);
    for (const std::size_t rows : {std::size_t(0), std::size_t(1), std::size_t(48), std::size_t(100), std::size_t(480),
                                   std::size_t(n)}) {
      CAPTURE(rows);
      SageNetwork<Net, T> infer(ctx);
      infer.set_inference_block_rows(rows);
      infer.configure(n, GraphPass::Inference);
      const std::size_t b = infer.inference_block_rows();
      if (b < std::size_t(n)) CHECK(b % SageNetwork<Net, T>::kInferenceRowAlign == 0);
      CHECK(b == (rows == 0 ? std::size_t(n) : std::min<std::size_t>(n, (rows + 47) / 48 * 48)));
      if (b < std::size_t(n)) CHECK(infer.workspace_bytes() * 3 < train.workspace_bytes());
      for (int twice = 0; twice < 2; ++twice) {  // again on the same workspace (blocks rebuild [X ‖ M X])
        const T* y = infer.forward(p.data(), ParamLayout::full<Net>(), x, m, opt);
        CHECK(std::equal(want.begin(), want.end(), y));
      }
    }
  }
}
}  // namespace

TEST_CASE("sage: inference in blocks of rows gives the training pass's logits bit for bit in about 2 k N values") {
  check_blocked_inference<Three, double>(SmallGraph(1000, 7, 8), 3);
  using Wide = Sage<Input<7>, SageConv<64>, SageConv<48>, SageConv<5>>;
  check_blocked_inference<Wide, float>(SmallGraph(1000, 7, 9), 4);
  check_blocked_inference<Wide, double>(SmallGraph(1001, 7, 10), 5);
  // The automatic choice: the whole graph up to kBlockedInferenceNodes nodes, blocks above.
  eigen::CpuContext ctx(1);
  SageNetwork<Three, float> big(ctx);
  big.configure(SageNetwork<Three, float>::kBlockedInferenceNodes + 1, GraphPass::Inference);
  CHECK(big.inference_block_rows() == SageNetwork<Three, float>::kInferenceBlockRows);
}

TEST_CASE("sage: whole networks pass finite differences, with dropout and each norm (double)") {
  const SmallGraph g(11, 7, 3);
  const std::vector<double> two_scales{1.0, 0.5}, three_scales{1.0, 0.5, 0.25};
  for (GraphNorm norm : {GraphNorm::None, GraphNorm::PerNode, GraphNorm::Whole}) {
    for (double dropout : {0.0, 0.4}) {
      GraphForwardOptions opt;
      opt.dropout = dropout;
      opt.norm = norm;
      if (dropout > 0) opt.input_scale = two_scales;
      opt.seed = 17;  // fixed masks: the loss is a smooth function of the parameters
      {
        std::vector<double> p(Two::num_params);
        init_sage_params<Two>(std::span<double>(p), 5);
        SageProbe<Two> P(g, full_spec(ModelTraits<Two>::info()), opt);
        const auto gr = P.grad(p);
        const double err = max_rel_error(p, gr, [&] { return P.loss(p); });
        CAPTURE(int(norm));
        CAPTURE(dropout);
        CHECK(err < 1e-6);
      }
      {
        std::vector<double> p(Three::num_params);
        init_sage_params<Three>(std::span<double>(p), 6);
        if (dropout > 0) opt.input_scale = three_scales;
        SageProbe<Three> P(g, full_spec(ModelTraits<Three>::info()), opt, 2);
        const auto gr = P.grad(p);
        const double err = max_rel_error(p, gr, [&] { return P.loss(p); });
        CAPTURE(int(norm));
        CAPTURE(dropout);
        CHECK(err < 1e-6);
      }
    }
  }
}

TEST_CASE("sage: width-wise sub-networks pass finite differences on their compact buffers (double)") {
  const SmallGraph g(10, 7, 4);
  const ModelInfo info = ModelTraits<Three>::info();
  std::vector<double> full(Three::num_params);
  init_sage_params<Three>(std::span<double>(full), 8);
  for (GraphNorm norm : {GraphNorm::None, GraphNorm::PerNode}) {
    GraphForwardOptions opt;
    opt.dropout = 0.3;
    opt.norm = norm;
    opt.seed = 3;
    for (int S : {2, 3}) {
      const Plan plan = WidthwiseRandom{}.plan(info, {11, 1, S});
      for (const auto& spec : plan.workers) {
        const SliceSet set = ModelTraits<Three>::slices(spec);
        std::vector<double> p(set.size());
        gather(std::span<const double>(full), set, std::span<double>(p));
        SageProbe<Three> P(g, spec, opt);
        REQUIRE(P.layout.size() == p.size());
        const auto gr = P.grad(p);
        const double err = max_rel_error(p, gr, [&] { return P.loss(p); });
        CAPTURE(S);
        CAPTURE(int(norm));
        CHECK(err < 1e-6);
      }
    }
  }
}

TEST_CASE("sage: a compact sub-network computes what the full network computes with the other units cut off") {
  const SmallGraph g(12, 7, 9);
  const ModelInfo info = ModelTraits<Three>::info();
  std::vector<double> full(Three::num_params);
  init_sage_params<Three>(std::span<double>(full), 10);
  const Plan plan = WidthwiseRandom{}.plan(info, {2, 0, 2});
  const SubnetSpec& spec = plan.workers[0];
  // Zero the columns of the units not kept, in both halves of the next layer's weight.
  std::vector<double> cut = full;
  for (int l = 1; l < Three::num_layers; ++l) {
    const TensorDesc& w = Three::tensors[std::size_t(2 * l)];
    const int in = w.shape[1] / 2;
    const auto& kept = spec.kept_units[std::size_t(l - 1)];
    for (int r = 0; r < w.shape[0]; ++r)
      for (int c = 0; c < w.shape[1]; ++c)
        if (!std::binary_search(kept.begin(), kept.end(), c % in)) cut[w.offset + std::size_t(r * w.shape[1] + c)] = 0;
  }
  GraphForwardOptions opt;
  opt.training = false;
  eigen::CpuContext ctx(1);
  SageNetwork<Three, double> big(ctx), small(ctx);
  ModelTraits<Three>::configure(big, full_spec(info), 12);
  ModelTraits<Three>::configure(small, spec, 12);
  const SliceSet set = ModelTraits<Three>::slices(spec);
  std::vector<double> compact(set.size());
  gather(std::span<const double>(full), set, std::span<double>(compact));
  const double* a = big.forward(cut.data(), ModelTraits<Three>::layout(full_spec(info)), g.x, g.m, opt);
  const double* b = small.forward(compact.data(), ModelTraits<Three>::layout(spec), g.x, g.m, opt);
  double diff = 0;
  for (int i = 0; i < 12 * 3; ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
  CHECK(diff < 1e-12);
}

TEST_CASE("sage: slices take both copies of each kept input column, and split-then-merge is the identity") {
  using Net = Sage<Input<9>, SageConv<11>, SageConv<10>, SageConv<4>>;
  const ModelInfo info = ModelTraits<Net>::info();
  std::vector<float> params(Net::num_params);
  ModelTraits<Net>::init(std::span<float>(params), 3);
  // A worker's compact hidden-to-hidden weight [k_2, 2 k_1] = [W(K_2, K_1) | W(K_2, K_1 + 11)], and its
  // bias b(K_2).
  const Plan p3 = WidthwiseRandom{}.plan(info, {7, 0, 3});
  for (const SubnetSpec& spec : p3.workers) {
    const SliceSet set = ModelTraits<Net>::slices(spec);
    const ParamLayout layout = ModelTraits<Net>::layout(spec);
    std::vector<float> compact(set.size());
    gather(std::span<const float>(params), set, std::span<float>(compact));
    REQUIRE(compact.size() == layout.size());
    const auto& k1 = spec.kept_units[0];
    const auto& k2 = spec.kept_units[1];
    const TensorDesc& w = Net::tensors[2];
    const TensorDesc& b = Net::tensors[3];
    const float* cw = compact.data() + layout.block_offset(1);
    const std::size_t cols = 2 * k1.size();
    for (std::size_t r = 0; r < k2.size(); ++r) {
      for (std::size_t j = 0; j < k1.size(); ++j) {
        CHECK(cw[r * cols + j] == params[w.offset + std::size_t(k2[r]) * 22 + std::size_t(k1[j])]);
        CHECK(cw[r * cols + k1.size() + j] == params[w.offset + std::size_t(k2[r]) * 22 + 11 + std::size_t(k1[j])]);
      }
      CHECK(cw[k2.size() * cols + r] == params[b.offset + std::size_t(k2[r])]);
    }
    // The first layer keeps all 2 x 9 input columns; the classifier all 4 rows and the whole bias.
    CHECK(layout.block_offset(1) == k1.size() * 18 + k1.size());
    CHECK(layout.size() - layout.block_offset(2) == 4 * 2 * k2.size() + 4);
  }
  // Split-then-merge returns the model bit for bit.
  for (int S : {1, 2, 3, 4, 8}) {
    for (std::uint64_t round = 0; round < 3; ++round) {
      const Plan plan = WidthwiseRandom{}.plan(info, {4, round, S});
      std::vector<SliceSet> sets;
      std::vector<std::vector<float>> bufs;
      for (const auto& spec : plan.workers) {
        sets.push_back(ModelTraits<Net>::slices(spec));
        bufs.emplace_back(sets.back().size());
        gather(std::span<const float>(params), sets.back(), std::span<float>(bufs.back()));
      }
      std::vector<float> merged = params;
      for (std::size_t w = 0; w < sets.size(); ++w) {  // held entries start from junk and must be rewritten
        std::vector<float> junk(sets[w].size(), -7.f);
        scatter(std::span<const float>(junk), sets[w], std::span<float>(merged));
      }
      std::vector<std::span<const float>> spans(bufs.begin(), bufs.end());
      HolderAverage().merge(std::span<float>(merged), MergeInput{info, plan, sets, spans});
      CAPTURE(S);
      CHECK(std::memcmp(merged.data(), params.data(), params.size() * sizeof(float)) == 0);
    }
  }
  // The classifier's bias is held by every worker and averaged; each hidden bias entry has one owner.
  const int S = 2;
  const Plan plan = WidthwiseRandom{}.plan(info, {1, 0, S});
  std::vector<SliceSet> sets;
  std::vector<std::vector<float>> bufs;
  for (int w = 0; w < S; ++w) {  // worker w returns the value w + 1 everywhere
    sets.push_back(ModelTraits<Net>::slices(plan.workers[std::size_t(w)]));
    bufs.emplace_back(sets.back().size(), float(w + 1));
  }
  std::vector<float> global(Net::num_params, 0.f);
  std::vector<std::span<const float>> spans(bufs.begin(), bufs.end());
  HolderAverage().merge(std::span<float>(global), MergeInput{info, plan, sets, spans});
  const TensorDesc& out_bias = Net::tensors.back();
  for (std::size_t i = 0; i < out_bias.size; ++i) CHECK(global[out_bias.offset + i] == 1.5f);
  const TensorDesc& b1 = Net::tensors[1];
  for (int u = 0; u < 11; ++u) {
    const auto& k0 = plan.workers[0].kept_units[0];
    CHECK(global[b1.offset + std::size_t(u)] == (std::binary_search(k0.begin(), k0.end(), u) ? 1.f : 2.f));
  }
}

TEST_CASE("sage: a graph without its mean-aggregation matrix is refused with what to do") {
  GraphDataset g;
  g.name = g.source = "tiny";
  g.num_nodes = 4;
  g.num_features = 3;
  g.num_classes = 2;
  g.features = GraphMatrix(4, 3);
  g.features.insert(0, 0) = 1;
  g.features.makeCompressed();
  const Edges edges{{0, 1}, {2, 3}};
  g.adjacency = gcn_normalized_adjacency(4, edges);
  g.labels = {0, 1, 0, 1};
  g.train = {0, 1};
  g.test = {2, 3};
  TrainerConfig cfg;
  cfg.epochs = 2;
  cfg.local_steps = 1;
  cfg.eval_every = 0;
  cfg.progress = false;
  using Net = Sage<Input<3>, SageConv<4>, SageConv<2>>;
  {
    GraphSubnetTrainer<Net, WidthwiseRandom> t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)),
                                               cfg, gist_adam());
    CHECK_THROWS_WITH_AS(t.fit(g), doctest::Contains("build it with ist::mean_aggregation_matrix"), Error);
  }
  g.mean_aggregation = mean_aggregation_matrix(4, edges);
  GraphSubnetTrainer<Net, WidthwiseRandom> t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg,
                                             gist_adam());
  const FitResult r = t.fit(g);
  CHECK(r.rounds.size() == 2);
}

}  // namespace test_sage
