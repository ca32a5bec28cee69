#pragma once
// What gist-gcn's translation units share (gist_gcn.cpp: main and the GCN models; gist_sage_models.cpp,
// gist_large_models.cpp: the GraphSAGE models; gist_gcn_cuda.cu: the models of --backend cuda): the options, and
// one run of a model type on a graph and a backend, over seeds.
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#if IST_WITH_MPI
#include "ist/comm/mpi_comm.hpp"
#endif

#include "ist/backend/cpu_backend.hpp"
#include "ist/comm/any_comm.hpp"
#include "ist/data/csr_graph.hpp"
#include "ist/data/csr_graph_dataset.hpp"
#include "ist/data/graph_partition.hpp"
#include "ist/data/graph_source.hpp"
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

namespace gist_gcn {

struct Options {
  std::string model = "gcn";  // gcn | sage
  std::string protocol = "gist";
  std::string dataset = "cora";
  std::string data = IST_PLANETOID_DIR;
  std::string graph;             // an ISTGRAPH file instead of dataset
  bool row_normalize = false;    // row-normalize --graph's features
  int partitions = 0;            // METIS parts for Cluster-GCN batches; 0: full batch
  std::string partition_cache;
  int workers = 2;
  bool workers_given = false;
  bool mpi = false;
  int width = 256;
  int layers = 2;
  int threads = 1;
  int seeds = 1;
  bool sequential = false;
  std::string norm = "none";
  std::string backend = "cpu";   // cpu (Eigen) | cuda (the workers as CUDA streams on one GPU)
  int gpu = 0;                   // --backend cuda: the device
  bool tf32 = false;             // --backend cuda: TF32 tensor cores in the dense products
  ist::examples::OptimizerOptions optimizer;
  ist::examples::RunFlags run;
  ist::TrainerConfig trainer;
};

// The graph shapes (features, classes) that have compiled models: the Planetoid graphs' (every model) and
// ist-graphgen's presets' (GraphSAGE with 3 layers, kLargeGraphWidths).
enum class Shape { Cora, Citeseer, Pubmed, ArxivLike, ProductsLike, Other };
inline Shape graph_shape(const ist::GraphSource& g) {
  const int f = g.num_features(), c = g.num_classes();
  if (f == 1433 && c == 7) return Shape::Cora;
  if (f == 3703 && c == 6) return Shape::Citeseer;
  if (f == 500 && c == 3) return Shape::Pubmed;
  if (f == 128 && c == 40) return Shape::ArxivLike;
  if (f == 100 && c == 47) return Shape::ProductsLike;
  return Shape::Other;
}
constexpr int kLargeGraphWidths[] = {256, 1024, 8192};

// Hidden widths of every model; GraphSAGE's 4- and 5-layer models exist at kDeepSageWidths only (each width
// and depth is a compiled model type, and each costs compile time).
constexpr int kWidths[] = {16, 32, 64, 128, 256, 512, 1024};
constexpr int kDeepSageWidths[] = {128, 256};

// A Sage with `Layers` layers: Layers - 1 hidden SageConv<H>, then the classifier SageConv<C>.
template <int F, int H, int C, int Layers>
struct SageOf;
template <int F, int H, int C>
struct SageOf<F, H, C, 2> {
  using type = ist::Sage<ist::Input<F>, ist::SageConv<H>, ist::SageConv<C>>;
};
template <int F, int H, int C>
struct SageOf<F, H, C, 3> {
  using type = ist::Sage<ist::Input<F>, ist::SageConv<H>, ist::SageConv<H>, ist::SageConv<C>>;
};
template <int F, int H, int C>
struct SageOf<F, H, C, 4> {
  using type = ist::Sage<ist::Input<F>, ist::SageConv<H>, ist::SageConv<H>, ist::SageConv<H>, ist::SageConv<C>>;
};
template <int F, int H, int C>
struct SageOf<F, H, C, 5> {
  using type = ist::Sage<ist::Input<F>, ist::SageConv<H>, ist::SageConv<H>, ist::SageConv<H>, ist::SageConv<H>,
                         ist::SageConv<C>>;
};

// Trains once with `seed` on `backend` (CpuBackend: in process or MPI ranks; CudaBackend: streams on one GPU);
// every rank returns the same result. `where` says where the workers run, for the run's header.
template <class Net, class Backend>
ist::FitResult run_once(const Options& o, Backend backend, const std::string& where, const ist::GraphSource& g,
                        std::uint64_t seed, bool verbose) {
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
    std::printf("protocol %s (%s), S = %d workers %s, L = %d local steps, %g epochs, optimizer %s%s, "
                "dropout %g, norm %s, optimizer state %s, seed %llu\n",
                o.protocol.c_str(), std::string(decomposer.name()).c_str(), workers, where.c_str(), cfg.local_steps,
                cfg.epochs, ist::examples::describe(trainer.optimizer()).c_str(),
                cfg.graph.decay_first_layer_only ? " (decay on the first layer)" : "", cfg.graph.dropout,
                o.norm.c_str(), o.run.optimizer_state.c_str(), (unsigned long long)seed);
    std::fflush(stdout);
  }
  typename Trainer::Engine& engine = trainer;  // the helpers below are compiled once, not per model
  ist::examples::install_fault_injector(engine, o.run, workers);
  ist::examples::load_initial_weights<Net>(o.run, trainer, root && verbose);
  ist::examples::install_live_progress(engine, root && verbose && cfg.progress);  // a live step counter
  ist::FitResult r = trainer.fit(g, ist::examples::resume_point(o.run, cfg, root && verbose));
  if (root && verbose)  // the first seed's model
    ist::examples::save_final_weights<Net>(o.run, trainer, decomposer, workers,
                                           {{"ist.protocol", o.protocol}, {"ist.dataset", g.name()}});
  return r;
}

