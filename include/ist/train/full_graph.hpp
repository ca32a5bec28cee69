#pragma once
// FullGraph: the local work of the graph families (ist::Gcn, ist::Sage): every local step is one full-batch
// step on the whole graph, which every worker holds (GIST on Cora, Citeseer, Pubmed). One step is one epoch.
// The family's traits say which sparse matrix its layers aggregate neighbours with:
//   static const GraphMatrix& aggregation_matrix(const GraphDataset&);   Gcn: A_hat; Sage: D^-1 A
// Dropout masks are a pure function of (seed, worker, round, step), so a resumed or distributed run draws
// the same masks. Evaluation runs the global model at full width without dropout and scores the train, val
// and test nodes.
//
// Weight decay: with TrainerConfig::graph.decay_first_layer_only (Kipf & Welling), the optimizer's decay is
// added here as L2 to the gradient of the first layer's weight only, and the optimizer runs without decay.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "ist/backend/eigen/node_cross_entropy.hpp"
#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/graph.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/networks/graph_layers.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/train/local_steps.hpp"
#include "ist/train/local_work.hpp"
#include "ist/train/trainer_config.hpp"

namespace ist {

struct FullGraph {
  // A worker's data is the whole graph, which is also what fit() scores (its val and test nodes).
  struct Worker {
    const GraphDataset* graph = nullptr;
  };
  using Data = GraphDataset;
  using EvalData = Data;
  static constexpr bool evaluates_on_training_data = true;

  static void check(const ModelInfo& info, const GraphDataset& g) {
    const char* who = "ist::IndependentSubnetTrainer";
    IST_CHECK(g.num_features == info.in_features && g.features.cols() == info.in_features, who, ": ", g.source,
              ": the model takes ", info.in_features, " features per node, the graph has ", g.features.cols());
    IST_CHECK(g.num_classes <= info.num_classes, who, ": ", g.source, ": the graph has ", g.num_classes,
              " classes, the model only ", info.num_classes);
    IST_CHECK(g.features.rows() == g.num_nodes && g.adjacency.rows() == g.num_nodes &&
                  g.labels.size() == std::size_t(g.num_nodes),
              who, ": ", g.source, ": features, adjacency and labels must all have ", g.num_nodes, " rows");
    IST_CHECK(!g.train.empty(), who, ": ", g.source, ": the graph has no training nodes");
    IST_CHECK(g.mean_aggregation.rows() == 0 || g.mean_aggregation.rows() == g.num_nodes, who, ": ", g.source,
              ": mean_aggregation must have ", g.num_nodes, " rows, found ", g.mean_aggregation.rows());
  }

  static int steps_per_epoch(const GraphDataset&, const TrainerConfig&, int) { return 1; }
  static void prepare(Worker& wk, const GraphDataset& g, const TrainerConfig&, int, int) { wk.graph = &g; }
  static void seek(Worker&, std::uint64_t) {}  // nothing to position: masks come from (seed, worker, round, step)
  static bool applies_weight_decay(const TrainerConfig& cfg) { return cfg.graph.decay_first_layer_only; }

  template <class Traits, class Context, class Net, class Opt, class LrOf>
  static StepStats run(Context&, Net& net, Opt& opt, std::span<float> params, std::span<float> grads,
                       const ParamLayout& layout, const SubnetSpec& spec, Worker& wk, const LocalRun& r,
                       LrOf&& lr_of) {
    const TrainerConfig& cfg = *r.config;
    const GraphDataset& g = *wk.graph;
    Traits::configure(net, spec, g.num_nodes);
    // Kipf & Welling decay the first layer only: block 0, first in the compact buffer (a GCN: its weight; a
    // GraphSAGE: its weight and bias).
    const std::size_t decayed = applies_weight_decay(cfg) ? layout.block_offset(1) : 0;
    const float wd = float(r.weight_decay);
    StepStats s;
    for (int i = 0; i < r.steps; ++i) {
      GraphForwardOptions fwd;
      fwd.training = true;
      fwd.dropout = cfg.graph.dropout;
      fwd.norm = cfg.graph.norm;
      constexpr std::uint64_t kDropoutStream = 0x44524f50u;  // "DROP"
      fwd.seed = derive_seed(cfg.seed, {kDropoutStream, std::uint64_t(r.worker), r.round, std::uint64_t(i)});
      const float* logits = net.forward(params.data(), layout, g.features, Traits::aggregation_matrix(g), fwd);
      const auto l = eigen::node_cross_entropy<float>(std::size_t(g.num_nodes), Net::num_classes, logits,
                                                      g.labels.data(), g.train, net.dlogits());
      std::fill(grads.begin(), grads.end(), 0.f);
      net.backward(params.data(), grads.data(), layout);
      if (wd > 0)
        for (std::size_t k = 0; k < decayed; ++k) grads[k] += wd * params[k];
      opt.step(params, std::span<const float>(grads), lr_of(i));
      s.loss_sum += l.loss * double(g.train.size());
      s.step_loss.push_back(l.loss);
      s.correct += l.correct;
      s.samples += int(g.train.size());
      ++s.steps;
    }
    return s;
  }

  template <class Traits, class Context, class Net>
  static Evaluation evaluate(Context&, Net& net, std::span<const float> params, const SubnetSpec& all,
                             const ParamLayout& layout, const GraphDataset& g, const TrainerConfig& cfg,
                             std::span<const double> scale) {
    Traits::configure(net, all, g.num_nodes);
    GraphForwardOptions opt;
    opt.training = false;
    opt.norm = cfg.graph.norm;
    opt.input_scale = scale;
    const float* logits = net.forward(params.data(), layout, g.features, Traits::aggregation_matrix(g), opt);
    auto score = [&](const std::vector<std::int32_t>& nodes) {
      EvalResult r;
      if (nodes.empty()) return r;
      const auto l = eigen::node_cross_entropy<float>(std::size_t(g.num_nodes), Net::num_classes, logits,
                                                      g.labels.data(), nodes, nullptr);
      r.loss = l.loss;
      r.samples = int(nodes.size());
      r.accuracy = double(l.correct) / r.samples;
      return r;
    };
    return Evaluation{score(g.test), score(g.val), score(g.train)};
  }
};

static_assert(LocalWork<FullGraph>);

}  // namespace ist
