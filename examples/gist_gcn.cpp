// gist-gcn: GIST (width-wise independent subnetwork training) of a graph convolutional network on the
// Planetoid citation graphs, full batch.
//
//   gist-gcn                                          # GIST, S = 2 sub-GCNs, Cora, hidden 256, L = 10
//   gist-gcn --protocol single --width 16 --seeds 5   # Kipf & Welling's GCN, mean +- std over 5 seeds
//   gist-gcn --dataset pubmed -S 4 --norm node        # GIST with the non-affine layer norm
//   gist-gcn --protocol local -S 4 -L 10              # local Adam (every worker trains the whole GCN)
//
// Prints one line per round (loss, accuracy, bytes moved, step time), writes one JSON row per round to
// --metrics, and ends with a summary: final test accuracy, bytes moved versus local SGD, wall time.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "ist/backend/cpu_backend.hpp"
#include "ist/data/planetoid.hpp"
#include "ist/decompose/any_decomposer.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/graph_trainer.hpp"

#ifndef IST_PLANETOID_DIR
#define IST_PLANETOID_DIR "../shared/data/planetoid"
#endif

namespace {

struct Options {
  std::string protocol = "gist";
  std::string dataset = "cora";
  std::string data = IST_PLANETOID_DIR;
  int workers = 2;
  int width = 256;
  int layers = 2;
  int threads = 1;
  int seeds = 1;
  bool sequential = false;
  std::string norm = "none";
  std::string optimizer_state = "reset";
  ist::GraphTrainerConfig trainer;
};

constexpr int kWidths[] = {16, 32, 64, 128, 256, 512, 1024};

template <class Net>
ist::GraphFitResult run_once(const Options& o, const ist::GraphDataset& g, std::uint64_t seed, bool verbose) {
  ist::AnyDecomposer decomposer = ist::Replicate{};
  if (o.protocol == "gist") decomposer = ist::WidthwiseRandom{};
  const int workers = o.protocol == "single" ? 1 : o.workers;
  auto cfg = o.trainer;
  cfg.seed = seed;
  ist::GraphSubnetTrainer<Net, ist::AnyDecomposer> trainer(
      decomposer, ist::HolderAverage{}, ist::CpuBackend<>(ist::InProcessComm(workers, !o.sequential), o.threads), cfg);
  if (verbose) {
    std::printf("%s", trainer.info().summary().c_str());
    std::printf("protocol %s (%s), S = %d workers x %d threads, L = %d local steps, %d epochs, Adam lr %g, wd %g%s, "
                "dropout %g, norm %s, optimizer state %s, seed %llu\n",
                o.protocol.c_str(), std::string(decomposer.name()).c_str(), workers, o.threads, cfg.local_steps,
                cfg.epochs, cfg.adam.lr, cfg.adam.weight_decay, cfg.decay_first_layer_only ? " (first layer)" : "",
                cfg.dropout, o.norm.c_str(), o.optimizer_state.c_str(), (unsigned long long)seed);
    std::fflush(stdout);
  }
  return trainer.fit(g);
}

template <class Net>
int run(const Options& o, const ist::GraphDataset& g) {
  std::vector<double> acc;
  std::uint64_t bytes = 0, local = 0;
  double wall = 0;
  for (int s = 0; s < o.seeds; ++s) {
    const std::uint64_t seed = o.trainer.seed + std::uint64_t(s);
    const ist::GraphFitResult r = run_once<Net>(o, g, seed, s == 0);
    std::printf("summary: %s on %s (width %d, %d layers), seed %llu, %zu rounds, final test accuracy %.4f (loss "
                "%.4f), val accuracy %.4f, moved %.2f MB = %.3fx local SGD's %.2f MB (data-parallel all-reduce: "
                "%.2f MB), wall time %.2f s%s%s\n",
                o.protocol.c_str(), g.name.c_str(), o.width, o.layers, (unsigned long long)seed, r.rounds.size(),
                r.final_eval.test.accuracy, r.final_eval.test.loss, r.final_eval.val.accuracy, r.total_bytes / 1e6,
                double(r.total_bytes) / double(r.local_sgd_bytes), r.local_sgd_bytes / 1e6, r.ddp_bytes / 1e6,
                r.wall_seconds, o.trainer.metrics_path.empty() ? "" : ", metrics in ", o.trainer.metrics_path.c_str());
    acc.push_back(r.final_eval.test.accuracy);
    bytes = r.total_bytes / r.rounds.size();
    local = r.local_sgd_bytes / r.rounds.size();
    wall += r.wall_seconds;
  }
  if (o.seeds > 1) {
    double mean = 0, var = 0;
    for (double a : acc) mean += a / acc.size();
    for (double a : acc) var += (a - mean) * (a - mean) / (acc.size() - 1);
    std::printf("over %d seeds: test accuracy %.2f %% +- %.2f (mean +- std), %.3f MB per round (local SGD %.3f MB), "
                "%.2f s per run\n",
                o.seeds, 100 * mean, 100 * std::sqrt(var), bytes / 1e6, local / 1e6, wall / o.seeds);
  }
  return 0;
}

template <int F, int C>
int with_width(const Options& o, const ist::GraphDataset& g) {
  auto pick = [&]<int H>() {
    if (o.layers == 2) return run<ist::Gcn<ist::Input<F>, ist::GraphConv<H>, ist::GraphConv<C>>>(o, g);
    return run<ist::Gcn<ist::Input<F>, ist::GraphConv<H>, ist::GraphConv<H>, ist::GraphConv<C>>>(o, g);
  };
  switch (o.width) {
    case 16: return pick.template operator()<16>();
    case 32: return pick.template operator()<32>();
    case 64: return pick.template operator()<64>();
    case 128: return pick.template operator()<128>();
    case 256: return pick.template operator()<256>();
    case 512: return pick.template operator()<512>();
    case 1024: return pick.template operator()<1024>();
  }
  ist::fail("--width: expected one of 16, 32, 64, 128, 256, 512, 1024, found ", o.width);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto& t = o.trainer;
  t.local_steps = 10;
  t.epochs = 200;
  t.eval_every = 1;
  CLI::App app{"gist-gcn: train a GCN on Cora, Citeseer or Pubmed with GIST (width-wise independent subnetwork "
               "training), local Adam, or a single worker"};
  app.add_option("--protocol", o.protocol, "gist | local | single")->capture_default_str()
      ->check(CLI::IsMember({"gist", "local", "single"}));
  app.add_option("--dataset", o.dataset, "cora | citeseer | pubmed")->capture_default_str()
      ->check(CLI::IsMember({"cora", "citeseer", "pubmed"}));
  app.add_option("--data", o.data, "folder holding the Planetoid data set folders")->capture_default_str();
  app.add_option("-S,--workers", o.workers, "number of workers S (sub-GCNs)")->capture_default_str();
  app.add_option("-L,--local-steps", t.local_steps, "full-batch Adam steps per worker per round")->capture_default_str();
  app.add_option("--width", o.width, "hidden units per hidden layer: 16, 32, 64, 128, 256, 512 or 1024")
      ->capture_default_str();
  app.add_option("--layers", o.layers, "graph convolution layers: 2 or 3")->capture_default_str()
      ->check(CLI::IsMember({2, 3}));
  app.add_option("--epochs", t.epochs, "full-batch steps of each worker in all")->capture_default_str();
  app.add_option("--max-rounds", t.max_rounds, "stop after this many rounds (0 = from --epochs)")->capture_default_str();
  app.add_option("--lr", t.adam.lr, "Adam learning rate")->capture_default_str();
  app.add_option("--wd", t.adam.weight_decay, "weight decay (L2 added to the gradient)")->capture_default_str();
  app.add_flag("!--decay-all-layers", t.decay_first_layer_only,
               "apply the weight decay to every layer (default: the first layer only, as Kipf & Welling)");
  app.add_option("--dropout", t.dropout, "drop probability of every layer's input")->capture_default_str();
  app.add_option("--norm", o.norm, "non-affine layer norm after hidden layers: none | node | whole (GIST's code)")
      ->capture_default_str()->check(CLI::IsMember({"none", "node", "whole"}));
  app.add_option("--optimizer-state", o.optimizer_state,
                 "Adam state between rounds: reset (GIST) | carry (single forces carry)")
      ->capture_default_str()->check(CLI::IsMember({"reset", "carry"}));
  app.add_option("--seed", t.seed, "random seed: initialization, plans, dropout")->capture_default_str();
  app.add_option("--seeds", o.seeds, "repeat with seeds seed, seed+1, ... and report mean +- std")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "compute threads per worker")->capture_default_str();
  app.add_flag("--sequential", o.sequential, "run the workers one after another (clean per-worker timings)");
  app.add_option("--eval-every", t.eval_every, "evaluate every K rounds (0 = only at the end)")->capture_default_str();
  app.add_option("--metrics", t.metrics_path, "write one JSON row per round to this file (JSONL)");
  app.add_flag("!--quiet", t.progress, "no per-round progress lines");
  CLI11_PARSE(app, argc, argv);