// One training run of a model type on a backend (run_once<Net>(options, backend, ...)) for a seed.
using RunSeed = std::function<ist::FitResult(std::uint64_t seed, bool verbose)>;

// Trains o.seeds times (seeds o.trainer.seed, +1, ...) and prints each run's summary and their mean.
inline int run_seeds(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi,
                     const RunSeed& run_seed) {
  std::vector<double> acc;
  std::uint64_t bytes = 0, local = 0;
  double wall = 0;
  for (int s = 0; s < o.seeds; ++s) {
    const std::uint64_t seed = o.trainer.seed + std::uint64_t(s);
    const ist::FitResult r = run_seed(seed, s == 0);
    // Every rank prints its summary: the final evaluation is shared, so all ranks print the same figures.
    std::printf("summary%s: %s %s on %s (width %d, %d layers), seed %llu, %zu rounds, final test accuracy %.4f (loss "
                "%.4f), val accuracy %.4f, moved %.2f MB = %.3fx local SGD's %.2f MB (data-parallel all-reduce: "
                "%.2f MB), wall time %.2f s%s%s\n",
                mpi.active() ? (" rank " + std::to_string(mpi.rank())).c_str() : "", o.model.c_str(), o.protocol.c_str(),
                g.name().c_str(), o.width, o.layers, (unsigned long long)seed, r.rounds.size(), r.final_eval.accuracy,
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

// The CPU backend's communicator: MPI ranks under mpirun, else the workers as threads of this process. One
// communicator type for both ways of running, so each model's trainer is compiled once.
inline ist::AnyComm cpu_comm(const Options& o, const ist::examples::MpiSession& mpi) {
#if IST_WITH_MPI
  if (mpi.active()) return ist::MpiComm();
#else
  (void)mpi;
#endif
  return ist::InProcessComm(o.protocol == "single" ? 1 : o.workers, !o.sequential);
}

// Net on the CPU backend, over o.seeds seeds.
template <class Net>
int run(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi) {
  const std::string where = "x " + std::to_string(o.threads) + " threads";
  return run_seeds(o, g, mpi, [&](std::uint64_t seed, bool verbose) {
    return run_once<Net>(o, ist::CpuBackend<ist::AnyComm>(cpu_comm(o, mpi), o.threads), where, g, seed, verbose);
  });
}

// The model registries, one per translation unit: the compile-time widths and depths each model has.
int run_gcn(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi);
int run_sage(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi);
int run_large_sage(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi);
// --backend cuda (gist_gcn_cuda.cu, built with the CUDA backend: IST_WITH_CUDA): its own, smaller registry.
int run_on_cuda(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi);

}  // namespace gist_gcn
