#pragma once
// GraphBatches: the local work of the graph families (ist::Gcn, ist::Sage). It reads a GraphSource
// (ist/data/graph_source.hpp): a GraphDataset in memory, or a mapped ISTGRAPH file with a partition (and the
// whole graph in memory only where it is evaluated: the coordinator). Two kinds of local step:
//   - full batch (TrainerConfig::graph.clusters_per_batch == 0): one step on the whole graph, which every
//     worker holds (GIST on Cora, Citeseer, Pubmed); one step is one epoch;
//   - Cluster-GCN (clusters_per_batch = q >= 1): one step on the subgraph of q parts of the source's partition
//     (GraphDataset::partition, or the file's, from partition_graph), the edges between them restored
//     (ClusterBatcher, from the file where the source has one: the same batch bit for bit). Worker w's epoch e
//     is a shuffle of the parts (its share of them with DataSplit::Disjoint: parts w, w + S, ...) drawn from
//     (seed, w, e) only, cut into batches of q; an epoch is floor(parts / q) steps.
// The family's traits say which sparse matrix its layers aggregate neighbours with:
//   static const GraphMatrix& aggregation_matrix(const GraphDataset&);   Gcn: A_hat; Sage: D^-1 A
// Dropout masks are a pure function of (seed, worker, round, step), so a resumed or distributed run draws
// the same masks and batches. Evaluation runs the global model at full width without dropout on the whole
// graph (the source's dataset), layer by layer, and scores the train, val and test nodes.
//
// Weight decay: with TrainerConfig::graph.decay_first_layer_only (Kipf & Welling), the optimizer's decay is
// added here as L2 to the gradient of the first layer's weight only, and the optimizer runs without decay.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/elementwise.hpp"
#include "ist/backend/eigen/graph_ops.hpp"
#include "ist/backend/eigen/node_cross_entropy.hpp"
#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/cluster_batch.hpp"
#include "ist/data/graph.hpp"
#include "ist/data/graph_source.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/networks/graph_layers.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/train/local_steps.hpp"
#include "ist/train/local_work.hpp"
#include "ist/train/trainer_config.hpp"

namespace ist {

struct GraphBatches {
  static constexpr std::uint64_t kClusterStream = 0x434c5553u;  // "CLUS"

  // A worker's data: the graph source (the whole graph for full-batch steps, which is also what fit() scores:
  // its val and test nodes); with Cluster-GCN batches also its parts, its batch builder and its position in its
  // batch stream.
  struct Worker {
    std::optional<GraphSource> source;
    int worker = 0;
    int steps_per_epoch = 1;                 // of the whole run (steps_per_epoch above)
    std::vector<std::int32_t> parts;         // the parts this worker draws batches from
    std::optional<ClusterBatcher> batcher;
    std::uint64_t step = 0;                  // local steps taken so far
    std::vector<std::int32_t> order;         // the shuffle of `parts` for epoch order_epoch (batch_parts)
    std::uint64_t order_epoch = ~std::uint64_t{0};
  };
  using Data = GraphSource;
  using EvalData = Data;
  static constexpr bool evaluates_on_training_data = true;

  static void check(const ModelInfo& info, const GraphSource& src) {
    const char* who = "ist::IndependentSubnetTrainer";
    IST_CHECK(src.num_features() == info.in_features, who, ": ", src.source(), ": the model takes ", info.in_features,
              " features per node, the graph has ", src.num_features());
    IST_CHECK(src.num_classes() <= info.num_classes, who, ": ", src.source(), ": the graph has ", src.num_classes(),
              " classes, the model only ", info.num_classes);
    if (const GraphDataset* d = src.dataset()) {
      const GraphDataset& g = *d;
      IST_CHECK(g.features.cols() == info.in_features, who, ": ", g.source, ": the model takes ", info.in_features,
                " features per node, the graph's feature matrix has ", g.features.cols());
      IST_CHECK(g.features.rows() == g.num_nodes && g.labels.size() == std::size_t(g.num_nodes), who, ": ", g.source,
                ": features and labels must have ", g.num_nodes, " rows");
      // Each family reads one of the two matrices (its traits' aggregation_matrix); the other may be left out.
      IST_CHECK(g.adjacency.rows() == 0 || g.adjacency.rows() == g.num_nodes, who, ": ", g.source,
                ": adjacency must have ", g.num_nodes, " rows (or none), found ", g.adjacency.rows());
      IST_CHECK(g.mean_aggregation.rows() == 0 || g.mean_aggregation.rows() == g.num_nodes, who, ": ", g.source,
                ": mean_aggregation must have ", g.num_nodes, " rows, found ", g.mean_aggregation.rows());
    }
    if (src.file())
      IST_CHECK(std::find(src.file()->splits().begin(), src.file()->splits().end(), NodeSplit::train) !=
                    src.file()->splits().end(),
                who, ": ", src.source(), ": the graph has no training nodes");
    else
      IST_CHECK(!src.dataset()->train.empty(), who, ": ", src.source(), ": the graph has no training nodes");
  }

