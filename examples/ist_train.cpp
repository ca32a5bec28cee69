// ist-train: the main job. Trains a pre-activation ResNet with Independent Subnetwork Training.
//
//   ist-train                                     # ResIST, S = 4 workers, resnet26-fashion, Fashion-MNIST
//   ist-train --protocol local-sgd -S 4 -L 50     # the same run with local SGD
//   ist-train --protocol ddp -S 4                 # synchronous data-parallel SGD (L = 1, carried momentum)
//   ist-train --protocol single                   # one worker, plain SGD
//   mpirun -np 4 ist-train                        # ResIST with one worker per MPI rank (S = ranks)
//   ist-train --checkpoint-dir ckpt               # a checkpoint after every round, the newest 3 kept
//   ist-train --checkpoint-dir ckpt --resume      # continue from the newest one, bit for bit
//
// Under mpirun (detected from the launcher's environment, or forced with --mpi) the workers are MPI
// ranks, rank 0 coordinates and prints; see docs/mpi.md. A rank that fails prints its error and ends the
// whole job with MPI_Abort.
//
// Prints one line per round (loss, accuracy, bytes moved, step time), writes one JSON row per round to
// --metrics, and ends with a summary: final test accuracy, bytes moved versus local SGD, wall time.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#if IST_WITH_MPI
#include <mpi.h>

#include "ist/comm/mpi_comm.hpp"
#endif

#include "ist/backend/cpu_backend.hpp"
#include "ist/data/batch_iterator.hpp"
#include "ist/data/cifar.hpp"
#include "ist/data/idx.hpp"
#include "ist/decompose/any_decomposer.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/train/trainer.hpp"
#include "model_registry.hpp"

