// ist-train: the main job. Trains a pre-activation ResNet with Independent Subnetwork Training.
//
//   ist-train                                     # ResIST, S = 4 workers, resnet26-fashion, Fashion-MNIST
//   ist-train --protocol local-sgd -S 4 -L 50     # the same run with local SGD
//   ist-train --protocol ddp -S 4                 # synchronous data-parallel SGD (L = 1, carried momentum)
//   ist-train --protocol single                   # one worker, plain SGD
//   mpirun -np 4 ist-train                        # ResIST with one worker per MPI rank (S = ranks)
//   ist-train --backend cuda                      # the 4 workers as CUDA streams on one GPU (cuDNN, cuBLAS)
//   mpirun -np 4 ist-train --backend cuda         # one worker per rank and GPU, slices over NCCL
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
#include "model_registry.hpp"
#include "train_run.hpp"

namespace {

// True when an MPI launcher started this process (Open MPI, MPICH/Hydra, PMIx launchers such as srun).
bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  ist::examples::TrainOptions o;
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
  app.add_option("--backend", o.backend, "cpu (Eigen) | cuda (cuDNN and cuBLAS; the S workers run as streams on one GPU)")
      ->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--gpu", o.gpu, "--backend cuda: the CUDA device")->capture_default_str();
  app.add_flag("--tf32", o.tf32, "--backend cuda: allow TF32 tensor cores (faster, ~1e-3 relative error)");
  app.add_flag("--cudnn-benchmark", o.cudnn_benchmark,
               "--backend cuda: time cuDNN's convolution algorithms (faster, not bit-reproducible)");
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
#if !IST_WITH_CUDA
    IST_CHECK(o.backend != "cuda", "--backend cuda: this ist-train was built without the CUDA backend; reconfigure "
              "with -DIST_ENABLE_CUDA=ON where nvcc and cuDNN are installed (docs/cuda.md)");
#endif
    o.under_mpi = use_mpi;
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
#if IST_WITH_CUDA
    if (o.backend == "cuda") return finish(ist::examples::run_on_cuda(o, train, test));
#endif
    const std::string where = use_mpi ? "(MPI ranks) x " + std::to_string(o.threads) + " threads"
                                      : "x " + std::to_string(o.threads) + " threads";
    return finish(ist::examples::with_model(o.model, train.c, [&]<class Net>() {
#if IST_WITH_MPI
      if (use_mpi) return ist::examples::run<Net>(o, ist::CpuBackend(ist::MpiComm(), o.threads), where, train, test);
#endif
      const int workers = o.protocol == "single" ? 1 : o.workers;
      return ist::examples::run<Net>(o, ist::CpuBackend(ist::InProcessComm(workers, !o.sequential), o.threads), where,
                                     train, test);
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