  // The family's aggregation matrix of g, or an ist::Error naming the missing one.
  template <class Traits>
  static const GraphMatrix& aggregation(const GraphDataset& g, const char* who) {
    const GraphMatrix& m = Traits::aggregation_matrix(g);
    IST_CHECK(m.rows() == g.num_nodes && m.cols() == g.num_nodes, who, ": ", g.source,
              ": the model aggregates neighbours with a matrix the graph was built without (expected ", g.num_nodes,
              " x ", g.num_nodes, ", found ", m.rows(), " x ", m.cols(), "; a GraphSAGE reads GraphDataset::"
              "mean_aggregation: build it with ist::mean_aggregation_matrix; a GCN reads GraphDataset::adjacency: "
              "to_graph_dataset with gcn_adjacency = true, or ist::gcn_normalized_adjacency)");
    return m;
  }

  // The parts worker w of S draws from: all of them, or with DataSplit::Disjoint parts w, w + S, ...
  static std::vector<std::int32_t> parts_of(const GraphSource& g, const TrainerConfig& cfg, int w, int workers) {
    std::vector<std::int32_t> parts;
    const bool disjoint = cfg.data_split == DataSplit::Disjoint && workers > 1;
    for (int p = disjoint ? w : 0; p < g.partition().num_parts; p += disjoint ? workers : 1) parts.push_back(p);
    return parts;
  }

  // Full batch: 1. Cluster-GCN: floor(parts / q) for the smallest share, the same on every process.
  static int steps_per_epoch(const GraphSource& g, const TrainerConfig& cfg, int workers) {
    const int q = cfg.graph.clusters_per_batch;
    if (q == 0) return 1;
    const int num_parts = g.partition().num_parts;
    const int parts = cfg.data_split == DataSplit::Disjoint && workers > 1 ? num_parts / workers : num_parts;
    IST_CHECK(num_parts >= 1, "ist::IndependentSubnetTrainer: ", g.source(), ": clusters_per_batch = ", q,
              " needs a partitioned graph (GraphDataset::partition, set by ist::partition_graph), found none");
    IST_CHECK(parts >= q, "ist::IndependentSubnetTrainer: ", g.source(), ": clusters_per_batch = ", q, " but each of ",
              workers, " workers has only ", parts, " of the ", num_parts,
              " parts: use fewer clusters per batch or more partitions");
    return parts / q;
  }

  static void prepare(Worker& wk, const GraphSource& g, const TrainerConfig& cfg, int w, int workers) {
    if (cfg.graph.clusters_per_batch == 0) (void)g.whole("ist::GraphBatches: full-batch steps");
    wk.source.emplace(g);
    wk.worker = w;
    wk.step = 0;
    wk.batcher.reset();
    if (cfg.graph.clusters_per_batch > 0) {
      wk.parts = parts_of(g, cfg, w, workers);
      wk.order_epoch = ~std::uint64_t{0};
      const ClusterBatchOptions opt{cfg.graph.diag_lambda};
      if (g.file())
        wk.batcher.emplace(*g.file(), g.partition(), g.feature_options(), opt);
      else
        wk.batcher.emplace(*g.dataset(), opt);
      wk.steps_per_epoch = steps_per_epoch(g, cfg, workers);
    }
  }
  static void seek(Worker& wk, std::uint64_t step) { wk.step = step; }
  static bool applies_weight_decay(const TrainerConfig& cfg) { return cfg.graph.decay_first_layer_only; }

  // The parts of worker wk's batch at local step `step`: batch (step mod E) of epoch (step div E), E the
  // steps per epoch, from that epoch's shuffle of the worker's parts (drawn once per epoch and kept in wk).
  static std::vector<std::int32_t> batch_parts(Worker& wk, const TrainerConfig& cfg, std::uint64_t step) {
    const std::uint64_t epoch = step / std::uint64_t(wk.steps_per_epoch);
    if (epoch != wk.order_epoch) {
      wk.order = wk.parts;
      Rng(cfg.seed, {kClusterStream, std::uint64_t(wk.worker), epoch}).shuffle(std::span<std::int32_t>(wk.order));
      wk.order_epoch = epoch;
    }
    const std::size_t q = std::size_t(cfg.graph.clusters_per_batch);
    const std::size_t at = std::size_t(step % std::uint64_t(wk.steps_per_epoch)) * q;
    return {wk.order.begin() + std::ptrdiff_t(at), wk.order.begin() + std::ptrdiff_t(at + q)};
  }

