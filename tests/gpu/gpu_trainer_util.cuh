#pragma once
// Helpers shared by the GPU trainer tests (test_cuda_trainer.cu, test_nccl.cu): a small real training set and
// the configuration of a short run that the CUDA and Eigen trainers both make.
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "ist/data/batch_iterator.hpp"
#include "ist/data/idx.hpp"
#include "ist/optim/sgd.hpp"
#include "ist/train/trainer_config.hpp"

namespace ist::test {

// Fashion-MNIST's test images: the first `n` as a small training set; nullopt when the files are missing.
// IST_FASHION_MNIST_DIR overrides the Debian package's folder (a GPU machine may hold a copy elsewhere).
inline std::optional<ImageDataset> fashion_subset(int n) {
  const char* env = std::getenv("IST_FASHION_MNIST_DIR");
  const std::string dir = env && *env ? env : "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(std::filesystem::path(dir) / "t10k-labels-idx1-ubyte.gz") &&
      !std::filesystem::exists(std::filesystem::path(dir) / "t10k-labels-idx1-ubyte"))
    return std::nullopt;
  return take_first(load_fashion_mnist(dir, false), n);
}

// `rounds` rounds of L = local_steps steps at batch 32 with `sgd`, Fashion-MNIST normalization, evaluated
// once at the end, quietly.
inline TrainerConfig short_run_config(int local_steps, optim::SgdConfig sgd, int rounds = 2) {
  TrainerConfig cfg;
  cfg.local_steps = local_steps;
  cfg.batch = 32;
  cfg.max_rounds = rounds;
  cfg.eval_every = 0;
  cfg.eval_batch = 256;
  cfg.progress = false;
  cfg.sgd = sgd;
  cfg.normalization = fashion_mnist_normalization();
  return cfg;
}

}  // namespace ist::test
