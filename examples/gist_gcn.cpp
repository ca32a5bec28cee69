// gist-gcn: GIST (width-wise independent subnetwork training) of a graph convolutional network on the
// Planetoid citation graphs, full batch, with the same engine (and the same checkpoints, failure handling,
// MPI, optimizers and metrics) as ist-train.
//
//   gist-gcn                                          # GIST, S = 2 sub-GCNs, Cora, hidden 256, L = 10
//   gist-gcn --protocol single --width 16 --seeds 5   # Kipf & Welling's GCN, mean +- std over 5 seeds
//   gist-gcn --dataset pubmed -S 4 --norm node        # GIST with the non-affine layer norm
//   gist-gcn --protocol local -S 4 -L 10              # local Adam (every worker trains the whole GCN)
//   gist-gcn --optimizer novograd --lr 0.01           # another optimizer
//   gist-gcn -S 4 --checkpoint-dir ckpt --resume      # continue a killed run, bit for bit
//   mpirun -np 4 gist-gcn                             # one sub-GCN per MPI rank (S = ranks)
//
// Prints one line per round (loss, accuracy, bytes moved, step time), writes one JSON row per round to
// --metrics, and ends with a summary: final test accuracy, bytes moved versus local SGD, wall time.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#if IST_WITH_MPI
#include "ist/comm/mpi_comm.hpp"
#endif

#include "ist/backend/cpu_backend.hpp"
#include "ist/data/planetoid.hpp"
#include "ist/decompose/any_decomposer.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/graph_trainer.hpp"
#include "mpi_launch.hpp"
#include "live_progress.hpp"
#include "optimizer_registry.hpp"
#include "run_flags.hpp"

#ifndef IST_PLANETOID_DIR
#define IST_PLANETOID_DIR "../shared/data/planetoid"
#endif

