// GcnNetwork and SageNetwork written against a compute policy: on a policy that is ist::eigen::Compute with what
// the CUDA policy does differently for the graph networks (its sparse operands are copies of the host matrices,
// kept by identity until forget(); spmm_rows takes whole matrices only; its buffers cannot shrink_to_fit), the
// networks give the Eigen policy's logits and gradients bit for bit, for full networks and width-wise
// sub-networks, with dropout and each norm, in training and inference passes; they copy each matrix once while
// the same matrices come back, and again after forget_input() (a matrix changed in place). The CUDA policy
// itself is compared with the Eigen one in tests/gpu/test_cuda_graph_networks.cu.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "ist/backend/eigen/compute.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/graph.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/gcn_traits.hpp"
#include "ist/train/sage_traits.hpp"

namespace test_graph_policy {

using namespace ist;

namespace {

// eigen::Compute with the CUDA policy's differences (see the top of the file). `copies` counts the matrices
// copied (the CUDA policy's uploads).
struct CopyingCompute : eigen::Compute {
  static inline int copies = 0;

  template <class T>
  class Buffer {
   public:
    void resize(std::size_t n) { v_.resize(n); }
    std::size_t size() const { return v_.size(); }
    T* data() { return v_.data(); }
    const T* data() const { return v_.data(); }

   private:
    std::vector<T> v_;
  };

  template <class T>
  class SparseOperand {
   public:
    void bind(eigen::CpuContext&, const eigen::SparseRowMatrix<T>& host) {
      const Key key{&host, host.outerIndexPtr(), host.innerIndexPtr(), host.valuePtr(), host.nonZeros(), host.rows(),
                    host.cols()};
      if (m_ && key == key_) return;
      m_ = std::make_unique<eigen::SparseRowMatrix<T>>(host);
      key_ = key;
      ++copies;
    }
    void forget() {
      m_.reset();
      key_ = Key{};
    }
    const eigen::SparseRowMatrix<T>& get() const {
      REQUIRE(m_);
      return *m_;
    }
    const T* values() const { return get().valuePtr(); }
    std::size_t nnz() const { return std::size_t(get().nonZeros()); }

   private:
    struct Key {
      const void* host = nullptr;
      const int* outer = nullptr;
      const int* inner = nullptr;
      const T* values = nullptr;
      Eigen::Index nnz = -1, rows = -1, cols = -1;
      bool operator==(const Key&) const = default;
    };
    std::unique_ptr<eigen::SparseRowMatrix<T>> m_;
    Key key_;
  };

