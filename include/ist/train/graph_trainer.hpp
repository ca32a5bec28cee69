#pragma once
// GraphSubnetTrainer<Model, Decomposer, Aggregator, Backend>: independent subnetwork training of a graph
// network on one whole graph (full-batch node classification): GIST with WidthwiseRandom, local Adam with
// Replicate, and plain single-worker Adam with S = 1, L = 1 and carried optimizer state.
//
//   using Net = ist::Gcn<ist::Input<1433>, ist::GraphConv<256>, ist::GraphConv<7>>;
//   ist::GraphSubnetTrainer<Net, ist::WidthwiseRandom> trainer(
//       ist::WidthwiseRandom{}, ist::HolderAverage{}, ist::CpuBackend<>(ist::InProcessComm(2)), cfg);
//   ist::GraphFitResult r = trainer.fit(cora);     // r.final_eval.test.accuracy
//
// It runs the round of IndependentSubnetTrainer with the same pieces (plan, validate_plan, slices, the
// communicator and its ledger, the aggregator) and the same progress line, metrics file and summary; what
// differs is the data (one graph that every worker holds, instead of a batch stream) and the optimizer:
//   1. plan = decomposer.plan(info, {seed, round, S});  validate_plan(...)
//   2. coordinator -> worker w: its slices (and Adam's m and v slices with OptimizerState::Carry)
//   3. every worker: L full-batch Adam steps on its compact sub-network (dropout masks from
//      (seed, worker, round, step)); Adam starts fresh every round unless the state is carried
//   4. worker w -> coordinator: its trained slices;  aggregator.merge(global, ...)
// Evaluation runs the global model at full width without dropout on the train, val and test nodes, with
// the decomposer's evaluation_scale as each layer's input scale (WidthwiseRandom: 1/S behind split units).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ist/aggregate/aggregator.hpp"
#include "ist/aggregate/holder_average.hpp"
#include "ist/backend/backend.hpp"
#include "ist/backend/cpu_backend.hpp"
#include "ist/backend/eigen/node_cross_entropy.hpp"
#include "ist/core/cpu_time.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/graph.hpp"
#include "ist/decompose/decomposer.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/optim/adam.hpp"
#include "ist/train/evaluate.hpp"
#include "ist/train/gcn_traits.hpp"
#include "ist/train/metrics_log.hpp"
#include "ist/train/model_traits.hpp"
#include "ist/train/trainer.hpp"
#include "ist/train/trainer_config.hpp"

namespace ist {

struct GraphTrainerConfig {
  int local_steps = 1;    // L: full-batch Adam steps per worker per round
  int epochs = 200;       // full-batch steps of each worker in all: ceil(epochs / L) rounds
  int max_rounds = 0;     // > 0: stop after this many rounds (overrides epochs)
  // lr, beta1, beta2, eps, weight decay. The decay is L2 added to the gradient (as PyTorch's Adam and
  // Kipf's loss term), on the first layer's weight only when decay_first_layer_only (Kipf & Welling).
  optim::AdamConfig adam{0.01, 0.9, 0.999, 1e-8, 5e-4};
  bool decay_first_layer_only = true;
  double dropout = 0.5;   // drop probability of every layer's input
  GcnNorm norm = GcnNorm::None;
  OptimizerState optimizer_state = OptimizerState::ResetEachRound;  // GIST: Adam restarts every round
  std::uint64_t seed = 1;
  int eval_every = 1;     // evaluate the global model every K rounds (0: only at the end)
  std::string metrics_path;
  bool progress = true;
};

inline void validate(const GraphTrainerConfig& c) {
  const char* who = "ist::GraphTrainerConfig";
  IST_CHECK(c.local_steps >= 1, who, ": local_steps (L) must be >= 1, found ", c.local_steps);
  IST_CHECK(c.epochs >= 1 || c.max_rounds > 0, who, ": epochs must be >= 1 (or max_rounds > 0), found epochs ",
            c.epochs, ", max_rounds ", c.max_rounds);
  IST_CHECK(c.max_rounds >= 0, who, ": max_rounds must be >= 0, found ", c.max_rounds);
  IST_CHECK(c.dropout >= 0.0 && c.dropout < 1.0, who, ": dropout must be in [0, 1), found ", c.dropout);
  IST_CHECK(c.eval_every >= 0, who, ": eval_every must be >= 0, found ", c.eval_every);
  optim::validate(c.adam, "ist::GraphTrainerConfig: adam");
}

// Loss and accuracy on the three node sets.
struct GraphEval {
  EvalResult train, val, test;
};

struct GraphRoundRecord : RoundRecord {
  double val_loss = NAN, val_accuracy = NAN;
};

struct GraphFitResult {
  std::vector<GraphRoundRecord> rounds;
  GraphEval final_eval;
  std::uint64_t total_bytes = 0, local_sgd_bytes = 0, ddp_bytes = 0;
  double wall_seconds = 0;
};

template <class Model, class D, class A = HolderAverage, class B = CpuBackend<>>
class GraphSubnetTrainer {
  static constexpr bool policies_ok = check_decomposer<D>() && check_aggregator<A>() && check_backend<B>();

