// Learning on real data: Fashion-MNIST from the Debian package dataset-fashion-mnist (installed by
// scripts/install-deps.sh). Each test trains on the first 10,000 training images and is measured on the
// full 10,000-image test set.
#include <doctest/doctest.h>

#include <filesystem>

#include "ist/data/idx.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/trainer.hpp"

namespace test_learning {

using namespace ist;

namespace {
struct FashionSubset {
  ImageDataset train, test;
  Normalization norm;
  FashionSubset() {
    const std::string dir = IST_FASHION_MNIST_DIR;
    REQUIRE_MESSAGE(std::filesystem::exists(dir), "Fashion-MNIST is missing: run scripts/install-deps.sh (package "
                                                  "dataset-fashion-mnist)");
    train = take_first(load_fashion_mnist(dir, true), 10000);
    test = load_fashion_mnist(dir, false);
    norm = fashion_mnist_normalization();
  }
};

TrainerConfig learning_config(const FashionSubset& d) {
  TrainerConfig c;
  c.batch = 128;
  c.sgd = {0.1, 0.9, 5e-4, false};
  c.seed = 1;
  c.eval_every = 0;  // only the final model
  c.normalization = d.norm;
  c.progress = false;
  return c;
}
}  // namespace

TEST_CASE("learning: single-worker SGD trains PreAct ResNet-20 to >= 75% on a 10k Fashion-MNIST subset in 2 epochs") {
  const FashionSubset d;
  auto cfg = learning_config(d);
  cfg.epochs = 2;
  cfg.local_steps = 78;                              // one round per epoch of 10,000 / 128 batches
  cfg.optimizer_state = OptimizerState::Carry;       // one worker carrying its momentum: plain SGD
  IndependentSubnetTrainer<PreActResNet20<1, 10>, Replicate> t(Replicate{}, HolderAverage{},
                                                               CpuBackend<>(InProcessComm(1), 2), cfg);
  const FitResult r = t.fit(d.train, d.test);
  MESSAGE("single-worker PreAct ResNet-20, 2 epochs on 10k images: test accuracy " << r.final_eval.accuracy << " ("
          << r.rounds.size() << " rounds, " << r.wall_seconds << " s)");
  CHECK(r.final_eval.samples == 10000);
  CHECK(r.final_eval.accuracy >= 0.75);
}

TEST_CASE("learning: ResIST with S = 4 trains PreAct ResNet-20 to >= 75% on a 10k Fashion-MNIST subset") {
  const FashionSubset d;
  auto cfg = learning_config(d);
  cfg.local_steps = 10;
  cfg.max_rounds = 12;  // 120 local steps per worker
  IndependentSubnetTrainer<PreActResNet20<1, 10>, LayerwiseRandom> t(LayerwiseRandom{}, HolderAverage{},
                                                                     CpuBackend<>(InProcessComm(4), 1), cfg);
  const FitResult r = t.fit(d.train, d.test);
  MESSAGE("ResIST S=4 PreAct ResNet-20, " << r.rounds.size() << " rounds of L=10: test accuracy "
          << r.final_eval.accuracy << ", moved " << r.total_bytes / 1e6 << " MB vs local SGD "
          << r.local_sgd_bytes / 1e6 << " MB, " << r.wall_seconds << " s");
  CHECK(r.final_eval.accuracy >= 0.75);
  CHECK(r.total_bytes < r.local_sgd_bytes);
}

}  // namespace test_learning
