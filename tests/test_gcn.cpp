// ist::Gcn (GIST's model) and its ops: sparse-dense products against a dense reference, the normalized
// adjacency, layer norm, dropout, the node loss, finite-difference gradient checks of whole GCNs and of
// width-wise sub-GCNs (double), and a compact sub-GCN computing what the full GCN computes with the other
// units cut off.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "grad_check.hpp"
#include "ist/backend/eigen/dropout.hpp"
#include "ist/backend/eigen/layer_norm.hpp"
#include "ist/backend/eigen/node_cross_entropy.hpp"
#include "ist/backend/eigen/sparse_matmul.hpp"
#include "ist/data/graph.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/gcn_traits.hpp"

namespace test_gcn {

using namespace ist;
using ist::test::dot;
using ist::test::max_rel_error;
using ist::test::random_vector;

namespace {

// A random sparse matrix with about `density` of its entries set.
eigen::SparseRowMatrix<double> random_sparse(int rows, int cols, double density, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Eigen::Triplet<double, int>> t;
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      if (rng.uniform() < density) t.emplace_back(i, j, rng.normal());
  eigen::SparseRowMatrix<double> m(rows, cols);
  m.setFromTriplets(t.begin(), t.end());
  m.makeCompressed();
  return m;
}

std::vector<std::array<std::int32_t, 2>> random_edges(int nodes, int count, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::array<std::int32_t, 2>> e;
  for (int k = 0; k < count; ++k)
    e.push_back({std::int32_t(rng.below(std::uint64_t(nodes))), std::int32_t(rng.below(std::uint64_t(nodes)))});
  return e;
}

// A small graph in double: features [N, F] with nonnegative values, A_hat from random edges.
struct SmallGraph {
  eigen::SparseRowMatrix<double> x, a;
  SmallGraph(int nodes, int features, std::uint64_t seed) {
    x = random_sparse(nodes, features, 0.4, seed).cwiseAbs();
    x.makeCompressed();
    const auto edges = random_edges(nodes, 2 * nodes, seed + 1);
    a = gcn_normalized_adjacency(nodes, edges).cast<double>();
    a.makeCompressed();
  }
};

template <class Net>
struct GcnProbe {
  eigen::CpuContext ctx;
  GcnNetwork<Net, double> net{ctx};
  const SmallGraph& g;
  ParamLayout layout;
  GraphForwardOptions opt;
  std::vector<double> probe;
  GcnProbe(const SmallGraph& graph, const SubnetSpec& spec, GraphForwardOptions o, int threads = 1)
      : ctx(threads), g(graph), layout(ModelTraits<Net>::layout(spec)), opt(o) {
    ModelTraits<Net>::configure(net, spec, int(g.x.rows()));
    probe = random_vector(std::size_t(g.x.rows()) * Net::num_classes, 31);
  }
  double loss(const std::vector<double>& p) {
    const double* y = net.forward(p.data(), layout, g.x, g.a, opt);
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

using Two = Gcn<Input<7>, GraphConv<6>, GraphConv<3>>;
using Three = Gcn<Input<7>, GraphConv<6>, GraphConv<5>, GraphConv<3>>;

}  // namespace

TEST_CASE("gcn: sparse-dense products match a dense reference") {
  for (int threads : {1, 2}) {
    eigen::CpuContext ctx(threads);
    for (int n : {1, 7, 40}) {
      const auto a = random_sparse(23, 17, 0.2, 5);
      const Eigen::MatrixXd dense = Eigen::MatrixXd(a);
      const auto b = random_vector(std::size_t(17) * n, 6), c = random_vector(std::size_t(23) * n, 7);
      using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
      const Eigen::Map<const RowMat> B(b.data(), 17, n), Cm(c.data(), 23, n);
      // y = a b
      std::vector<double> y(std::size_t(23) * n, 99.0);
      eigen::spmm(ctx, a, b.data(), n, y.data());
      const RowMat ref = dense * B;
      double err = 0;
      for (int i = 0; i < 23; ++i)
        for (int j = 0; j < n; ++j) err = std::max(err, std::abs(y[std::size_t(i) * n + j] - ref(i, j)));
      CHECK(err < 1e-12);
      // y += a^T c, onto a nonzero start
      std::vector<double> yt = random_vector(std::size_t(17) * n, 8);
      const std::vector<double> start = yt;
      eigen::spmm_transposed_add(ctx, a, c.data(), n, yt.data());
      const RowMat reft = dense.transpose() * Cm;
      err = 0;
      for (int i = 0; i < 17; ++i)
        for (int j = 0; j < n; ++j)
          err = std::max(err, std::abs(yt[std::size_t(i) * n + j] - start[std::size_t(i) * n + j] - reft(i, j)));
      CHECK(err < 1e-12);
      // Replacement values (as dropout of the nonzeros does): every value doubled doubles the product.
      std::vector<double> twice(a.valuePtr(), a.valuePtr() + a.nonZeros());
      for (auto& v : twice) v *= 2;
      std::vector<double> y2(y.size());
      eigen::spmm(ctx, a, b.data(), n, y2.data(), twice.data());
      err = 0;
      for (std::size_t i = 0; i < y.size(); ++i) err = std::max(err, std::abs(y2[i] - 2 * y[i]));
      CHECK(err < 1e-12);
    }
  }
}

TEST_CASE("gcn: the normalized adjacency D^-1/2 (A + I) D^-1/2, known values") {
  // Path 0 - 1 - 2, with node 1's edge to 2 listed twice (both directions) and a self loop listed: degrees
  // of A + I are 2, 3, 2.
  const std::vector<std::array<std::int32_t, 2>> edges{{0, 1}, {1, 2}, {2, 1}, {2, 2}};
  const GraphMatrix a = gcn_normalized_adjacency(3, edges);
  const Eigen::MatrixXf d = Eigen::MatrixXf(a);
  CHECK(a.nonZeros() == 7);
  CHECK(d(0, 0) == doctest::Approx(0.5));
  CHECK(d(1, 1) == doctest::Approx(1.0 / 3));
  CHECK(d(0, 1) == doctest::Approx(1 / std::sqrt(6.0)));
  CHECK(d(1, 0) == doctest::Approx(1 / std::sqrt(6.0)));
  CHECK(d(1, 2) == doctest::Approx(1 / std::sqrt(6.0)));
  CHECK(d(0, 2) == 0.f);
  CHECK((d - d.transpose()).cwiseAbs().maxCoeff() == 0.f);
  CHECK_THROWS_WITH_AS(gcn_normalized_adjacency(3, std::vector<std::array<std::int32_t, 2>>{{0, 3}}),
                       doctest::Contains("edge 0 (0, 3) has a node out of range [0, 3)"), Error);
  // Row normalization: rows sum to 1, an all-zero row stays zero.
  GraphMatrix f(2, 3);
  f.insert(0, 0) = 1;
  f.insert(0, 2) = 3;
  f.makeCompressed();
  row_normalize(f);
  CHECK(f.coeff(0, 0) == 0.25f);
  CHECK(f.coeff(0, 2) == 0.75f);
  CHECK(f.coeff(1, 1) == 0.f);
}

TEST_CASE("gcn: non-affine layer norm: known values and finite differences (double)") {
  eigen::CpuContext ctx(1);
  {
    const std::vector<double> x{1, 2, 3, 10, 10, 10};
    std::vector<double> y(6), mean(2), invstd(2);
    eigen::layer_norm_forward(ctx, 2, 3, x.data(), y.data(), mean.data(), invstd.data(), 0.0);
    CHECK(mean[0] == doctest::Approx(2));
    CHECK(y[0] == doctest::Approx(-std::sqrt(1.5)));
    CHECK(y[2] == doctest::Approx(std::sqrt(1.5)));
    CHECK(mean[1] == doctest::Approx(10));
  }
  for (int threads : {1, 2})
    for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{5, 8}, {1, 40}}) {
      eigen::CpuContext tctx(threads);
      auto x = random_vector(rows * cols, 3);
      const auto probe = random_vector(rows * cols, 4);
      std::vector<double> y(x.size()), mean(rows), invstd(rows), dx(x.size());
      auto loss = [&] {
        eigen::layer_norm_forward(tctx, rows, cols, x.data(), y.data(), mean.data(), invstd.data());
        return dot(y, probe);
      };
      loss();
      eigen::layer_norm_backward(tctx, rows, cols, y.data(), probe.data(), invstd.data(), dx.data());
      const double err = max_rel_error(x, dx, loss);
      CAPTURE(rows);
      CAPTURE(threads);
      CHECK(err < 1e-7);
    }
}

TEST_CASE("gcn: sparse-dense products equal the plain row loops bit for bit, for every width and tail") {
  // The plain loops the packet code replaced: y = 0, then y_row += w * b_row per nonzero (one fused multiply-add
  // per element where the target has FMA, as Eigen's pmadd and g++'s contraction of the loop compute it).
  const auto madd = [](float a, float b, float c) {
#ifdef EIGEN_VECTORIZE_FMA
    return std::fma(a, b, c);
#else
    return a * b + c;
#endif
  };
  constexpr int L = Eigen::internal::packet_traits<float>::size;
  const auto ad = random_sparse(37, 29, 0.25, 9);
  const eigen::SparseRowMatrix<float> a = ad.cast<float>();
  for (int threads : {1, 2}) {
    eigen::CpuContext ctx(threads);
    for (int n : {1, L - 1, L, L + 3, 4 * L, 4 * L + 1, 5 * L + 7, 9 * L + 2}) {
      CAPTURE(threads);
      CAPTURE(n);
      std::vector<float> b(std::size_t(29) * n), c(std::size_t(37) * n);
      for (std::size_t i = 0; i < b.size(); ++i) b[i] = float(std::sin(0.37 * double(i)));
      for (std::size_t i = 0; i < c.size(); ++i) c[i] = float(std::cos(0.11 * double(i)));
      std::vector<float> y(std::size_t(37) * n, 5.f), want(y.size(), 0.f);
      eigen::spmm(ctx, a, b.data(), n, y.data());
      for (int i = 0; i < 37; ++i)
        for (int k = a.outerIndexPtr()[i]; k < a.outerIndexPtr()[i + 1]; ++k)
          for (int j = 0; j < n; ++j) {
            float& v = want[std::size_t(i) * n + j];
            v = madd(a.valuePtr()[k], b[std::size_t(a.innerIndexPtr()[k]) * n + j], v);
          }
      CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
      // Rows [5, 19) alone equal those rows of the whole product.
      std::vector<float> part(std::size_t(14) * n);
      eigen::spmm_rows(ctx, a, 5, 14, b.data(), n, part.data());
      CHECK(std::memcmp(part.data(), want.data() + std::size_t(5) * n, part.size() * sizeof(float)) == 0);
      std::vector<float> yt(std::size_t(29) * n, 0.25f), want_t = yt;
      eigen::spmm_transposed_add(ctx, a, c.data(), n, yt.data());
      for (int i = 0; i < 37; ++i)
        for (int k = a.outerIndexPtr()[i]; k < a.outerIndexPtr()[i + 1]; ++k)
          for (int j = 0; j < n; ++j) {
            float& v = want_t[std::size_t(a.innerIndexPtr()[k]) * n + j];
            v = madd(a.valuePtr()[k], c[std::size_t(i) * n + j], v);
          }
      CHECK(std::memcmp(yt.data(), want_t.data(), yt.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("gcn: float dropout masks drawn in SIMD lanes equal one random stream per chunk") {
  eigen::CpuContext one(1), two(2);
  const std::size_t chunk = eigen::detail::kDropoutChunk, lanes = eigen::detail::kDropoutLanes;
  for (std::size_t count : {std::size_t(0), std::size_t(1), chunk - 1, lanes * chunk, lanes * chunk + 3,
                            (2 * lanes + 1) * chunk + chunk - 1}) {
    for (double p : {0.0, 0.3, 0.5, 0.999}) {
      CAPTURE(count);
      CAPTURE(p);
      std::vector<float> got(count), got2(count), want(count);
      eigen::dropout_mask(one, count, p, 77 + count, got.data());
      eigen::dropout_mask(two, count, p, 77 + count, got2.data());
      const float keep = float(1.0 / (1.0 - p));
      const std::uint64_t threshold = std::uint64_t(p * 4294967296.0);  // kept: 32 random bits >= p 2^32
      for (std::size_t k = 0; k * chunk < count; ++k) {  // chunk k: Rng(seed, {k}), two elements per draw
        Rng rng(77 + count, {std::uint64_t(k)});
        for (std::size_t i = k * chunk; i < std::min(count, (k + 1) * chunk); i += 2) {
          const std::uint64_t r = rng();
          want[i] = (r & 0xffffffffu) >= threshold ? keep : 0.f;
          if (i + 1 < count) want[i + 1] = (r >> 32) >= threshold ? keep : 0.f;
        }
      }
      CHECK(got == want);
      CHECK(got2 == want);
    }
  }
}

TEST_CASE("gcn: dropout keeps 1 - p of the elements, scales them, and depends only on the seed") {
  const std::size_t n = 100000;
  std::vector<float> x(n, 2.f), y1(n), m1(n), y2(n), m2(n);
  eigen::CpuContext one(1), two(2);
  eigen::dropout_forward(one, n, 0.3, 42, x.data(), y1.data(), m1.data());
  eigen::dropout_forward(two, n, 0.3, 42, x.data(), y2.data(), m2.data());
  CHECK(y1 == y2);  // independent of the thread count
  const auto kept = std::count_if(m1.begin(), m1.end(), [](float v) { return v != 0.f; });
  CHECK(double(kept) / n == doctest::Approx(0.7).epsilon(0.01));
  for (std::size_t i = 0; i < n; ++i) REQUIRE((y1[i] == 0.f || y1[i] == doctest::Approx(2 / 0.7)));
  std::vector<float> y3(n), m3(n);
  eigen::dropout_forward(one, n, 0.3, 43, x.data(), y3.data(), m3.data());
  CHECK(y3 != y1);
  std::vector<float> dx(n);
  eigen::dropout_backward(one, n, m1.data(), x.data(), dx.data());
  CHECK(dx == y1);
  CHECK_THROWS_WITH_AS(eigen::dropout_mask(one, n, 1.0, 1, m1.data()), doctest::Contains("[0, 1), found 1"), Error);
}

TEST_CASE("gcn: the node loss scores only the given nodes and never uses label -1") {
  const std::vector<double> logits{1, 2, 0, 3, 0, 0, 5, 1};  // 4 nodes, 2 classes
  const std::vector<std::int32_t> labels{1, -1, 0, 0};
  std::vector<double> d(8, 7.0);
  const std::vector<std::int32_t> nodes{0, 3};
  const auto r = eigen::node_cross_entropy<double>(4, 2, logits.data(), labels.data(), nodes, d.data());
  const double l0 = std::log(std::exp(1.0) + std::exp(2.0)) - 2, l3 = std::log(std::exp(5.0) + std::exp(1.0)) - 5;
  CHECK(r.loss == doctest::Approx((l0 + l3) / 2));
  CHECK(r.correct == 2);
  CHECK(d[2] == 0.0);  // unscored rows get no gradient
  CHECK(d[3] == 0.0);
  CHECK(d[4] == 0.0);
  CHECK(d[0] + d[1] == doctest::Approx(0.0));
  const std::vector<std::int32_t> unlabeled{1};
  CHECK_THROWS_WITH_AS(eigen::node_cross_entropy<double>(4, 2, logits.data(), labels.data(), unlabeled, d.data()),
                       doctest::Contains("node 1: expected a label in [0, 2), found -1 (unlabeled)"), Error);
}

TEST_CASE("gcn: whole GCNs pass finite differences, with dropout and each norm (double)") {
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
        init_gcn_params<Two>(std::span<double>(p), 5);
        GcnProbe<Two> P(g, full_spec(ModelTraits<Two>::info()), opt);
        const auto gr = P.grad(p);
        const double err = max_rel_error(p, gr, [&] { return P.loss(p); });
        CAPTURE(int(norm));
        CAPTURE(dropout);
        CHECK(err < 1e-6);
      }
      {
        std::vector<double> p(Three::num_params);
        init_gcn_params<Three>(std::span<double>(p), 6);
        if (dropout > 0) opt.input_scale = three_scales;
        GcnProbe<Three> P(g, full_spec(ModelTraits<Three>::info()), opt, 2);
        const auto gr = P.grad(p);
        const double err = max_rel_error(p, gr, [&] { return P.loss(p); });
        CAPTURE(int(norm));
        CAPTURE(dropout);
        CHECK(err < 1e-6);
      }
    }
  }
}

TEST_CASE("gcn: width-wise sub-GCNs pass finite differences on their compact buffers (double)") {
  const SmallGraph g(10, 7, 4);
  const ModelInfo info = ModelTraits<Three>::info();
  std::vector<double> full(Three::num_params);
  init_gcn_params<Three>(std::span<double>(full), 8);
  GraphForwardOptions opt;
  opt.dropout = 0.3;
  opt.norm = GraphNorm::PerNode;
  opt.seed = 3;
  for (int S : {2, 3}) {
    const Plan plan = WidthwiseRandom{}.plan(info, {11, 1, S});
    for (const auto& spec : plan.workers) {
      const SliceSet set = ModelTraits<Three>::slices(spec);
      std::vector<double> p(set.size());
      gather(std::span<const double>(full), set, std::span<double>(p));
      GcnProbe<Three> P(g, spec, opt);
      REQUIRE(P.layout.size() == p.size());
      const auto gr = P.grad(p);
      const double err = max_rel_error(p, gr, [&] { return P.loss(p); });
      CAPTURE(S);
      CHECK(err < 1e-6);
    }
  }
}

TEST_CASE("gcn: a compact sub-GCN computes what the full GCN computes with the other units cut off") {
  const SmallGraph g(12, 7, 9);
  const ModelInfo info = ModelTraits<Three>::info();
  std::vector<double> full(Three::num_params);
  init_gcn_params<Three>(std::span<double>(full), 10);
  const Plan plan = WidthwiseRandom{}.plan(info, {2, 0, 2});
  const SubnetSpec& spec = plan.workers[0];
  std::vector<double> cut = full;  // outgoing weights of the units not kept are zero
  for (int l = 1; l < Three::num_layers; ++l) {
    const TensorDesc& w = Three::tensors[std::size_t(l)];
    const auto& kept = spec.kept_units[std::size_t(l - 1)];
    for (int r = 0; r < w.shape[0]; ++r)
      for (int c = 0; c < w.shape[1]; ++c)
        if (!std::binary_search(kept.begin(), kept.end(), c)) cut[w.offset + std::size_t(r * w.shape[1] + c)] = 0;
  }
  GraphForwardOptions opt;
  opt.training = false;
  eigen::CpuContext ctx(1);
  GcnNetwork<Three, double> big(ctx), small(ctx);
  ModelTraits<Three>::configure(big, full_spec(info), 12);
  ModelTraits<Three>::configure(small, spec, 12);
  const SliceSet set = ModelTraits<Three>::slices(spec);
  std::vector<double> compact(set.size());
  gather(std::span<const double>(full), set, std::span<double>(compact));
  const double* a = big.forward(cut.data(), ModelTraits<Three>::layout(full_spec(info)), g.x, g.a, opt);
  const double* b = small.forward(compact.data(), ModelTraits<Three>::layout(spec), g.x, g.a, opt);
  double diff = 0;
  for (int i = 0; i < 12 * 3; ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
  CHECK(diff < 1e-12);
}

}  // namespace test_gcn
