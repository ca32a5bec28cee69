// ist-train: the main job. Trains a pre-activation ResNet on Fashion-MNIST (or MNIST / CIFAR-10).
//
//   ist-train                                   # defaults: resnet26-fashion on /usr/share/datasets/fashion-mnist
//   ist-train --model resnet20 --epochs 3 --lr 0.1 --metrics run.jsonl
//
// Prints a progress line every --log-every steps and one line per epoch, writes one JSON row per epoch
// to --metrics, and ends with a summary.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/data/batch_iterator.hpp"
#include "ist/data/cifar.hpp"
#include "ist/data/idx.hpp"
#include "ist/layers/resnet_network.hpp"
#include "ist/model/init.hpp"
#include "ist/model/model_info.hpp"
#include "ist/optim/schedule.hpp"
#include "ist/optim/sgd.hpp"
#include "ist/train/evaluate.hpp"
#include "ist/train/local_steps.hpp"
#include "ist/train/metrics_log.hpp"
#include "model_registry.hpp"

namespace {

struct Config {
  std::string model = "resnet26-fashion";
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string format = "idx";  // idx | cifar10
  int epochs = 3;
  int batch = 128;
  double lr = 0.1, momentum = 0.9, weight_decay = 5e-4;
  std::string schedule = "constant";
  bool nesterov = false;
  std::uint64_t seed = 1;
  int threads = 2;
  int train_subset = 0;  // 0 = all
  int eval_batch = 128;
  std::string eval_bn = "running";  // running | batch
  int pad_crop = 0;
  bool hflip = false;
  std::string metrics;
  int log_every = 50;
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

template <class Net>
int train(const Config& cfg, const ist::ImageDataset& train_set, const ist::ImageDataset& test_set,
          const ist::Normalization& norm) {
  const auto info = ist::model_info<Net>(cfg.model);
  std::cout << info.summary();
  ist::eigen::CpuContext ctx(cfg.threads);
  ist::ResNetNetwork<Net> net(ctx);
  std::vector<float> params(Net::num_params), grads(Net::num_params), stats(Net::num_bn_stats);
  ist::init_params<Net>(std::span<float>(params), cfg.seed);
  ist::init_bn_stats<Net>(std::span<float>(stats));
  const auto layout = ist::ParamLayout::full<Net>();
  ist::optim::Sgd<float> sgd({cfg.lr, cfg.momentum, cfg.weight_decay, cfg.nesterov}, Net::num_params);
  const auto schedule = ist::optim::parse_schedule(cfg.schedule, cfg.lr, cfg.epochs);
  ist::BatchIterator it(train_set, cfg.batch, norm, {cfg.pad_crop, cfg.hflip}, cfg.seed, true, /*drop_last=*/true);
  ist::MetricsLog log(cfg.metrics);
  ist::ForwardOptions<float> fwd;
  fwd.running_stats = stats.data();
  ist::ForwardOptions<float> eval = fwd;
  eval.bn = cfg.eval_bn == "batch" ? ist::BnStatistics::Batch : ist::BnStatistics::Running;

  const auto start = Clock::now();
  const int steps_per_epoch = it.batches_per_epoch();
  ist::BatchStream stream(it);
  net.configure(cfg.batch, train_set.h, train_set.w);
  ist::EvalResult last{};
  for (int epoch = 0; epoch < cfg.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    ist::StepStats ep;
    while (ep.steps < steps_per_epoch) {
      const int chunk = std::min(cfg.log_every > 0 ? cfg.log_every : steps_per_epoch, steps_per_epoch - ep.steps);
      const int done = ep.steps;
      auto lr_of = [&](int i) { return ist::optim::lr_at(schedule, epoch + double(done + i) / steps_per_epoch); };
      ep += ist::run_local_steps(net, sgd, std::span<float>(params), std::span<float>(grads), layout, stream, chunk,
                                 fwd, lr_of);
      if (cfg.log_every > 0)
        std::printf("  epoch %d step %d/%d  loss %.4f  train acc %.4f  lr %.4g  %.1f s\n", epoch + 1, ep.steps,
                    steps_per_epoch, ep.mean_loss(), ep.accuracy(), lr_of(chunk - 1), seconds_since(epoch_start));
      std::fflush(stdout);
    }
    const double train_seconds = seconds_since(epoch_start);
    last = ist::evaluate(net, params.data(), layout, test_set, cfg.eval_batch, norm, eval);
    net.configure(cfg.batch, train_set.h, train_set.w);
    std::printf("epoch %d/%d  train loss %.4f  train acc %.4f  test loss %.4f  test acc %.4f  %.1f s (train %.1f s)\n",
                epoch + 1, cfg.epochs, ep.mean_loss(), ep.accuracy(), last.loss, last.accuracy,
                seconds_since(epoch_start), train_seconds);
    std::fflush(stdout);
    ist::MetricsRow row;
    row.add("epoch", epoch + 1)
        .add("train_loss", ep.mean_loss())
        .add("train_accuracy", ep.accuracy())
        .add("test_loss", last.loss)
        .add("test_accuracy", last.accuracy)
        .add("epoch_seconds", train_seconds)
        .add("wall_seconds", seconds_since(start));
    log.append(row);
  }
  std::printf("summary: model %s, %d epochs, seed %llu, final test accuracy %.4f, wall time %.1f s%s%s\n",
              cfg.model.c_str(), cfg.epochs, (unsigned long long)cfg.seed, last.accuracy, seconds_since(start),
              log.enabled() ? ", metrics in " : "", log.enabled() ? log.path().c_str() : "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"ist-train: train a pre-activation ResNet with ist (single worker)"};
  app.add_option("--model", cfg.model, std::string("model preset: ") + ist::examples::kModelNames)
      ->capture_default_str();
  app.add_option("--data", cfg.data, "data directory (Fashion-MNIST/MNIST IDX files, or CIFAR-10 binary batches)")
      ->capture_default_str();
  app.add_option("--format", cfg.format, "data format: idx | cifar10")->capture_default_str();
  app.add_option("--epochs", cfg.epochs, "training epochs")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch", cfg.batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lr", cfg.lr, "base learning rate")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--momentum", cfg.momentum, "SGD momentum")->capture_default_str()->check(CLI::Range(0.0, 0.999999));
  app.add_option("--wd", cfg.weight_decay, "weight decay (L2, PyTorch-style)")->capture_default_str();
  app.add_flag("--nesterov", cfg.nesterov, "Nesterov momentum");
  app.add_option("--schedule", cfg.schedule, "learning-rate schedule: constant | step:F1,F2,... | cosine")
      ->capture_default_str();
  app.add_option("--seed", cfg.seed, "random seed (initialization, data order)")->capture_default_str();
  app.add_option("--threads", cfg.threads, "compute threads")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--train-subset", cfg.train_subset, "use only the first N training images (0 = all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--eval-batch", cfg.eval_batch, "evaluation batch size")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--eval-bn", cfg.eval_bn, "batch-norm statistics at evaluation: running | batch")
      ->capture_default_str()->check(CLI::IsMember({"running", "batch"}));
  app.add_option("--pad-crop", cfg.pad_crop, "random crop with this much zero padding (0 = off)")
      ->capture_default_str();
  app.add_flag("--hflip", cfg.hflip, "random horizontal flips");
  app.add_option("--metrics", cfg.metrics, "write one JSON row per epoch to this file (JSONL)");
  app.add_option("--log-every", cfg.log_every, "progress line every N steps (0 = off)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    ist::ImageDataset train_set, test_set;
    ist::Normalization norm;
    if (cfg.format == "idx") {
      train_set = ist::load_fashion_mnist(cfg.data, true);
      test_set = ist::load_fashion_mnist(cfg.data, false);
      norm = ist::compute_normalization(train_set);
    } else if (cfg.format == "cifar10") {
      train_set = ist::load_cifar10(cfg.data, true);
      test_set = ist::load_cifar10(cfg.data, false);
      norm = ist::cifar10_normalization();
    } else {
      ist::fail("--format: expected idx or cifar10, found \"", cfg.format, "\"");
    }
    if (cfg.train_subset > 0) train_set = ist::take_first(train_set, std::min(cfg.train_subset, train_set.n));
    std::printf("data: %d training and %d test images of %dx%dx%d from %s\n", train_set.n, test_set.n, train_set.c,
                train_set.h, train_set.w, cfg.data.c_str());
    return ist::examples::with_model(cfg.model, train_set.c, [&]<class Net>() {
      return train<Net>(cfg, train_set, test_set, norm);
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ist-train: error: %s\n", e.what());
    return 1;
  }
}
