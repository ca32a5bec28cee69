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
//   ist-train --format folder --data ../shared/data/cifar10-jpeg --model resnet20
//                                                 # an image folder: DIR/train/<class>/*.jpg, DIR/test/<class>/*.jpg
//
// Under mpirun (detected from the launcher's environment, or forced with --mpi) the workers are MPI
// ranks, rank 0 coordinates and prints; see docs/mpi.md. A rank that fails prints its error and ends the
// whole job with MPI_Abort.
//
// Prints one line per round (loss, accuracy, bytes moved, step time), writes one JSON row per round to
// --metrics, and ends with a summary: final test accuracy, bytes moved versus local SGD, wall time.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#if IST_WITH_MPI
#include "ist/comm/mpi_comm.hpp"
#endif

#include "ist/backend/cpu_backend.hpp"
#include "ist/comm/any_comm.hpp"
#include "ist/data/batch_iterator.hpp"
#include "ist/data/cifar.hpp"
#include "ist/data/idx.hpp"
#include "ist/data/image_folder.hpp"
#include "model_registry.hpp"
#include "mpi_launch.hpp"
#include "train_run.hpp"

namespace {
// The seed of the one fixed order an image folder is put in after loading (ist::shuffled): a constant, so
// that every --seed sees the same images in a --train-subset / --test-subset and the same test batches.
constexpr std::uint64_t kFolderOrderSeed = 0x666f6c646572ULL;  // "folder"
}  // namespace

