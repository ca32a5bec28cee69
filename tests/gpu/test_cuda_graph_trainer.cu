// GIST on the CUDA backend: GraphSubnetTrainer (IndependentSubnetTrainer with GraphBatches as its local work) with
// S = 2 workers as streams on one GPU (CudaBackend<cuda::StreamComm>) against the same run on the Eigen backend
// (CpuBackend<InProcessComm>), same config and seed, on a generated graph of 400 nodes:
//   - a 3-layer GraphSAGE in full-batch steps, without dropout, and with dropout 0.5 and GraphNorm::PerNode (the
//     GPU's dropout masks are the CPU's bit for bit), Adam with its own weight decay (cuda::Adam's decay path);
//   - the same GraphSAGE on Cluster-GCN batches of a hand-made partition (ClusterBatcher, forget_input on the GPU);
//   - a 2-layer GCN with Kipf & Welling's first-layer-only decay (GraphBatches' add_scaled on the GPU).
// Each compares every local step's loss, every round's training loss and accuracy, val and test figures and bytes
// moved (exactly), the final evaluation of the test, val and train nodes, and the global model tensor by tensor;
// and a second CUDA run must give the same weights bit for bit.
//
// Tolerances. The CUDA ops sum floats in another order than Eigen's (cuSPARSE, cuBLAS, block reductions): about
// 1e-7 relative per op, a few times that over a pass (tests/gpu/test_cuda_graph_networks.cu bounds logits
// and gradients at 1e-4). Measured on the CPU for exactly these configurations, an Eigen run from a start one
// float step away (the size of such a rounding difference) moves every loss by ~1e-9 relative and the global
// model by at most 2e-5 relative L2 in a tensor (the first layer's weight: Adam divides small gradients by their
// own small RMS, which amplifies their rounding; elsewhere 2e-6 or less). Hence:
//   - losses (each step, each round, val, test, final): 1e-4 relative. The nudged runs' losses differ by < 2e-8,
//     and a pass's rounding (~1e-7 on the logits) moves a mean over >= 40 nodes' losses by less still: two orders
//     of margin over the GPU's rounding, and still a check of its loss arithmetic;
//   - the global model, each tensor: relative L2 below max(1e-3, 10 x the Eigen-vs-nudged-Eigen distance of that
//     tensor), ~50x the worst rounding seen; what a broken step moves is far more (without the first layer's
//     decay the GCN's first weight ends 1e-1 away, while its losses move only ~4e-5);
//   - accuracies: a node whose two best logits lie within rounding of each other may flip: at most 2 nodes
//     (val, test, final), or 0.01 of a round's training predictions (>= 240 of them);
//   - bytes and messages of every round: exact (the same slices travel; the ledger counts them on the host).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include "gpu_test_util.cuh"
#include "ist/backend/cpu_backend.hpp"
#include "ist/backend/cuda/adam.cuh"
#include "ist/backend/cuda/cuda_backend.cuh"
#include "ist/backend/cuda/stream_comm.cuh"
#include "ist/comm/in_process_comm.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/graph.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/model/gcn.hpp"
#include "ist/model/sage.hpp"
#include "ist/optim/adam.hpp"
#include "ist/train/graph_trainer.hpp"