namespace {

struct Options {
  std::string protocol = "resist";
  std::string model = "resnet26-fashion";
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string format = "idx";
  int workers = 4;
  bool workers_given = false;
  bool mpi = false;
  int threads = 1;
  bool sequential = false;
  int min_depth = 0;
  std::string optimizer_state = "reset";
  std::string data_split = "shuffled";
  int train_subset = 0, test_subset = 0;
  bool resume = false;          // from the newest checkpoint in --checkpoint-dir
  std::string resume_from;      // a checkpoint file or directory
  std::string on_failure = "abort", after_failure = "survivors";
  std::string inject_failure;   // "W:R": worker W throws in round R (1-based), to try the failure handling
  ist::TrainerConfig trainer;
};

// True when an MPI launcher started this process (Open MPI, MPICH/Hydra, PMIx launchers such as srun).
bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

// Comm: ist::InProcessComm (S threads) or ist::MpiComm (one worker per rank; only rank 0 prints).
template <class Net, class Comm>
int run(const Options& o, Comm comm, const ist::ImageDataset& train, const ist::ImageDataset& test) {
  ist::AnyDecomposer decomposer = ist::Replicate{};
  if (o.protocol == "resist") decomposer = ist::LayerwiseRandom(o.min_depth);
  const int workers = comm.num_workers();
  const bool root = comm.is_coordinator();
  ist::CpuBackend<Comm> backend(std::move(comm), o.threads);
  ist::IndependentSubnetTrainer<Net, ist::AnyDecomposer, ist::HolderAverage, ist::CpuBackend<Comm>> trainer(
      decomposer, ist::HolderAverage{}, std::move(backend), o.trainer);
  const auto& info = trainer.info();
  if (root) {
    std::printf("%s", info.summary().c_str());
    std::printf("protocol %s (%s), S = %d workers x %d threads, L = %d local steps, batch %d, lr %g, schedule %s, "
                "seed %llu\n",
                o.protocol.c_str(), std::string(decomposer.name()).c_str(), workers, o.threads,
                o.trainer.local_steps, o.trainer.batch, o.trainer.sgd.lr, o.trainer.schedule.c_str(),
                (unsigned long long)o.trainer.seed);
    std::fflush(stdout);
  }
  if (!o.inject_failure.empty()) {
    int fail_worker = -1;
    unsigned long long fail_round = 0;
    char extra = 0;
    IST_CHECK(std::sscanf(o.inject_failure.c_str(), "%d:%llu%c", &fail_worker, &fail_round, &extra) == 2 &&
                  fail_worker >= 0 && fail_worker < workers && fail_round >= 1,
              "--inject-failure: expected W:R with 0 <= W < S = ", workers, " and round R >= 1, found '",
              o.inject_failure, "'");
    trainer.set_fault_injector([=](int w, std::uint64_t round) {
      if (w == fail_worker && round + 1 == fail_round)
        throw ist::Error("injected failure (--inject-failure " + o.inject_failure + ")");
    });
  }
  std::string resume_from = o.resume_from;
  if (o.resume) {
    const auto latest = ist::latest_checkpoint(o.trainer.checkpoint_dir);
    if (latest) resume_from = *latest;
    else if (root) std::printf("resume: no checkpoint in %s yet, starting from round 1\n", o.trainer.checkpoint_dir.c_str());
  }
  if (root && !resume_from.empty()) std::printf("resume: from %s\n", resume_from.c_str());
  const ist::FitResult r = trainer.fit(train, test, resume_from);  // under MPI every rank trains; rank 0 prints the rounds
  if (!root) return 0;
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

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto& t = o.trainer;
  t.local_steps = 50;
  t.epochs = 1;
  t.sgd = {0.1, 0.9, 5e-4, false};
  t.schedule = "step:0.5,0.75";
  CLI::App app{"ist-train: train a pre-activation ResNet with Independent Subnetwork Training (ResIST), local SGD "
               "or data-parallel SGD"};
  app.add_option("--protocol", o.protocol, "resist | local-sgd | ddp | single")
      ->capture_default_str()->check(CLI::IsMember({"resist", "local-sgd", "ddp", "single"}));
  app.add_option("--model", o.model, std::string("model preset: ") + ist::examples::kModelNames)->capture_default_str();
  app.add_option("--data", o.data, "data directory: Fashion-MNIST/MNIST IDX files, or CIFAR-10 binary batches")
      ->capture_default_str();
  app.add_option("--format", o.format, "data format: idx | cifar10")->capture_default_str()
      ->check(CLI::IsMember({"idx", "cifar10"}));
  app.add_option("-S,--workers", o.workers, "number of workers S")->capture_default_str();
  app.add_option("-L,--local-steps", t.local_steps, "local SGD steps per worker per round (ddp forces 1)")
      ->capture_default_str();
  app.add_option("--epochs", t.epochs, "passes of each worker over its data")->capture_default_str();
  app.add_option("--max-rounds", t.max_rounds, "stop after this many rounds (0 = from --epochs)")->capture_default_str();
  app.add_option("--batch", t.batch, "batch size per worker")->capture_default_str();
  app.add_option("--lr", t.sgd.lr, "base learning rate")->capture_default_str();
  app.add_option("--momentum", t.sgd.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--wd", t.sgd.weight_decay, "weight decay (L2 added to the gradient, as PyTorch)")
      ->capture_default_str();
  app.add_flag("--nesterov", t.sgd.nesterov, "Nesterov momentum");
  app.add_option("--schedule", t.schedule, "learning-rate schedule: constant | step:F1,F2,... | cosine")
      ->capture_default_str();
  app.add_option("--seed", t.seed, "random seed: initialization, plans, data order")->capture_default_str();
  app.add_option("--threads", o.threads, "compute threads per worker")->capture_default_str();
  app.add_flag("--sequential", o.sequential, "run the workers one after another (clean per-worker timings)");
  app.add_option("--min-depth", o.min_depth, "resist: minimum decomposable blocks per worker")->capture_default_str();
  app.add_option("--optimizer-state", o.optimizer_state, "momentum between rounds: reset | carry (ddp: carry)")
      ->capture_default_str()->check(CLI::IsMember({"reset", "carry"}));
  app.add_option("--data-split", o.data_split, "shuffled (each worker shuffles all data) | disjoint")
      ->capture_default_str()->check(CLI::IsMember({"shuffled", "disjoint"}));
  app.add_option("--eval-every", t.eval_every, "evaluate every K rounds (0 = only at the end)")->capture_default_str();
  app.add_option("--eval-batch", t.eval_batch, "evaluation batch size")->capture_default_str();
  app.add_option("--train-subset", o.train_subset, "use only the first N training images (0 = all)")
      ->capture_default_str();
  app.add_option("--test-subset", o.test_subset, "use only the first N test images (0 = all)")->capture_default_str();
  app.add_option("--metrics", t.metrics_path, "write one JSON row per round to this file (JSONL)");
  app.add_flag("!--quiet", t.progress, "no per-round progress lines");
  app.add_option("--checkpoint-dir", t.checkpoint_dir, "write a checkpoint after rounds into this directory");
  app.add_option("--checkpoint-every", t.checkpoint_every, "rounds between checkpoints")->capture_default_str();
  app.add_option("--keep-checkpoints", t.keep_checkpoints, "keep the newest K checkpoints")->capture_default_str();
  app.add_flag("--resume", o.resume, "continue from the newest checkpoint in --checkpoint-dir (if there is one)");
  app.add_option("--resume-from", o.resume_from, "continue from this checkpoint file (or directory: its newest)");
  app.add_option("--on-worker-failure", o.on_failure, "abort | drop (leave a failed worker's update out)")
      ->capture_default_str()->check(CLI::IsMember({"abort", "drop"}));
  app.add_option("--after-failure", o.after_failure,
                 "drop: repartition the next rounds over the survivors | all workers")
      ->capture_default_str()->check(CLI::IsMember({"survivors", "all"}));
  app.add_option("--inject-failure", o.inject_failure, "W:R: worker W throws in its local steps of round R");
  app.add_flag("--mpi", o.mpi, "workers are MPI ranks, S = the number of ranks (automatic under mpirun)");
  CLI11_PARSE(app, argc, argv);
  o.workers_given = app.count("--workers") > 0;

  // Under MPI: every rank runs this program; rank 0 coordinates and prints. MPI errors return codes (ist's
  // checks turn them into exceptions), and any rank's exception ends the whole job below with MPI_Abort.
  const bool use_mpi = o.mpi || launched_by_mpirun();
  int rank = 0, ranks = 1;
#if IST_WITH_MPI
  if (use_mpi) {
    int provided = 0;  // MPI is called from the main thread only; OpenMP threads compute
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  }
#endif
  const auto finish = [&](int status) {
#if IST_WITH_MPI
    if (use_mpi) MPI_Finalize();
#endif
    return status;
  };

  try {
#if !IST_WITH_MPI
    IST_CHECK(!use_mpi, "ist-train was built without MPI (configure with IST_ENABLE_MPI=ON where MPI is installed), "
              "but ", o.mpi ? "--mpi was given" : "it runs under an MPI launcher (mpirun)");
#endif
    if (use_mpi) {
      IST_CHECK(!o.workers_given || o.workers == ranks, "-S/--workers: under MPI, S is the number of ranks (", ranks,
                "), found -S ", o.workers);
      IST_CHECK(o.protocol != "single" || ranks == 1, "--protocol single: expected 1 MPI rank, found ", ranks);
      o.workers = ranks;
    }
    IST_CHECK(o.workers >= 1, "-S/--workers: expected S >= 1, found ", o.workers);
    IST_CHECK(o.threads >= 1, "--threads: expected >= 1, found ", o.threads);
    IST_CHECK(o.train_subset >= 0 && o.test_subset >= 0, "--train-subset/--test-subset: expected >= 0");
    if (o.protocol == "ddp") {
      t.local_steps = 1;
      o.optimizer_state = "carry";
    }
    if (o.protocol == "single") o.optimizer_state = "carry";
    t.optimizer_state = o.optimizer_state == "carry" ? ist::OptimizerState::Carry : ist::OptimizerState::ResetEachRound;
    t.data_split = o.data_split == "disjoint" ? ist::DataSplit::Disjoint : ist::DataSplit::ShuffledWhole;
    IST_CHECK(!o.resume || !t.checkpoint_dir.empty(), "--resume: needs --checkpoint-dir (where the checkpoints are)");
    IST_CHECK(!o.resume || o.resume_from.empty(), "--resume and --resume-from: give one of them, found both");
    t.on_worker_failure = o.on_failure == "drop" ? ist::WorkerFailure::DropForRound : ist::WorkerFailure::Abort;
    t.after_failure = o.after_failure == "all" ? ist::AfterFailure::AllWorkers : ist::AfterFailure::Survivors;
    ist::validate(t);  // a bad config stops here, before any data is read

    ist::ImageDataset train, test;
    if (o.format == "idx") {
      train = ist::load_fashion_mnist(o.data, true);
      test = ist::load_fashion_mnist(o.data, false);
      t.normalization = ist::fashion_mnist_normalization();
    } else {
      train = ist::load_cifar10(o.data, true);
      test = ist::load_cifar10(o.data, false);
      t.normalization = ist::cifar10_normalization();
      t.augmentation = {4, true};
    }
    if (o.train_subset > 0) train = ist::take_first(train, std::min(o.train_subset, train.n));
    if (o.test_subset > 0) test = ist::take_first(test, std::min(o.test_subset, test.n));
    if (rank == 0) {
      if (use_mpi) std::printf("mpi: %d ranks, one worker each; rank 0 coordinates\n", ranks);
      std::printf("data: %d training and %d test images of %dx%dx%d from %s\n", train.n, test.n, train.c, train.h,
                  train.w, o.data.c_str());
    }
    return finish(ist::examples::with_model(o.model, train.c, [&]<class Net>() {
#if IST_WITH_MPI
      if (use_mpi) return run<Net>(o, ist::MpiComm(), train, test);
#endif
      return run<Net>(o, ist::InProcessComm(o.protocol == "single" ? 1 : o.workers, !o.sequential), train, test);
    }));
  } catch (const std::exception& e) {
    if (use_mpi) {
      std::fprintf(stderr, "ist-train: rank %d of %d: error: %s\n", rank, ranks, e.what());
      std::fflush(stderr);
#if IST_WITH_MPI
      MPI_Abort(MPI_COMM_WORLD, 1);  // stops the ranks that wait for this one's messages
#endif
    } else {
      std::fprintf(stderr, "ist-train: error: %s\n", e.what());
    }
    return 1;
  }
}