 public:
  using Traits = ModelTraits<Model>;
  using Compute = typename B::Compute;
  using Network = typename Traits::template Network<Compute>;
  using Context = typename Compute::Context;

  GraphSubnetTrainer(D decomposer, A aggregator, B backend, GraphTrainerConfig config)
      : decomposer_(std::move(decomposer)),
        aggregator_(std::move(aggregator)),
        backend_(std::move(backend)),
        cfg_(std::move(config)),
        info_(Traits::info()),
        global_(Traits::num_params) {
    validate(cfg_);
    Traits::init(std::span<float>(global_), cfg_.seed);
    if (carry()) {
      moment1_.assign(Traits::num_params, 0.f);
      moment2_.assign(Traits::num_params, 0.f);
    }
  }

  int num_workers() { return backend_.comm().num_workers(); }
  const ModelInfo& info() const { return info_; }
  std::span<float> params() { return global_; }
  B& backend() { return backend_; }
  const GraphTrainerConfig& config() const { return cfg_; }
  int planned_rounds() const {
    return cfg_.max_rounds > 0 ? cfg_.max_rounds : (cfg_.epochs + cfg_.local_steps - 1) / cfg_.local_steps;
  }

  GraphFitResult fit(const GraphDataset& g) {
    GraphFitResult result;
    if constexpr (policies_ok) {
      prepare(g);
      MetricsLog log(backend_.comm().is_coordinator() ? cfg_.metrics_path : std::string());
      const int rounds = planned_rounds();
      const auto start = Clock::now();
      for (int r = 0; r < rounds; ++r) {
        GraphRoundRecord rec = train_round(std::uint64_t(r));
        const bool last = r + 1 == rounds;
        if (last || (cfg_.eval_every > 0 && (r + 1) % cfg_.eval_every == 0)) {
          const GraphEval e = evaluate(g);
          rec.val_loss = e.val.loss;
          rec.val_accuracy = e.val.accuracy;
          rec.test_loss = e.test.loss;
          rec.test_accuracy = e.test.accuracy;
          if (last) result.final_eval = e;
        }
        rec.wall_seconds = seconds(start);
        result.total_bytes += rec.bytes();
        result.local_sgd_bytes += rec.local_sgd_bytes;
        result.ddp_bytes += rec.ddp_bytes;
        report(rec, rounds, log);
        result.rounds.push_back(rec);
      }
      result.wall_seconds = seconds(start);
    }
    return result;
  }