  // Every policy runs the same steps: params and grads are the policy's memory (the host's, or the GPU's on
  // ist::CudaBackend), the graph's matrices are host Eigen matrices that the network binds (the CUDA policy
  // uploads them), and the three ops below are found through the context (ADL): zeroing, y += a x (the first
  // layer's decay), and the loss of the scored nodes from host label and node lists (eigen::score_nodes, or
  // cuda::score_nodes, which uploads them).
  template <class Traits, class Context, class Net, class Opt, class LrOf>
  static StepStats run(Context& ctx, Net& net, Opt& opt, std::span<float> params, std::span<float> grads,
                       const ParamLayout& layout, const SubnetSpec& spec, Worker& wk, const LocalRun& r,
                       LrOf&& lr_of) {
    const TrainerConfig& cfg = *r.config;
    // Kipf & Welling decay the first layer only: block 0, first in the compact buffer (a GCN: its weight; a
    // GraphSAGE: its weight and bias).
    const std::size_t decayed = applies_weight_decay(cfg) ? layout.block_offset(1) : 0;
    const float wd = float(r.weight_decay);
    StepStats s;
    for (int i = 0; i < r.steps; ++i, ++wk.step) {
      const auto lr = lr_of(i);
      const GraphDataset& g = wk.batcher ? wk.batcher->build(batch_parts(wk, cfg, wk.step)).graph
                                         : wk.source->whole("ist::GraphBatches: full-batch steps");
      // A network that keeps what it derived from its input matrices (GraphSAGE's [X ‖ M X]) must not take a
      // new batch, rebuilt in the same objects, for the last one.
      if constexpr (requires { net.forget_input(); })
        if (wk.batcher) net.forget_input();
      if (g.train.empty()) {  // a batch without training nodes: nothing to learn from, the step still counts
        s.step_loss.push_back(0.0);
        ++s.steps;
        continue;
      }
      Traits::configure(net, spec, g.num_nodes);
      GraphForwardOptions fwd;
      fwd.training = true;
      fwd.dropout = cfg.graph.dropout;
      fwd.norm = cfg.graph.norm;
      constexpr std::uint64_t kDropoutStream = 0x44524f50u;  // "DROP"
      fwd.seed = derive_seed(cfg.seed, {kDropoutStream, std::uint64_t(r.worker), r.round, std::uint64_t(i)});
      const float* logits =
          net.forward(params.data(), layout, g.features, aggregation<Traits>(g, "ist::GraphBatches"), fwd);
      const auto l = score_nodes(ctx, std::size_t(g.num_nodes), Net::num_classes, logits,
                                 std::span<const std::int32_t>(g.labels), std::span<const std::int32_t>(g.train),
                                 net.dlogits());
      fill_zero(ctx, grads.size(), grads.data());
      net.backward(params.data(), grads.data(), layout);
      if (wd > 0) add_scaled(ctx, decayed, wd, static_cast<const float*>(params.data()), grads.data());
      opt.step(params, std::span<const float>(grads), lr);
      s.loss_sum += l.loss * double(g.train.size());
      s.step_loss.push_back(l.loss);
      s.correct += l.correct;
      s.samples += int(g.train.size());
      ++s.steps;
    }
    return s;
  }

  template <class Traits, class Context, class Net>
  static Evaluation evaluate(Context& ctx, Net& net, std::span<const float> params, const SubnetSpec& all,
                             const ParamLayout& layout, const GraphSource& src, const TrainerConfig& cfg,
                             std::span<const double> scale) {
    const GraphDataset& g = src.whole("ist::GraphBatches::evaluate");
    // A network with an inference-only workspace evaluates the whole graph in a fraction of the memory.
    if constexpr (requires { net.configure(1, GraphPass::Inference); })
      Traits::configure(net, all, g.num_nodes, GraphPass::Inference);
    else
      Traits::configure(net, all, g.num_nodes);
    GraphForwardOptions opt;
    opt.training = false;
    opt.norm = cfg.graph.norm;
    opt.input_scale = scale;
    const float* logits =
        net.forward(params.data(), layout, g.features, aggregation<Traits>(g, "ist::GraphBatches::evaluate"), opt);
    auto score = [&](const std::vector<std::int32_t>& nodes) {
      EvalResult r;
      if (nodes.empty()) return r;
      const auto l = score_nodes(ctx, std::size_t(g.num_nodes), Net::num_classes, logits,
                                 std::span<const std::int32_t>(g.labels), std::span<const std::int32_t>(nodes),
                                 static_cast<float*>(nullptr));
      r.loss = l.loss;
      r.samples = int(nodes.size());
      r.accuracy = double(l.correct) / r.samples;
      return r;
    };
    return Evaluation{score(g.test), score(g.val), score(g.train)};
  }
};

static_assert(LocalWork<GraphBatches>);

}  // namespace ist