namespace test_cuda_graph_trainer {

namespace {

using namespace ist;

constexpr int kNodes = 400, kFeatures = 40, kClasses = 5, kParts = 8;

using SageNet = Sage<Input<kFeatures>, SageConv<32>, SageConv<32>, SageConv<kClasses>>;
using GcnNet = Gcn<Input<kFeatures>, GraphConv<32>, GraphConv<kClasses>>;

constexpr double kLossTol = 1e-4;             // relative, every loss
constexpr double kParamTol = 1e-3;            // relative L2, each tensor of the global model (at least)
constexpr double kParamNoiseFactor = 10;      // ... or this many times Eigen's own rounding sensitivity
constexpr double kRoundAccuracyTol = 0.01;    // a round's training accuracy, absolute
constexpr double kEvalFlips = 2;              // nodes of val, test or train whose prediction may differ

// A generated node-classification graph: kNodes nodes of kClasses random classes; kFeatures sparse nonnegative
// features per node (about 10% random nonzeros plus one of 8 features of its class, each row summing to 1 as
// load_planetoid's do), 4 kNodes random edges, 3 of 4 within a class (the networks have something to learn);
// A_hat (the GCN's) and M (GraphSAGE's); train / val / test nodes i % 5 in {0, 1} / {2} / {3, 4}; a partition
// into kParts ranges of consecutive ids (Cluster-GCN's parts, hand-made: no METIS needed).
GraphDataset make_graph(std::uint64_t seed) {
  Rng rng(seed);
  GraphDataset g;
  g.name = g.source = "generated";
  g.num_nodes = kNodes;
  g.num_features = kFeatures;
  g.num_classes = kClasses;
  g.labels.resize(std::size_t(kNodes));
  std::vector<std::vector<std::int32_t>> of_class(kClasses);
  for (int i = 0; i < kNodes; ++i) {
    const auto c = std::int32_t(rng.below(kClasses));
    g.labels[std::size_t(i)] = c;
    of_class[std::size_t(c)].push_back(i);
  }
  constexpr int per_class = kFeatures / kClasses;
  std::vector<Eigen::Triplet<float, int>> t;
  for (int i = 0; i < kNodes; ++i) {
    std::vector<std::pair<int, double>> row;
    const int forced = g.labels[std::size_t(i)] * per_class + int(rng.below(per_class));
    double sum = 0;
    for (int j = 0; j < kFeatures; ++j)
      if (j == forced || rng.uniform() < 0.1) {
        row.emplace_back(j, rng.uniform() + 0.1);
        sum += row.back().second;
      }
    for (const auto& [j, v] : row) t.emplace_back(i, j, float(v / sum));
  }
  g.features.resize(kNodes, kFeatures);
  g.features.setFromTriplets(t.begin(), t.end());
  g.features.makeCompressed();
  std::vector<std::array<std::int32_t, 2>> edges;
  for (int k = 0; k < 4 * kNodes; ++k) {
    const auto u = std::int32_t(rng.below(kNodes));
    const auto& same = of_class[std::size_t(g.labels[std::size_t(u)])];
    const auto v = k % 4 == 3 ? std::int32_t(rng.below(kNodes)) : same[std::size_t(rng.below(same.size()))];
    edges.push_back({u, v});
  }
  g.adjacency = gcn_normalized_adjacency(kNodes, edges);
  g.mean_aggregation = mean_aggregation_matrix(kNodes, edges);
  g.num_edges = g.mean_aggregation.nonZeros() / 2;
  for (int i = 0; i < kNodes; ++i) (i % 5 < 2 ? g.train : i % 5 == 2 ? g.val : g.test).push_back(i);
  std::vector<std::int32_t> part_of(static_cast<std::size_t>(kNodes));
  for (int i = 0; i < kNodes; ++i) part_of[std::size_t(i)] = std::int32_t(i * kParts / kNodes);
  g.partition = make_graph_partition(std::move(part_of), kParts);
  return g;
}

const GraphDataset& graph() {
  static const GraphDataset g = make_graph(11);
  return g;
}

// 2 rounds of L = 3 local steps, evaluated after each; dropout and decay set by each case.
TrainerConfig short_run() {
  TrainerConfig c;
  c.local_steps = 3;
  c.epochs = 6;
  c.max_rounds = 2;
  c.eval_every = 1;
  c.progress = false;
  c.seed = 5;
  c.graph.dropout = 0;
  return c;
}

// GIST's Adam with its weight decay, applied by the optimizer (decay_first_layer_only = false) or by
// GraphBatches on the first layer's gradient (true).
const optim::AdamConfig kAdam{.lr = 0.01, .weight_decay = 5e-4};

struct Run {
  FitResult fit;
  std::vector<float> params;  // the global model after the run
  ModelInfo info;
};

// nudge 1 (2): every initial parameter one float step up at even (odd) indices and down at the others, a
// rounding-sized change of the starting point: how much Eigen's own run depends on rounding.
template <class Net, class B>
Run train(B backend, const TrainerConfig& cfg, int nudge = 0) {
  GraphSubnetTrainer<Net, WidthwiseRandom, HolderAverage, B> t(WidthwiseRandom{}, HolderAverage{}, std::move(backend),
                                                               cfg, kAdam);
  if (nudge > 0) {
    auto p = t.params();
    for (std::size_t i = 0; i < p.size(); ++i)
      p[i] = std::nextafter(p[i], (i % 2 == 0) == (nudge == 1) ? INFINITY : -INFINITY);
  }
  Run r{t.fit(graph()), {}, t.info()};
  r.params.assign(t.params().begin(), t.params().end());
  return r;
}

template <class Net>
Run train_cpu(const TrainerConfig& cfg, int nudge = 0) {
  return train<Net>(CpuBackend<InProcessComm>(InProcessComm(2), 1), cfg, nudge);
}
template <class Net>
Run train_gpu(const TrainerConfig& cfg) {
  return train<Net>(CudaBackend<cuda::StreamComm>(cuda::StreamComm(2)), cfg);
}

double rel_diff(double got, double want) { return std::abs(got - want) / std::abs(want); }

std::span<const float> tensor(const Run& r, const TensorInfo& t) { return {r.params.data() + t.offset, t.size}; }

void check_eval(const char* which, const EvalResult& g, const EvalResult& c) {
  CAPTURE(which);
  REQUIRE(c.samples > 0);
  CHECK(g.samples == c.samples);
  CHECK(rel_diff(g.loss, c.loss) < kLossTol);
  CHECK(std::abs(g.accuracy - c.accuracy) * c.samples <= kEvalFlips + 1e-9);
}

// The CUDA run against the Eigen run of the same config: see the file's comment for what and how close.
template <class Net>
void compare_with_cpu(const char* what, const TrainerConfig& cfg) {
  const Run cpu = train_cpu<Net>(cfg);
  const Run gpu = train_gpu<Net>(cfg);
  REQUIRE(cpu.fit.rounds.size() == 2);
  REQUIRE(gpu.fit.rounds.size() == 2);
  const GraphDataset& g = graph();
  for (std::size_t r = 0; r < 2; ++r) {
    CAPTURE(r);
    const RoundRecord& c = cpu.fit.rounds[r];
    const RoundRecord& d = gpu.fit.rounds[r];
    std::printf("ist-gpu: GIST %s S=2 round %zu: train loss CUDA %.7f, Eigen %.7f (rel %.2e); accuracy %.4f vs %.4f; "
                "val loss %.7f vs %.7f; bytes %llu vs %llu\n",
                what, r + 1, d.train_loss, c.train_loss, rel_diff(d.train_loss, c.train_loss), d.train_accuracy,
                c.train_accuracy, d.val_loss, c.val_loss, (unsigned long long)d.bytes(), (unsigned long long)c.bytes());
    CHECK(d.workers == c.workers);
    CHECK(rel_diff(d.train_loss, c.train_loss) < kLossTol);
    CHECK(std::abs(d.train_accuracy - c.train_accuracy) <= kRoundAccuracyTol);
    // Each worker's local steps, one by one.
    REQUIRE(c.step_losses.size() == 2);
    REQUIRE(d.step_losses.size() == c.step_losses.size());
    for (std::size_t w = 0; w < c.step_losses.size(); ++w) {
      CAPTURE(w);
      REQUIRE(c.step_losses[w].size() == std::size_t(cfg.local_steps));
      REQUIRE(d.step_losses[w].size() == c.step_losses[w].size());
      for (std::size_t s = 0; s < c.step_losses[w].size(); ++s) {
        CAPTURE(s);
        CHECK(rel_diff(d.step_losses[w][s], c.step_losses[w][s]) < kLossTol);
      }
    }
    // The round's evaluation of the global model.
    CHECK(rel_diff(d.val_loss, c.val_loss) < kLossTol);
    CHECK(rel_diff(d.test_loss, c.test_loss) < kLossTol);
    CHECK(std::abs(d.val_accuracy - c.val_accuracy) * double(g.val.size()) <= kEvalFlips + 1e-9);
    CHECK(std::abs(d.test_accuracy - c.test_accuracy) * double(g.test.size()) <= kEvalFlips + 1e-9);
    // The ledger: the same slices both ways, counted exactly.
    CHECK(d.bytes_to_workers == c.bytes_to_workers);
    CHECK(d.bytes_from_workers == c.bytes_from_workers);
    CHECK(d.messages == c.messages);
    CHECK(d.mean_subnet_params == c.mean_subnet_params);
    CHECK(c.bytes_to_workers > 0);
  }
  CHECK(gpu.fit.total_bytes == cpu.fit.total_bytes);
  check_eval("test", gpu.fit.final_eval, cpu.fit.final_eval);
  check_eval("val", gpu.fit.final_val, cpu.fit.final_val);
  check_eval("train", gpu.fit.final_train, cpu.fit.final_train);

  // The global model, tensor by tensor, against Eigen's own sensitivity to rounding (two nudged starts).
  const Run nudged[2] = {train_cpu<Net>(cfg, 1), train_cpu<Net>(cfg, 2)};
  REQUIRE(gpu.params.size() == cpu.params.size());
  for (const TensorInfo& t : cpu.info.tensors) {
    CAPTURE(t.name);
    const double got = test::rel_l2(tensor(gpu, t), tensor(cpu, t));
    const double noise = std::max(test::rel_l2(tensor(nudged[0], t), tensor(cpu, t)),
                                  test::rel_l2(tensor(nudged[1], t), tensor(cpu, t)));
    std::printf("ist-gpu: GIST %s S=2 after 2 rounds: %s rel L2 CUDA vs Eigen %.2e (Eigen vs Eigen nudged %.2e)\n",
                what, t.name.c_str(), got, noise);
    CHECK(got < std::max(kParamTol, kParamNoiseFactor * noise));
  }
  const double whole = test::rel_l2(gpu.params, cpu.params);
  const double whole_noise =
      std::max(test::rel_l2(nudged[0].params, cpu.params), test::rel_l2(nudged[1].params, cpu.params));
  std::printf("ist-gpu: GIST %s S=2 after 2 rounds: global model rel L2 %.2e (nudged Eigen %.2e); test accuracy "
              "%.4f vs %.4f\n", what, whole, whole_noise, gpu.fit.final_eval.accuracy, cpu.fit.final_eval.accuracy);
  CHECK(whole < std::max(kParamTol, kParamNoiseFactor * whole_noise));
  // The same seed on the GPU: the same weights, bit for bit (deterministic kernels, each worker on its stream).
  const Run again = train_gpu<Net>(cfg);
  REQUIRE(again.params.size() == gpu.params.size());
  CHECK(std::memcmp(again.params.data(), gpu.params.data(), gpu.params.size() * sizeof(float)) == 0);
}

}  // namespace

TEST_SUITE("cuda-device") {

// Full-batch GIST on a GraphSAGE: the GPU's training loop (score_nodes, fill_zero, cuda::Adam with its own decay),
// merge and evaluation follow the CPU's; with dropout, the masks of every step are the CPU's.
TEST_CASE("GIST on a GraphSAGE with S = 2 workers as streams follows the Eigen run") {
  TrainerConfig cfg = short_run();
  cfg.graph.decay_first_layer_only = false;  // Adam's own weight decay on every parameter
  SUBCASE("no dropout") { compare_with_cpu<SageNet>("GraphSAGE", cfg); }
  SUBCASE("dropout 0.5, per-node norm") {
    cfg.graph.dropout = 0.5;
    cfg.graph.norm = GraphNorm::PerNode;
    compare_with_cpu<SageNet>("GraphSAGE dropout 0.5 per-node norm", cfg);
  }
}

// Cluster-GCN: each local step trains on 2 of the 8 parts (4 steps per epoch, so round 2 crosses into the second
// epoch's shuffle); the GPU network forgets its uploads of the last batch (forget_input) and must train on the
// new one exactly as the CPU does.
TEST_CASE("GIST on a GraphSAGE in Cluster-GCN batches with S = 2 workers as streams follows the Eigen run") {
  TrainerConfig cfg = short_run();
  cfg.graph.decay_first_layer_only = false;
  cfg.graph.clusters_per_batch = 2;
  compare_with_cpu<SageNet>("GraphSAGE Cluster-GCN", cfg);
}

// A GCN with Kipf & Welling's decay of the first layer only: GraphBatches adds 5e-4 x its weight to that gradient
// on the GPU (add_scaled) and Adam runs without decay; dropout 0.5.
TEST_CASE("GIST on a GCN with first-layer weight decay and S = 2 workers as streams follows the Eigen run") {
  TrainerConfig cfg = short_run();
  cfg.graph.decay_first_layer_only = true;
  cfg.graph.dropout = 0.5;
  compare_with_cpu<GcnNet>("GCN first-layer decay", cfg);
}

}  // TEST_SUITE("cuda-device")

}  // namespace test_cuda_graph_trainer
