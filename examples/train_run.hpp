#pragma once
// The part of ist-train that does not depend on the backend: its options and run<Net>(options, backend),
// which builds the trainer, trains and prints the summary. ist_train.cpp runs it on the Eigen backend;
// ist_train_cuda.cu (built with IST_ENABLE_CUDA) on the CUDA one, through run_on_cuda.
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "ist/data/image_dataset.hpp"
#include "ist/decompose/any_decomposer.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/io/json.hpp"
#include "ist/train/trainer.hpp"
#include "live_progress.hpp"
#include "optimizer_registry.hpp"
#include "run_flags.hpp"

namespace ist::examples {

struct TrainOptions {
  std::string protocol = "resist";
  std::string model = "resnet26-fashion";
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string format = "idx";         // idx | cifar10 | folder
  std::string normalization;          // auto | cifar10 | fashion-mnist | none; "" = the format's own
  std::string augment;                // none | crop-flip; "" = the format's own
  int workers = 4;
  bool workers_given = false;
  bool mpi = false;
  int threads = 1;
  bool sequential = false;
  int min_depth = 0;
  int train_subset = 0, test_subset = 0;
  RunFlags run;                 // seed, metrics, checkpoints, resume, failures (run_flags.hpp)
  std::string backend = "cpu";  // cpu (Eigen) | cuda (cuDNN/cuBLAS, workers as streams on one GPU)
  int gpu = 0;                  // --backend cuda: the device
  bool tf32 = false;            // --backend cuda: allow TF32 tensor cores in convolutions and GEMMs
  bool cudnn_benchmark = false; // --backend cuda: time cuDNN's algorithms (faster, not bit-reproducible)
  bool under_mpi = false;       // MPI ranks are the workers (set by main, from --mpi or the launcher)
  OptimizerOptions optimizer;   // --optimizer, --lr, --momentum, --wd, ...
  ist::TrainerConfig trainer;
};

// Trains Net on `backend` (CpuBackend<AnyComm>: in process or MPI ranks; CudaBackend<cuda::StreamComm>) and
// prints the summary. `where` says where the workers run, for the header line.
template <class Net, class Backend>
int run(const TrainOptions& o, Backend backend, const std::string& where, const ImageDataset& train,
        const ImageDataset& test) {
  AnyDecomposer decomposer = Replicate{};
  IST_CHECK(o.min_depth == 0 || o.run.shares == "equal",
            "--min-depth: LayerwiseRandom's option; --shares speed and steps (SpeedProportional) have none: drop one "
            "of them");
  if (o.protocol == "resist") decomposer = with_shares(o.run, LayerwiseRandom(o.min_depth));
  const int workers = backend.comm().num_workers();
  const bool root = backend.comm().is_coordinator();
  using Trainer = IndependentSubnetTrainer<Net, AnyDecomposer, HolderAverage, Backend>;
  Trainer trainer(decomposer, HolderAverage{}, std::move(backend), o.trainer,
                  make_optimizer<typename Trainer::Context>(o.optimizer));
  const auto& info = trainer.info();
  if (root) {
    std::printf("%s", info.summary().c_str());
    std::printf("protocol %s (%s), S = %d workers %s, L = %d local steps, batch %d, optimizer %s, schedule %s, "
                "seed %llu, initialization %s\n",
                o.protocol.c_str(), std::string(decomposer.name()).c_str(), workers, where.c_str(),
                o.trainer.local_steps, o.trainer.batch, describe(trainer.optimizer()).c_str(),
                o.trainer.schedule.c_str(), (unsigned long long)o.trainer.seed,
                o.run.init_weights.empty()
                    ? (o.trainer.init_scheme == InitScheme::TorchDefault ? "torch (uniform +-1/sqrt(fan_in))"
                                                                          : "kaiming (normal, std sqrt(2/fan_in))")
                    : o.run.init_weights.c_str());
    std::fflush(stdout);
  }
  load_initial_weights<Net>(o.run, trainer, root);
  typename Trainer::Engine& engine = trainer;  // the helpers below are compiled once, not per model
  install_fault_injector(engine, o.run, workers);
  install_live_progress(engine, root && o.trainer.progress);  // a live step counter on a terminal
  const std::string resume_from = resume_point(o.run, o.trainer, root);
  const FitResult r = trainer.fit(train, test, resume_from);  // under MPI every rank trains; rank 0 prints the rounds
  if (!root) return 0;
  std::map<std::string, std::string> meta = {{"ist.preset", o.model}, {"ist.protocol", o.protocol}};
  if (!train.class_names.empty()) meta["ist.class_names"] = detail::json_text(nlohmann::json(train.class_names));
  save_final_weights<Net>(o.run, trainer, decomposer, workers, std::move(meta));
  if (r.rounds.empty()) {  // resumed a finished run: nothing trained, only the final evaluation
    std::printf("summary: %s on %s, nothing left to train, final test accuracy %.4f (loss %.4f)\n", o.protocol.c_str(),
                o.model.c_str(), r.final_eval.accuracy, r.final_eval.loss);
    return 0;
  }
  double step_wall = 0, step_cpu = 0;
  for (const auto& rec : r.rounds) {
    step_wall += rec.step_seconds_mean / double(r.rounds.size());
    step_cpu += rec.step_cpu_seconds_mean / double(r.rounds.size());
  }
  std::printf("per-worker local step, mean over rounds: %.1f ms wall, %.1f ms CPU\n", step_wall * 1e3,
              step_cpu * 1e3);
  std::printf("summary: %s on %s, %zu rounds, final test accuracy %.4f (loss %.4f), moved %.1f MB = %.3fx local "
              "SGD's %.1f MB (data-parallel all-reduce: %.1f MB), wall time %.1f s%s%s\n",
              o.protocol.c_str(), o.model.c_str(), r.rounds.size(), r.final_eval.accuracy, r.final_eval.loss,
              r.total_bytes / 1e6, r.local_sgd_bytes ? double(r.total_bytes) / double(r.local_sgd_bytes) : 0.0, r.local_sgd_bytes / 1e6,
              r.ddp_bytes / 1e6, r.wall_seconds, o.trainer.metrics_path.empty() ? "" : ", metrics in ",
              o.trainer.metrics_path.c_str());
  return 0;
}

// --backend cuda: trains o.model with S = o.workers workers as CUDA streams on GPU o.gpu, or under MPI with
// one worker per rank and GPU (NCCL). Defined in ist_train_cuda.cu, which is compiled only when the CUDA
// backend is (IST_WITH_CUDA).
int run_on_cuda(const TrainOptions& o, const ImageDataset& train, const ImageDataset& test);

}  // namespace ist::examples