  // Checks the graph against the model and sets up the workers; fit() calls it. Call it yourself before
  // driving train_round() by hand. `g` must outlive the trainer's use of it.
  void prepare(const GraphDataset& g) {
    const char* who = "ist::GraphSubnetTrainer";
    IST_CHECK(g.num_features == info_.in_features && g.features.cols() == info_.in_features, who, ": ", g.source,
              ": the model takes ", info_.in_features, " features per node, the graph has ", g.features.cols());
    IST_CHECK(g.num_classes <= info_.num_classes, who, ": ", g.source, ": the graph has ", g.num_classes,
              " classes, the model only ", info_.num_classes);
    IST_CHECK(g.features.rows() == g.num_nodes && g.adjacency.rows() == g.num_nodes &&
                  g.labels.size() == std::size_t(g.num_nodes),
              who, ": ", g.source, ": features, adjacency and labels must all have ", g.num_nodes, " rows");
    IST_CHECK(!g.train.empty(), who, ": ", g.source, ": the graph has no training nodes");
    graph_ = &g;
    workers_.clear();
    for (int w = 0; w < num_workers(); ++w)
      workers_.push_back(backend_.comm().is_local(w) ? std::make_unique<Worker>(backend_.make_context()) : nullptr);
  }

  // One round, steps 1-4 above. prepare() must have run.
  GraphRoundRecord train_round(std::uint64_t round) {
    GraphRoundRecord rec;
    if constexpr (policies_ok) {
      IST_CHECK(graph_ != nullptr, "ist::GraphSubnetTrainer::train_round: call prepare() (or fit()) first");
      const auto round_start = Clock::now();
      auto& comm = backend_.comm();
      const int S = num_workers();
      const bool keep = carry();

      const Plan plan = decomposer_.plan(info_, RoundContext{cfg_.seed, round, S});
      validate_plan(plan, info_, S, decomposer_.rules());
      slices_.resize(std::size_t(S));
      for (int w = 0; w < S; ++w) slices_[std::size_t(w)] = Traits::slices(plan.workers[std::size_t(w)]);

      comm.ledger().begin_round(round, S);
      for (int w = 0; w < S; ++w) {
        Worker* wk = workers_[std::size_t(w)].get();
        if (wk) wk->receive_spec(plan.workers[std::size_t(w)], slices_[std::size_t(w)].size(), keep);
        send_slices(w, global_, wk ? std::span<float>(wk->params) : std::span<float>());
        if (keep) {
          send_slices(w, moment1_, wk ? std::span<float>(wk->m) : std::span<float>());
          send_slices(w, moment2_, wk ? std::span<float>(wk->v) : std::span<float>());
        }
      }

      const GraphDataset& g = *graph_;
      comm.run_workers([&](int w) {
        Worker& wk = *workers_[std::size_t(w)];
        Traits::configure(wk.net, wk.spec, g.num_nodes);
        optim::AdamConfig ac = cfg_.adam;
        ac.weight_decay = 0;  // applied below, to the chosen range
        wk.adam.emplace(ac, wk.params.size());
        if (keep) wk.adam->load_state(wk.m, wk.v, std::int64_t(round) * cfg_.local_steps);
        // Kipf & Welling decay the first layer's weight only: block 0 is its weight, first in the compact buffer.
        const std::size_t decayed = cfg_.decay_first_layer_only ? wk.layout.block_offset(1) : wk.params.size();
        const float wd = float(cfg_.adam.weight_decay);
        const auto t0 = Clock::now();
        const double cpu0 = thread_cpu_seconds();
        StepStats s;
        for (int i = 0; i < cfg_.local_steps; ++i) {
          GcnForwardOptions opt;
          opt.training = true;
          opt.dropout = cfg_.dropout;
          opt.norm = cfg_.norm;
          opt.seed = derive_seed(cfg_.seed, {kDropoutStream, std::uint64_t(w), round, std::uint64_t(i)});
          const float* logits = wk.net.forward(wk.params.data(), wk.layout, g.features, g.adjacency, opt);
          const auto l = eigen::node_cross_entropy<float>(std::size_t(g.num_nodes), Network::num_classes, logits,
                                                          g.labels.data(), g.train, wk.net.dlogits());
          std::fill(wk.grads.begin(), wk.grads.end(), 0.f);
          wk.net.backward(wk.params.data(), wk.grads.data(), wk.layout);
          if (wd > 0)
            for (std::size_t k = 0; k < decayed; ++k) wk.grads[k] += wd * wk.params[k];
          wk.adam->step(wk.params, wk.grads, cfg_.adam.lr);
          s.loss_sum += l.loss * double(g.train.size());
          s.correct += l.correct;
          s.samples += int(g.train.size());
          ++s.steps;
        }
        wk.stats = s;
        wk.compute_seconds = seconds(t0);
        wk.compute_cpu_seconds = thread_cpu_seconds() - cpu0;
        if (keep) {
          std::copy(wk.adam->first_moment().begin(), wk.adam->first_moment().end(), wk.m.begin());
          std::copy(wk.adam->second_moment().begin(), wk.adam->second_moment().end(), wk.v.begin());
        }
      });

      results_.resize(std::size_t(S));
      m_results_.resize(std::size_t(S));
      v_results_.resize(std::size_t(S));
      for (int w = 0; w < S; ++w) {
        Worker* wk = workers_[std::size_t(w)].get();
        receive(w, wk ? std::span<const float>(wk->params) : std::span<const float>(), results_[std::size_t(w)]);
        if (keep) {
          receive(w, wk ? std::span<const float>(wk->m) : std::span<const float>(), m_results_[std::size_t(w)]);
          receive(w, wk ? std::span<const float>(wk->v) : std::span<const float>(), v_results_[std::size_t(w)]);
        }
      }
      if (comm.is_coordinator()) {
        merge_into(global_, plan, results_);
        if (keep) {
          merge_into(moment1_, plan, m_results_);
          merge_into(moment2_, plan, v_results_);
        }
      }
      fill_record(rec, round, round_start);
    }
    return rec;
  }