namespace {

struct Options {
  std::string protocol = "gist";
  std::string dataset = "cora";
  std::string data = IST_PLANETOID_DIR;
  int workers = 2;
  bool workers_given = false;
  bool mpi = false;
  int width = 256;
  int layers = 2;
  int threads = 1;
  int seeds = 1;
  bool sequential = false;
  std::string norm = "none";
  ist::examples::OptimizerOptions optimizer;
  ist::examples::RunFlags run;
  ist::TrainerConfig trainer;
};

constexpr int kWidths[] = {16, 32, 64, 128, 256, 512, 1024};

// Trains once with `seed` on `backend` (in process or MPI ranks); every rank returns the same result.
template <class Net, class Backend>
ist::FitResult run_once(const Options& o, Backend backend, const ist::GraphDataset& g, std::uint64_t seed,
                        bool verbose) {
  ist::AnyDecomposer decomposer = ist::Replicate{};
  if (o.protocol == "gist") decomposer = ist::examples::with_shares(o.run, ist::WidthwiseRandom{});
  auto cfg = o.trainer;
  cfg.seed = seed;
  const int workers = backend.comm().num_workers();
  const bool root = backend.comm().is_coordinator();
  using Trainer = ist::GraphSubnetTrainer<Net, ist::AnyDecomposer, ist::HolderAverage, Backend>;
  Trainer trainer(decomposer, ist::HolderAverage{}, std::move(backend), cfg,
                  ist::examples::make_optimizer<typename Trainer::Context>(o.optimizer));
  if (verbose && root) {
    std::printf("%s", trainer.info().summary().c_str());
    std::printf("protocol %s (%s), S = %d workers x %d threads, L = %d local steps, %g epochs, optimizer %s%s, "
                "dropout %g, norm %s, optimizer state %s, seed %llu\n",
                o.protocol.c_str(), std::string(decomposer.name()).c_str(), workers, o.threads, cfg.local_steps,
                cfg.epochs, ist::examples::describe(trainer.optimizer()).c_str(),
                cfg.graph.decay_first_layer_only ? " (decay on the first layer)" : "", cfg.graph.dropout,
                o.norm.c_str(), o.run.optimizer_state.c_str(), (unsigned long long)seed);
    std::fflush(stdout);
  }
  ist::examples::install_fault_injector(trainer, o.run, workers);
  ist::examples::load_initial_weights<Net>(o.run, trainer, root && verbose);
  ist::examples::install_live_progress(trainer, root && verbose && cfg.progress);  // a live step counter
  ist::FitResult r = trainer.fit(g, ist::examples::resume_point(o.run, cfg, root && verbose));
  if (root && verbose)  // the first seed's model
    ist::examples::save_final_weights<Net>(o.run, trainer, decomposer, workers,
                                           {{"ist.protocol", o.protocol}, {"ist.dataset", g.name}});
  return r;
}

template <class Net>
int run(const Options& o, const ist::GraphDataset& g, const ist::examples::MpiSession& mpi) {
  std::vector<double> acc;
  std::uint64_t bytes = 0, local = 0;
  double wall = 0;
  for (int s = 0; s < o.seeds; ++s) {
    const std::uint64_t seed = o.trainer.seed + std::uint64_t(s);
    ist::FitResult r;
#if IST_WITH_MPI
    if (mpi.active()) r = run_once<Net>(o, ist::CpuBackend(ist::MpiComm(), o.threads), g, seed, s == 0);
#endif
    if (!mpi.active()) {
      const int workers = o.protocol == "single" ? 1 : o.workers;
      r = run_once<Net>(o, ist::CpuBackend(ist::InProcessComm(workers, !o.sequential), o.threads), g, seed, s == 0);
    }
    // Every rank prints its summary: the final evaluation is shared, so all ranks print the same figures.
    std::printf("summary%s: %s on %s (width %d, %d layers), seed %llu, %zu rounds, final test accuracy %.4f (loss "
                "%.4f), val accuracy %.4f, moved %.2f MB = %.3fx local SGD's %.2f MB (data-parallel all-reduce: "
                "%.2f MB), wall time %.2f s%s%s\n",
                mpi.active() ? (" rank " + std::to_string(mpi.rank())).c_str() : "", o.protocol.c_str(),
                g.name.c_str(), o.width, o.layers, (unsigned long long)seed, r.rounds.size(), r.final_eval.accuracy,
                r.final_eval.loss, r.final_val.accuracy, r.total_bytes / 1e6,
                r.local_sgd_bytes ? double(r.total_bytes) / double(r.local_sgd_bytes) : 0.0, r.local_sgd_bytes / 1e6,
                r.ddp_bytes / 1e6, r.wall_seconds,
                o.trainer.metrics_path.empty() || mpi.rank() != 0 ? "" : ", metrics in ",
                mpi.rank() != 0 ? "" : o.trainer.metrics_path.c_str());
    std::fflush(stdout);
    acc.push_back(r.final_eval.accuracy);
    if (!r.rounds.empty()) {
      bytes = r.total_bytes / r.rounds.size();
      local = r.local_sgd_bytes / r.rounds.size();
    }
    wall += r.wall_seconds;
  }
  if (o.seeds > 1 && mpi.rank() == 0) {
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
int with_width(const Options& o, const ist::GraphDataset& g, const ist::examples::MpiSession& mpi) {
  auto pick = [&]<int H>() {
    if (o.layers == 2) return run<ist::Gcn<ist::Input<F>, ist::GraphConv<H>, ist::GraphConv<C>>>(o, g, mpi);
    return run<ist::Gcn<ist::Input<F>, ist::GraphConv<H>, ist::GraphConv<H>, ist::GraphConv<C>>>(o, g, mpi);
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
  o.optimizer.name = "adam";  // GIST's (and Kipf & Welling's) optimizer: Adam, lr 0.01, weight decay 5e-4
  o.optimizer.lr = 0.01;
  o.optimizer.weight_decay = 5e-4;
  CLI::App app{"gist-gcn: train a GCN on Cora, Citeseer or Pubmed with GIST (width-wise independent subnetwork "
               "training), local Adam, or a single worker"};
  app.add_option("--protocol", o.protocol, "gist | local | single")->capture_default_str()
      ->check(CLI::IsMember({"gist", "local", "single"}));
  app.add_option("--dataset", o.dataset, "cora | citeseer | pubmed")->capture_default_str()
      ->check(CLI::IsMember({"cora", "citeseer", "pubmed"}));
  app.add_option("--data", o.data, "folder holding the Planetoid data set folders")->capture_default_str();
  ist::examples::add_layout_flags(app, t, o.workers, o.threads, o.sequential, "number of workers S (sub-GCNs)",
                                  "full-batch optimizer steps per worker per round",
                                  "full-batch steps of each worker in all");
  app.add_option("--width", o.width, "hidden units per hidden layer: 16, 32, 64, 128, 256, 512 or 1024")
      ->capture_default_str();
  app.add_option("--layers", o.layers, "graph convolution layers: 2 or 3")->capture_default_str()
      ->check(CLI::IsMember({2, 3}));
  ist::examples::add_optimizer_flags(app, o.optimizer);
  app.add_flag("!--decay-all-layers", t.graph.decay_first_layer_only,
               "apply the weight decay to every layer, by the optimizer (default: L2 on the first layer only, as "
               "Kipf & Welling)");
  app.add_option("--dropout", t.graph.dropout, "drop probability of every layer's input")->capture_default_str();
  app.add_option("--norm", o.norm, "non-affine layer norm after hidden layers: none | node | whole (GIST's code)")
      ->capture_default_str()->check(CLI::IsMember({"none", "node", "whole"}));
  ist::examples::add_run_flags(app, o.run, t);
  app.add_option("--seeds", o.seeds, "repeat with seeds seed, seed+1, ... and report mean +- std")
      ->capture_default_str();
  app.add_flag("--mpi", o.mpi, "workers are MPI ranks, S = the number of ranks (automatic under mpirun)");
  CLI11_PARSE(app, argc, argv);
  o.workers_given = app.count("--workers") > 0;

  const bool use_mpi = o.mpi || ist::examples::launched_by_mpirun();
  ist::examples::MpiSession mpi(argc, argv, use_mpi);
  try {
    mpi.require_built_with_mpi("gist-gcn", o.mpi);
    if (use_mpi) {
      IST_CHECK(!o.workers_given || o.workers == mpi.ranks(), "-S/--workers: under MPI, S is the number of ranks (",
                mpi.ranks(), "), found -S ", o.workers);
      IST_CHECK(o.protocol != "single" || mpi.ranks() == 1, "--protocol single: expected 1 MPI rank, found ",
                mpi.ranks());
      o.workers = mpi.ranks();
    }
    IST_CHECK(o.seeds >= 1, "--seeds: expected >= 1, found ", o.seeds);
    IST_CHECK(o.seeds == 1 || (o.run.resume_from.empty() && !o.run.resume && t.checkpoint_dir.empty()),
              "--seeds: several seeds cannot share --checkpoint-dir or --resume; run one seed per directory");
    bool known = false;
    for (int w : kWidths) known |= w == o.width;
    IST_CHECK(known, "--width: expected one of 16, 32, 64, 128, 256, 512, 1024, found ", o.width);
    if (o.protocol == "single") {
      t.local_steps = 1;
      o.run.optimizer_state = "carry";
    }
    ist::examples::apply(o.run, t);
    t.graph.norm = o.norm == "node" ? ist::GraphNorm::PerNode : o.norm == "whole" ? ist::GraphNorm::Whole : ist::GraphNorm::None;
    ist::validate(t);  // a bad config stops here, before any data is read
    (void)ist::examples::make_optimizer<ist::eigen::CpuContext>(o.optimizer);  // and a bad optimizer config

    const ist::GraphDataset g = ist::load_planetoid(o.data, o.dataset);
    if (mpi.rank() == 0) {
      if (use_mpi) std::printf("mpi: %d ranks, one worker each; rank 0 coordinates\n", mpi.ranks());
      std::printf("data: %s, %d nodes, %lld edges, %d features, %d classes, %zu train / %zu val / %zu test nodes, "
                  "from %s\n",
                  g.name.c_str(), g.num_nodes, (long long)g.num_edges, g.num_features, g.num_classes, g.train.size(),
                  g.val.size(), g.test.size(), g.source.c_str());
    }
    if (o.dataset == "cora") return with_width<1433, 7>(o, g, mpi);
    if (o.dataset == "citeseer") return with_width<3703, 6>(o, g, mpi);
    return with_width<500, 3>(o, g, mpi);
  } catch (const std::exception& e) {
    return mpi.fail("gist-gcn", e);
  }
}
