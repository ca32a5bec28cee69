// Learning on real data: IST of a fully connected network on the first 10,000 Fashion-MNIST training images
// (the Debian package dataset-fashion-mnist), measured on the full 10,000-image test set.
#include <doctest/doctest.h>

#include <filesystem>

#include "ist/data/idx.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/mlp_traits.hpp"
#include "ist/train/trainer.hpp"

namespace test_mlp_learning {

using namespace ist;

TEST_CASE("mlp: IST with S = 4 trains a 784-512-512-10 MLP to >= 82% on a 10k Fashion-MNIST subset") {
  const std::string dir = IST_FASHION_MNIST_DIR;
  REQUIRE_MESSAGE(std::filesystem::exists(dir), "Fashion-MNIST is missing: run scripts/install-deps.sh (package "
                                                "dataset-fashion-mnist)");
  const ImageDataset train = take_first(load_fashion_mnist(dir, true), 10000);
  const ImageDataset test = load_fashion_mnist(dir, false);
  TrainerConfig cfg;
  cfg.batch = 128;
  cfg.local_steps = 10;
  cfg.epochs = 5;                     // 5 passes of each worker over the 10k images: 39 rounds
  cfg.sgd = {0.1, 0.0, 0.0, false};   // IST: plain SGD
  cfg.eval_every = 0;
  cfg.normalization = fashion_mnist_normalization();
  cfg.progress = false;
  using Net = Mlp<Input<784>, Dense<512>, Dense<512>, Dense<10>>;
  IndependentSubnetTrainer<Net, WidthwiseRandom> t(WidthwiseRandom{}, HolderAverage{},
                                                   CpuBackend<>(InProcessComm(4), 1), cfg);
  const FitResult r = t.fit(train, test);
  MESSAGE("IST S=4 Mlp 784-512-512-10, " << r.rounds.size() << " rounds of L=10: test accuracy "
          << r.final_eval.accuracy << " (loss " << r.final_eval.loss << "), moved " << r.total_bytes / 1e6
          << " MB vs local SGD " << r.local_sgd_bytes / 1e6 << " MB, " << r.wall_seconds << " s");
  CHECK(r.final_eval.samples == 10000);
  CHECK(r.final_eval.accuracy >= 0.82);
  CHECK(r.final_eval.loss < 0.6);  // the evaluation scale keeps the global model's logits calibrated
  CHECK(double(r.total_bytes) < 0.2 * double(r.local_sgd_bytes));
}

}  // namespace test_mlp_learning