  // The global model at full width, without dropout, on the train, val and test nodes.
  GraphEval evaluate(const GraphDataset& g) {
    if (!eval_net_) {
      eval_ctx_.emplace(num_workers() * backend_.threads_per_worker());
      eval_net_.emplace(*eval_ctx_);
    }
    const SubnetSpec all = full_spec(info_);
    Traits::configure(*eval_net_, all, g.num_nodes);
    GcnForwardOptions opt;
    opt.training = false;
    opt.norm = cfg_.norm;
    std::vector<double> scale;
    if constexpr (HasEvaluationScale<D>) {
      scale = decomposer_.evaluation_scale(info_, num_workers());
      opt.input_scale = scale;
    }
    const float* logits = eval_net_->forward(global_.data(), Traits::layout(all), g.features, g.adjacency, opt);
    auto score = [&](const std::vector<std::int32_t>& nodes) {
      EvalResult r;
      if (nodes.empty()) return r;
      const auto l = eigen::node_cross_entropy<float>(std::size_t(g.num_nodes), Network::num_classes, logits,
                                                      g.labels.data(), nodes, nullptr);
      r.loss = l.loss;
      r.samples = int(nodes.size());
      r.accuracy = double(l.correct) / r.samples;
      return r;
    };
    return {score(g.train), score(g.val), score(g.test)};
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
  static constexpr std::uint64_t kDropoutStream = 0x44524f50u;  // "DROP"

  bool carry() const { return cfg_.optimizer_state == OptimizerState::Carry; }

  struct Worker {
    explicit Worker(Context c) : ctx(std::move(c)), net(ctx) {}
    Context ctx;
    Network net;
    SubnetSpec spec;
    ParamLayout layout;
    std::vector<float> params, grads, m, v;
    std::optional<optim::Adam<float>> adam;
    StepStats stats;
    double compute_seconds = 0, compute_cpu_seconds = 0;

    void receive_spec(const SubnetSpec& s, std::size_t n, bool keep) {
      spec = s;
      layout = Traits::layout(spec);
      IST_CHECK(layout.size() == n, "ist::GraphSubnetTrainer: the compact layout holds ", layout.size(),
                " values but the slices hold ", n, " (ModelTraits::layout and ::slices disagree)");
      params.resize(n);
      grads.resize(n);
      if (keep) {
        m.resize(n);
        v.resize(n);
      }
    }
  };

  void send_slices(int w, std::span<const float> global, std::span<float> dst) {
    auto& comm = backend_.comm();
    std::span<const float> src;
    if (comm.is_coordinator()) {
      send_buffer_.resize(slices_[std::size_t(w)].size());
      gather(global, slices_[std::size_t(w)], std::span<float>(send_buffer_));
      src = send_buffer_;
    }
    comm.to_worker(w, src, dst);
  }

  void receive(int w, std::span<const float> src, std::vector<float>& dst) {
    auto& comm = backend_.comm();
    dst.resize(comm.is_coordinator() ? slices_[std::size_t(w)].size() : 0);
    comm.to_coordinator(w, src, std::span<float>(dst));
  }

  void merge_into(std::span<float> target, const Plan& plan, const std::vector<std::vector<float>>& results) {
    result_spans_.clear();
    for (const auto& r : results) result_spans_.emplace_back(r);
    aggregator_.merge(target, MergeInput{info_, plan, slices_, result_spans_});
  }

  void fill_record(GraphRoundRecord& rec, std::uint64_t round, Clock::time_point round_start) {
    rec.workers = num_workers();
    auto& ledger = backend_.comm().ledger();
    rec.round = round + 1;
    rec.epoch = double((round + 1) * std::uint64_t(cfg_.local_steps));  // one full-batch step = one epoch
    rec.lr = cfg_.adam.lr;
    RoundTally tally;
    for (const auto& wk : workers_)
      if (wk) tally.add_worker(wk->stats, wk->compute_seconds, wk->compute_cpu_seconds);
    tally.fill(rec, ledger.this_round(), slices_, Traits::num_params, cfg_.local_steps);
    rec.round_seconds = seconds(round_start);
  }

  void report(const GraphRoundRecord& r, int rounds, MetricsLog& log) {
    if (!backend_.comm().is_coordinator()) return;
    if (cfg_.progress) {
      std::printf("round %llu/%d  epoch %.0f  lr %.4g  loss %.4f  acc %.4f", (unsigned long long)r.round, rounds,
                  r.epoch, r.lr, r.train_loss, r.train_accuracy);
      if (!std::isnan(r.val_accuracy)) std::printf("  val acc %.4f", r.val_accuracy);
      if (!std::isnan(r.test_accuracy)) std::printf("  test acc %.4f", r.test_accuracy);
      std::printf("  moved %.3f MB (local SGD %.3f MB)  step %.2f ms  round %.3f s  wall %.1f s\n", r.bytes() / 1e6,
                  r.local_sgd_bytes / 1e6, r.step_seconds_mean * 1e3, r.round_seconds, r.wall_seconds);
      std::fflush(stdout);
    }
    MetricsRow row;
    row.add("round", r.round)
        .add("epoch", r.epoch)
        .add("lr", r.lr)
        .add("decomposer", decomposer_.name())
        .add("workers", num_workers())
        .add("train_loss", r.train_loss)
        .add("train_accuracy", r.train_accuracy)
        .add("val_loss", r.val_loss)
        .add("val_accuracy", r.val_accuracy)
        .add("test_loss", r.test_loss)
        .add("test_accuracy", r.test_accuracy);
    add_round_costs(row, r);
    log.append(row);
  }

  D decomposer_;
  A aggregator_;
  B backend_;
  GraphTrainerConfig cfg_;
  ModelInfo info_;
  std::vector<float> global_, moment1_, moment2_;
  const GraphDataset* graph_ = nullptr;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<SliceSet> slices_;
  std::vector<float> send_buffer_;
  std::vector<std::vector<float>> results_, m_results_, v_results_;
  std::vector<std::span<const float>> result_spans_;
  std::optional<eigen::CpuContext> eval_ctx_;
  std::optional<typename Traits::template Network<eigen::Compute>> eval_net_;
};

}  // namespace ist