  static constexpr bool sparse_row_blocks = false;
  template <class T, class... A>
  static void spmm_rows(eigen::CpuContext& ctx, const eigen::SparseRowMatrix<T>& a, std::ptrdiff_t first,
                        std::ptrdiff_t count, A&&... rest) {
    REQUIRE((first == 0 && count == a.rows()));
    eigen::spmm_rows(ctx, a, first, count, std::forward<A>(rest)...);
  }
};

// A random graph: nonnegative sparse features X [N, F] (a fifth of the entries, at least one per row), and over
// random edges A_hat and M = D^-1 A, in T.
template <class T>
struct Graph {
  eigen::SparseRowMatrix<T> x, a, m;
  Graph(int nodes, int features, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<Eigen::Triplet<T, int>> t;
    for (int i = 0; i < nodes; ++i) {
      const int forced = int(rng.below(std::uint64_t(features)));
      for (int j = 0; j < features; ++j)
        if (j == forced || rng.uniform() < 0.2) t.emplace_back(i, j, T(rng.uniform() + 0.1));
    }
    x.resize(nodes, features);
    x.setFromTriplets(t.begin(), t.end());
    x.makeCompressed();
    std::vector<std::array<std::int32_t, 2>> e;
    for (int k = 0; k < 3 * nodes; ++k) {
      const auto u = std::int32_t(rng.below(std::uint64_t(nodes - 1)));
      e.push_back({u, std::int32_t(rng.below(std::uint64_t(nodes - 1)))});
    }
    a = gcn_normalized_adjacency(nodes, e).cast<T>();
    a.makeCompressed();
    m = mean_aggregation_matrix(nodes, e).cast<T>();
    m.makeCompressed();
  }
  template <class Net>
  const eigen::SparseRowMatrix<T>& aggregation() const {
    if constexpr (is_sage<Net>::value)
      return m;
    else
      return a;
  }
};

using SageNet = Sage<Input<9>, SageConv<12>, SageConv<10>, SageConv<4>>;
using GcnNet = Gcn<Input<9>, GraphConv<12>, GraphConv<10>, GraphConv<4>>;

template <class Net, class T>
std::vector<T> compact_params(const SubnetSpec& spec, std::uint64_t seed) {
  std::vector<T> full(Net::num_params);
  if constexpr (is_sage<Net>::value)
    init_sage_params<Net>(std::span<T>(full), seed);
  else
    init_gcn_params<Net>(std::span<T>(full), seed);
  const SliceSet set = ModelTraits<Net>::slices(spec);
  std::vector<T> p(set.size());
  gather(std::span<const T>(full), set, std::span<T>(p));
  return p;
}

// The logits and, in training, the gradients (from a fixed dL/dlogits) of one forward and backward.
template <class Net, class T, class Compute>
std::pair<std::vector<T>, std::vector<T>> run(const Graph<T>& g, const SubnetSpec& spec, const GraphForwardOptions& opt,
                                              GraphPass pass) {
  using Network = std::conditional_t<is_sage<Net>::value, SageNetwork<Net, T, Compute>, GcnNetwork<Net, T, Compute>>;
  const ParamLayout layout = ModelTraits<Net>::layout(spec);
  const std::vector<T> params = compact_params<Net, T>(spec, 3);
  const int n = int(g.x.rows());
  eigen::CpuContext ctx(2);
  Network net(ctx);
  if constexpr (is_sage<Net>::value) {
    net.set_inference_block_rows(48);  // blocks on the Eigen policy, the whole graph on the copying one
    ModelTraits<Net>::configure(net, spec, n, pass);
  } else {
    ModelTraits<Net>::configure(net, spec, n);
  }
  const T* y = net.forward(params.data(), layout, g.x, g.template aggregation<Net>(), opt);
  std::vector<T> logits(y, y + std::size_t(n) * Net::num_classes), grads(layout.size(), T(0));
  if (opt.training) {
    Rng rng(5);
    for (std::size_t i = 0; i < logits.size(); ++i) net.dlogits()[i] = T(rng.normal());
    net.backward(params.data(), grads.data(), layout);
  }
  return {logits, grads};
}

template <class Net, class T>
void check_family() {
  const Graph<T> g(150, 9, 7);
  const ModelInfo info = ModelTraits<Net>::info();
  const Plan plan = WidthwiseRandom{}.plan(info, {4, 0, 2});
  const std::vector<double> scale = WidthwiseRandom{}.evaluation_scale(info, 2);
  for (const SubnetSpec& spec : {full_spec(info), plan.workers[0], plan.workers[1]})
    for (GraphNorm norm : {GraphNorm::None, GraphNorm::PerNode, GraphNorm::Whole})
      for (int mode = 0; mode < 4; ++mode) {  // training without and with dropout; evaluation; inference pass
        CAPTURE(spec.kept_units.empty() ? 0 : spec.kept_units[0].size());
        CAPTURE(int(norm));
        CAPTURE(mode);
        if (mode == 3 && !is_sage<Net>::value) continue;
        GraphForwardOptions opt;
        opt.norm = norm;
        opt.seed = 11;
        opt.training = mode < 2;
        opt.dropout = mode == 1 ? 0.5 : 0.0;
        if (mode >= 2) opt.input_scale = scale;
        const GraphPass pass = mode == 3 ? GraphPass::Inference : GraphPass::Training;
        const auto want = run<Net, T, eigen::Compute>(g, spec, opt, pass);
        const auto got = run<Net, T, CopyingCompute>(g, spec, opt, pass);
        CHECK(got.first == want.first);
        CHECK(got.second == want.second);
      }
}

// One network on one graph whose features change in place between steps, as GraphBatches' Cluster-GCN batches
// are rebuilt in the same objects: forward and backward again without forget_input() copy nothing new; after
// it, the changed features are copied and the results equal the Eigen policy's on them.
template <class Net>
void check_forget_input() {
  Graph<float> g(120, 9, 8);
  const SubnetSpec spec = full_spec(ModelTraits<Net>::info());
  const ParamLayout layout = ModelTraits<Net>::layout(spec);
  const std::vector<float> params = compact_params<Net, float>(spec, 4);
  const int n = int(g.x.rows());
  using Network = std::conditional_t<is_sage<Net>::value, SageNetwork<Net, float, CopyingCompute>,
                                     GcnNetwork<Net, float, CopyingCompute>>;
  eigen::CpuContext ctx(1);
  Network net(ctx);
  ModelTraits<Net>::configure(net, spec, n);
  GraphForwardOptions opt;
  opt.dropout = 0.3;
  std::vector<float> grads(layout.size());
  CopyingCompute::copies = 0;
  for (int step = 0; step < 3; ++step) {
    (void)net.forward(params.data(), layout, g.x, g.aggregation<Net>(), opt);
    net.backward(params.data(), grads.data(), layout);
  }
  CHECK(CopyingCompute::copies == 2);  // the first forward's: X (GCN) or [X ‖ M X] (GraphSAGE), and the aggregation
  for (int i = 0; i < int(g.x.nonZeros()); ++i) g.x.valuePtr()[i] *= 2.0f;
  net.forget_input();
  const float* y = net.forward(params.data(), layout, g.x, g.aggregation<Net>(), opt);
  CHECK(CopyingCompute::copies == 4);
  const std::vector<float> got(y, y + std::size_t(n) * Net::num_classes);
  using Reference = std::conditional_t<is_sage<Net>::value, SageNetwork<Net>, GcnNetwork<Net>>;
  Reference ref(ctx);
  ModelTraits<Net>::configure(ref, spec, n);
  const float* r = ref.forward(params.data(), layout, g.x, g.aggregation<Net>(), opt);
  CHECK(std::equal(got.begin(), got.end(), r));
}

}  // namespace

TEST_CASE("graph policy: GraphSAGE on a copying policy gives the Eigen policy's results bit for bit") {
  check_family<SageNet, double>();
  check_family<SageNet, float>();
}

TEST_CASE("graph policy: GCN on a copying policy gives the Eigen policy's results bit for bit") {
  check_family<GcnNet, double>();
  check_family<GcnNet, float>();
}

TEST_CASE("graph policy: matrices are copied once while they come back, and again after forget_input") {
  check_forget_input<SageNet>();
  check_forget_input<GcnNet>();
}

}  // namespace test_graph_policy