int main(int argc, char** argv) {
  ist::examples::TrainOptions o;
  auto& t = o.trainer;
  t.local_steps = 50;
  t.epochs = 1;
  o.optimizer.lr = 0.1;
  o.optimizer.momentum = 0.9;
  o.optimizer.weight_decay = 5e-4;
  t.schedule = "step:0.5,0.75";
  CLI::App app{"ist-train: train a pre-activation ResNet with Independent Subnetwork Training (ResIST), local SGD "
               "or data-parallel SGD"};
  app.add_option("--protocol", o.protocol, "resist | local-sgd | ddp | single")
      ->capture_default_str()->check(CLI::IsMember({"resist", "local-sgd", "ddp", "single"}));
  app.add_option("--model", o.model, std::string("model preset: ") + ist::examples::kModelNames)->capture_default_str();
  app.add_option("--data", o.data,
                 "data directory: Fashion-MNIST/MNIST IDX files, CIFAR-10 binary batches, or (--format folder) "
                 "DIR/train and DIR/test holding one subfolder of JPEG/PNG images per class")
      ->capture_default_str();
  app.add_option("--format", o.format, "data format: idx | cifar10 | folder (image folders, classes = sorted subfolders)")
      ->capture_default_str()->check(CLI::IsMember({"idx", "cifar10", "folder"}));
  app.add_option("--normalization", o.normalization,
                 "per-channel normalization: auto (the training set's mean and stddev) | cifar10 | fashion-mnist | "
                 "none; default: the format's (idx: fashion-mnist, cifar10: cifar10, folder: auto)")
      ->check(CLI::IsMember({"auto", "cifar10", "fashion-mnist", "none"}));
  app.add_option("--augment", o.augment,
                 "training augmentation: none | crop-flip (pad 4, random crop, random horizontal flip); default: the "
                 "format's (idx: none, cifar10 and folder: crop-flip)")
      ->check(CLI::IsMember({"none", "crop-flip"}));
  ist::examples::add_layout_flags(app, t, o.workers, o.threads, o.sequential, "number of workers S",
                                  "local SGD steps per worker per round (ddp forces 1)",
                                  "passes of each worker over its data");
  ist::examples::add_batch_flags(app, t, o.train_subset, o.test_subset, "evaluation batch size",
                                 "the first N; --format folder: of the folder put in one fixed random order, so "
                                 "every class is in them");
  ist::examples::add_optimizer_flags(app, o.optimizer);
  ist::examples::add_run_flags(app, o.run, t);
  std::string init_scheme = "auto";
  app.add_option("--init-scheme", init_scheme,
                 "how convolution weights are drawn: kaiming (normal, std sqrt(2/fan_in)) | torch (uniform "
                 "+-1/sqrt(fan_in), PyTorch's default) | auto (the preset's: torch for resnet26-resist and resnet101, "
                 "which follow the ResIST reference code; kaiming for the others)")
      ->capture_default_str()->check(CLI::IsMember({"auto", "kaiming", "torch"}));
  app.add_option("--min-depth", o.min_depth, "resist: minimum decomposable blocks per worker")->capture_default_str();
  app.add_flag("--mpi", o.mpi, "workers are MPI ranks, S = the number of ranks (automatic under mpirun)");
  app.add_option("--backend", o.backend, "cpu (Eigen) | cuda (cuDNN and cuBLAS; the S workers run as streams on one GPU)")
      ->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--gpu", o.gpu, "--backend cuda: the CUDA device")->capture_default_str();
  app.add_flag("--tf32", o.tf32, "--backend cuda: allow TF32 tensor cores (faster, ~1e-3 relative error)");
  app.add_flag("--cudnn-benchmark", o.cudnn_benchmark,
               "--backend cuda: time cuDNN's convolution algorithms (faster, not bit-reproducible)");
  CLI11_PARSE(app, argc, argv);
  o.workers_given = app.count("--workers") > 0;
  t.init_scheme = ist::examples::init_scheme_of(o.model, init_scheme);

  // Under MPI: every rank runs this program; rank 0 coordinates and prints. Any rank's exception ends the
  // whole job (MpiSession::fail).
  const bool use_mpi = o.mpi || ist::examples::launched_by_mpirun();
  ist::examples::MpiSession mpi(argc, argv, use_mpi);
  const int rank = mpi.rank(), ranks = mpi.ranks();

  try {
    mpi.require_built_with_mpi("ist-train", o.mpi);
    if (use_mpi) {
      IST_CHECK(!o.workers_given || o.workers == ranks, "-S/--workers: under MPI, S is the number of ranks (", ranks,
                "), found -S ", o.workers);
      IST_CHECK(o.protocol != "single" || ranks == 1, "--protocol single: expected 1 MPI rank, found ", ranks);
      o.workers = ranks;
    }
#if !IST_WITH_CUDA
    IST_CHECK(o.backend != "cuda", "--backend cuda: this ist-train was built without the CUDA backend; reconfigure "
              "with -DIST_ENABLE_CUDA=ON where nvcc and cuDNN are installed (docs/cuda.md)");
#endif
    o.under_mpi = use_mpi;
    if (o.protocol == "ddp") {
      t.local_steps = 1;
      o.run.optimizer_state = "carry";
    }
    if (o.protocol == "single") o.run.optimizer_state = "carry";
    ist::examples::apply(o.run, t);
    ist::validate(t);  // a bad config stops here, before any data is read
    (void)ist::examples::make_optimizer<ist::eigen::CpuContext>(o.optimizer);  // and a bad optimizer config

    ist::ImageDataset train, test;
    const auto load_start = std::chrono::steady_clock::now();
    if (o.format == "idx") {
      train = ist::load_fashion_mnist(o.data, true);
      test = ist::load_fashion_mnist(o.data, false);
    } else if (o.format == "cifar10") {
      train = ist::load_cifar10(o.data, true);
      test = ist::load_cifar10(o.data, false);
    } else {
      ist::ImageFolderSplit split = ist::load_image_folder_split(o.data);
      train = std::move(split.train);
      test = std::move(split.test);
    }
    const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
    // An image folder is sorted by class: put it in one fixed random order (the same for every --seed), so
    // that subsets keep every class and evaluation batches, normalized by their own statistics, mix classes.
    if (o.format == "folder") {
      train = ist::shuffled(train, kFolderOrderSeed);
      test = ist::shuffled(test, kFolderOrderSeed + 1);
    }
    if (o.train_subset > 0) train = ist::take_first(train, std::min(o.train_subset, train.n));
    if (o.test_subset > 0) test = ist::take_first(test, std::min(o.test_subset, test.n));
    // Each format's natural preprocessing unless --normalization / --augment say otherwise.
    const std::string norm = !o.normalization.empty() ? o.normalization
                             : o.format == "idx"      ? "fashion-mnist"
                             : o.format == "cifar10"  ? "cifar10"
                                                      : "auto";
    const std::string augment = !o.augment.empty() ? o.augment : o.format == "idx" ? "none" : "crop-flip";
    if (norm == "fashion-mnist") t.normalization = ist::fashion_mnist_normalization();
    if (norm == "cifar10") t.normalization = ist::cifar10_normalization();
    if (norm == "auto") t.normalization = ist::compute_normalization(train);  // of the images trained on
    IST_CHECK(t.normalization.mean.empty() || t.normalization.mean.size() == static_cast<std::size_t>(train.c),
              "--normalization ", norm, ": expected data with ", t.normalization.mean.size(),
              " channel(s), the data has ", train.c, " (try --normalization auto)");
    if (augment == "crop-flip") t.augmentation = ist::cifar10_augmentation();
    if (rank == 0) {
      if (use_mpi) std::printf("mpi: %d ranks, one worker each; rank 0 coordinates\n", ranks);
      std::printf("data: %d training and %d test images of %dx%dx%d from %s (read in %.2f s)\n", train.n, test.n,
                  train.c, train.h, train.w, o.data.c_str(), load_seconds);
      if (!train.class_names.empty()) {
        std::string names;
        for (const std::string& name : train.class_names) names += (names.empty() ? "" : ", ") + name;
        std::printf("classes (%d): %s\n", train.num_classes, names.c_str());
      }
      std::string stats;
      for (std::size_t ch = 0; ch < t.normalization.mean.size(); ++ch) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%.4f/%.4f", ch ? ", " : " (mean/stddev ", t.normalization.mean[ch],
                      t.normalization.stddev[ch]);
        stats += buf;
      }
      std::printf("preprocessing: normalization %s%s%s, augmentation %s\n", norm.c_str(), stats.c_str(),
                  stats.empty() ? "" : ")", augment.c_str());
    }
#if IST_WITH_CUDA
    if (o.backend == "cuda") return ist::examples::run_on_cuda(o, train, test);
#endif
    const std::string where = use_mpi ? "(MPI ranks) x " + std::to_string(o.threads) + " threads"
                                      : "x " + std::to_string(o.threads) + " threads";
    // One communicator type for both ways of running, so each model's trainer is compiled once.
    auto comm = [&]() -> ist::AnyComm {
#if IST_WITH_MPI
      if (use_mpi) return ist::MpiComm();
#endif
      return ist::InProcessComm(o.protocol == "single" ? 1 : o.workers, !o.sequential);
    };
    return ist::examples::with_model(o.model, train.c, [&]<class Net>() {
      return ist::examples::run<Net>(o, ist::CpuBackend<ist::AnyComm>(comm(), o.threads), where, train, test);
    });
  } catch (const std::exception& e) {
    return mpi.fail("ist-train", e);
  }
}