  try {
    IST_CHECK(o.workers >= 1, "-S/--workers: expected S >= 1, found ", o.workers);
    IST_CHECK(o.threads >= 1, "--threads: expected >= 1, found ", o.threads);
    IST_CHECK(o.seeds >= 1, "--seeds: expected >= 1, found ", o.seeds);
    bool known = false;
    for (int w : kWidths) known |= w == o.width;
    IST_CHECK(known, "--width: expected one of 16, 32, 64, 128, 256, 512, 1024, found ", o.width);
    if (o.protocol == "single") {
      t.local_steps = 1;
      o.optimizer_state = "carry";
    }
    t.optimizer_state = o.optimizer_state == "carry" ? ist::OptimizerState::Carry : ist::OptimizerState::ResetEachRound;
    t.norm = o.norm == "node" ? ist::GcnNorm::PerNode : o.norm == "whole" ? ist::GcnNorm::Whole : ist::GcnNorm::None;
    ist::validate(t);  // a bad config stops here, before any data is read

    const ist::GraphDataset g = ist::load_planetoid(o.data, o.dataset);
    std::printf("data: %s, %d nodes, %lld edges, %d features, %d classes, %zu train / %zu val / %zu test nodes, from "
                "%s\n",
                g.name.c_str(), g.num_nodes, (long long)g.num_edges, g.num_features, g.num_classes, g.train.size(),
                g.val.size(), g.test.size(), g.source.c_str());
    if (o.dataset == "cora") return with_width<1433, 7>(o, g);
    if (o.dataset == "citeseer") return with_width<3703, 6>(o, g);
    return with_width<500, 3>(o, g);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gist-gcn: error: %s\n", e.what());
    return 1;
  }
}
