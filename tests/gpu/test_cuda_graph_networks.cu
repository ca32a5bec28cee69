// SageNetwork and GcnNetwork on ist::cuda::Compute against the same networks on ist::eigen::Compute, on a small
// random graph: logits and every parameter block's gradient within 1e-4 (relative L2), for the full network and
// for width-wise sub-networks on their compact buffers, without and with dropout (the GPU's masks are Eigen's
// bit for bit), with each GraphNorm, in training and in evaluation passes (GraphSAGE's GraphPass::Inference
// too, with GIST's evaluation scale); a second graph after forget_input (as Cluster-GCN batches come), and
// bit-identical repeats on the GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "gpu_test_util.cuh"
#include "ist/backend/cuda/compute.cuh"
#include "ist/backend/eigen/compute.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/graph.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/model/gcn.hpp"
#include "ist/model/sage.hpp"
#include "ist/networks/graph_layers.hpp"
#include "ist/train/gcn_traits.hpp"
#include "ist/train/sage_traits.hpp"

namespace test_cuda_graph_networks {

using namespace ist;
using test::download;
using test::random_floats;
using test::rel_l2;
using test::upload;

namespace {

// Float sums in another order (cuSPARSE, cuBLAS) differ by about 1e-7 relative. Should a ReLU input fall that
// close to 0 in one case, its unit's gradient would differ by far more than this: check such a case with the
// ReLU input printed before suspecting the op.
constexpr double net_tol = 1e-4;

using Edges = std::vector<std::array<std::int32_t, 2>>;

// A random graph in float: nonnegative sparse features X [N, F] (about 10% nonzeros, at least one per row, each
// row divided by its sum as load_planetoid does), and over random edges among the first N - 1 nodes (the last
// node is isolated) A_hat = D^-1/2 (A + I) D^-1/2 and M = D^-1 A.
struct SmallGraph {
  GraphMatrix x, a, m;
  SmallGraph(int nodes, int features, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<Eigen::Triplet<float, int>> t;
    for (int i = 0; i < nodes; ++i) {
      std::vector<std::pair<int, double>> row;
      const int forced = int(rng.below(std::uint64_t(features)));
      double sum = 0;
      for (int j = 0; j < features; ++j)
        if (j == forced || rng.uniform() < 0.1) {
          row.emplace_back(j, rng.uniform() + 0.1);
          sum += row.back().second;
        }
      for (const auto& [j, v] : row) t.emplace_back(i, j, float(v / sum));
    }
    x.resize(nodes, features);
    x.setFromTriplets(t.begin(), t.end());
    x.makeCompressed();
    Edges e;
    for (int k = 0; k < 3 * nodes; ++k) {
      const auto u = std::int32_t(rng.below(std::uint64_t(nodes - 1)));
      e.push_back({u, std::int32_t(rng.below(std::uint64_t(nodes - 1)))});
    }
    a = gcn_normalized_adjacency(nodes, e);
    a.makeCompressed();
    m = mean_aggregation_matrix(nodes, e);
    m.makeCompressed();
  }
};

using SageNet = Sage<Input<40>, SageConv<32>, SageConv<24>, SageConv<5>>;
using GcnNet = Gcn<Input<40>, GraphConv<32>, GraphConv<24>, GraphConv<5>>;

// The aggregation matrix of the family: GraphSAGE's M, the GCN's A_hat.
template <class Net>
const GraphMatrix& aggregation(const SmallGraph& g) {
  if constexpr (is_sage<Net>::value)
    return g.m;
  else
    return g.a;
}

// The compact parameters of `spec`, from the family's initialization of the whole model.
template <class Net>
std::vector<float> compact_params(const SubnetSpec& spec, std::uint64_t seed) {
  std::vector<float> full(Net::num_params);
  ModelTraits<Net>::init(std::span<float>(full), seed);
  const SliceSet set = ModelTraits<Net>::slices(spec);
  std::vector<float> p(set.size());
  gather(std::span<const float>(full), set, std::span<float>(p));
  return p;
}

// One forward (and with opt.training, a backward from the probe dL/dlogits) of the sub-network `spec` on both
// policies; compares the logits and each block's gradient. `pass`: the networks' GraphPass (Inference: GraphSAGE
// only, evaluation only).
template <class Net>
void compare(const SmallGraph& g, const SubnetSpec& spec, const GraphForwardOptions& opt, std::uint64_t seed,
             GraphPass pass = GraphPass::Training) {
  using Traits = ModelTraits<Net>;
  const ParamLayout layout = Traits::layout(spec);
  const std::vector<float> params = compact_params<Net>(spec, seed);
  REQUIRE(params.size() == layout.size());
  const int n = int(g.x.rows());
  const std::size_t nlogits = std::size_t(n) * Net::num_classes;
  const std::vector<float> probe = random_floats(nlogits, seed + 1, 0.1);
  auto configure = [&](auto& net) {
    if (pass == GraphPass::Inference) {
      if constexpr (is_sage<Net>::value) Traits::configure(net, spec, n, GraphPass::Inference);
    } else {
      Traits::configure(net, spec, n);
    }
  };

  eigen::CpuContext cpu(2);
  typename Traits::template Network<eigen::Compute> cn(cpu);
  configure(cn);
  const float* cl = cn.forward(params.data(), layout, g.x, aggregation<Net>(g), opt);
  const std::vector<float> logits(cl, cl + nlogits);
  std::vector<float> grads(layout.size(), 0.f);
  if (opt.training) {
    std::copy(probe.begin(), probe.end(), cn.dlogits());
    cn.backward(params.data(), grads.data(), layout);
  }

  auto& ctx = test::gpu();
  typename Traits::template Network<cuda::Compute> gn(ctx);
  configure(gn);
  auto P = upload(params);
  cuda::DeviceBuffer<float> G(layout.size());
  const std::vector<float> glogits = download(gn.forward(P.data(), layout, g.x, aggregation<Net>(g), opt), nlogits);
  CHECK(rel_l2(glogits, logits) < net_tol);
  if (opt.training) {
    cuda::copy_to_device(gn.dlogits(), probe.data(), nlogits, ctx.stream());
    gn.backward(P.data(), G.data(), layout);
    const std::vector<float> ggrads = download(G);
    for (int b = 0; b < Net::num_blocks; ++b) {
      const std::size_t first = layout.block_offset(b);
      const std::size_t last = b + 1 < Net::num_blocks ? layout.block_offset(b + 1) : layout.size();
      CAPTURE(b);
      CHECK(rel_l2(std::span<const float>(ggrads.data() + first, last - first),
                   std::span<const float>(grads.data() + first, last - first)) < net_tol);
    }
  }
}

// Every case of one family: full width and two width-wise sub-networks (S = 2), dropout 0 and 0.5, each norm,
// training passes, then evaluation passes with GIST's evaluation scale.
template <class Net>
void compare_family(const SmallGraph& g) {
  const ModelInfo info = ModelTraits<Net>::info();
  const Plan plan = WidthwiseRandom{}.plan(info, {5, 0, 2});
  const std::vector<SubnetSpec> specs{full_spec(info), plan.workers[0], plan.workers[1]};
  const std::vector<double> scale = WidthwiseRandom{}.evaluation_scale(info, 2);
  std::uint64_t seed = 20;
  for (std::size_t s = 0; s < specs.size(); ++s)
    for (GraphNorm norm : {GraphNorm::None, GraphNorm::PerNode, GraphNorm::Whole}) {
      CAPTURE(s);
      CAPTURE(int(norm));
      for (double dropout : {0.0, 0.5}) {
        CAPTURE(dropout);
        GraphForwardOptions opt;
        opt.dropout = dropout;
        opt.norm = norm;
        opt.seed = ++seed;
        compare<Net>(g, specs[s], opt, seed);
      }
      GraphForwardOptions eval;
      eval.training = false;
      eval.norm = norm;
      eval.input_scale = scale;
      compare<Net>(g, specs[s], eval, ++seed);
      if constexpr (is_sage<Net>::value) compare<Net>(g, specs[s], eval, ++seed, GraphPass::Inference);
    }
}

// A training forward and backward on the GPU twice; the logits and gradients must be the same bits.
template <class Net>
void check_repeatable(const SmallGraph& g) {
  using Traits = ModelTraits<Net>;
  const SubnetSpec spec = full_spec(Traits::info());
  const ParamLayout layout = Traits::layout(spec);
  auto& ctx = test::gpu();
  typename Traits::template Network<cuda::Compute> net(ctx);
  Traits::configure(net, spec, int(g.x.rows()));
  auto P = upload(compact_params<Net>(spec, 9));
  const std::size_t nlogits = std::size_t(g.x.rows()) * Net::num_classes;
  const std::vector<float> probe = random_floats(nlogits, 10, 0.1);
  GraphForwardOptions opt;
  opt.dropout = 0.5;
  opt.norm = GraphNorm::PerNode;
  opt.seed = 3;
  std::vector<float> runs[2][2];
  for (auto& run : runs) {
    cuda::DeviceBuffer<float> G(layout.size());
    run[0] = download(net.forward(P.data(), layout, g.x, aggregation<Net>(g), opt), nlogits);
    cuda::copy_to_device(net.dlogits(), probe.data(), nlogits, ctx.stream());
    net.backward(P.data(), G.data(), layout);
    run[1] = download(G);
  }
  for (int k = 0; k < 2; ++k) {
    CAPTURE(k);
    REQUIRE(runs[0][k].size() == runs[1][k].size());
    CHECK(std::memcmp(runs[0][k].data(), runs[1][k].data(), runs[0][k].size() * sizeof(float)) == 0);
  }
}

// One network object on two graphs in turn, forget_input() between them (as GraphBatches does with Cluster-GCN
// batches): the second graph's logits match the CPU's, so nothing of the first graph's uploads was reused.
template <class Net>
void check_new_graph(const SmallGraph& g1, const SmallGraph& g2) {
  using Traits = ModelTraits<Net>;
  const SubnetSpec spec = full_spec(Traits::info());
  const ParamLayout layout = Traits::layout(spec);
  const std::vector<float> params = compact_params<Net>(spec, 11);
  GraphForwardOptions opt;
  opt.dropout = 0.5;
  opt.seed = 4;
  eigen::CpuContext cpu(1);
  typename Traits::template Network<eigen::Compute> cn(cpu);
  auto& ctx = test::gpu();
  typename Traits::template Network<cuda::Compute> gn(ctx);
  auto P = upload(params);
  for (const SmallGraph* g : {&g1, &g2}) {
    const int n = int(g->x.rows());
    Traits::configure(cn, spec, n);
    Traits::configure(gn, spec, n);
    cn.forget_input();
    gn.forget_input();
    const float* cl = cn.forward(params.data(), layout, g->x, aggregation<Net>(*g), opt);
    const std::vector<float> want(cl, cl + std::size_t(n) * Net::num_classes);
    const float* gl = gn.forward(P.data(), layout, g->x, aggregation<Net>(*g), opt);
    CHECK(rel_l2(download(gl, want.size()), want) < net_tol);
  }
}

}  // namespace

TEST_CASE("cuda graph networks: the trainer traits name the CUDA networks; only the Eigen policy has row blocks") {
  // Compile-time facts; no device needed.
  static_assert(!cuda::Compute::sparse_row_blocks && eigen::Compute::sparse_row_blocks);
  static_assert(std::is_same_v<ModelTraits<SageNet>::Network<cuda::Compute>,
                               SageNetwork<SageNet, float, cuda::Compute>>);
  static_assert(std::is_same_v<ModelTraits<GcnNet>::Network<cuda::Compute>,
                               GcnNetwork<GcnNet, float, cuda::Compute>>);
  CHECK(true);
}

TEST_SUITE("cuda-device") {

TEST_CASE("cuda graph networks: SageNetwork on the GPU matches the Eigen one (sub-networks, dropout, norms, passes)") {
  compare_family<SageNet>(SmallGraph(300, 40, 1));
}

TEST_CASE("cuda graph networks: GcnNetwork on the GPU matches the Eigen one (sub-networks, dropout, norms)") {
  compare_family<GcnNet>(SmallGraph(300, 40, 2));
}

TEST_CASE("cuda graph networks: GPU training steps are bit-identical run to run") {
  const SmallGraph g(300, 40, 3);
  check_repeatable<SageNet>(g);
  check_repeatable<GcnNet>(g);
}

TEST_CASE("cuda graph networks: a new graph after forget_input is uploaded anew (Cluster-GCN batches)") {
  const SmallGraph g1(300, 40, 4), g2(257, 40, 5);
  check_new_graph<SageNet>(g1, g2);
  check_new_graph<GcnNet>(g1, g2);
}

TEST_CASE("cuda graph networks: GraphPass::Inference evaluates the whole graph as one block on the GPU") {
  auto& ctx = test::gpu();
  SageNetwork<SageNet, float, cuda::Compute> net(ctx);
  net.set_inference_block_rows(48);
  net.configure(300, GraphPass::Inference);
  CHECK(net.inference_block_rows() == 300);
}

}  // TEST_SUITE("cuda-device")

}  // namespace test_cuda_graph_networks
