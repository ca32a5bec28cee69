// ist-mlp: IST (width-wise independent subnetwork training) of a fully connected network on Fashion-MNIST:
// bias-free hidden layers, each followed by batch normalization from batch statistics and ReLU, plain SGD.
//
//   ist-mlp                                        # IST, S = 4 workers, 784-1024-1024-10, L = 10
//   ist-mlp --protocol local-sgd -S 4 -L 10        # the same budget with local SGD
//   ist-mlp --protocol single                      # one worker, plain SGD
//   ist-mlp --width 512 --layers 3 -S 8            # 784-512-512-512-10 cut into 8 sub-networks
//
// Prints one line per round (loss, accuracy, bytes moved, step time), writes one JSON row per round to
// --metrics, and ends with a summary: final test accuracy, bytes moved versus local SGD, wall time.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "ist/backend/cpu_backend.hpp"
#include "ist/data/batch_iterator.hpp"
#include "ist/data/idx.hpp"
#include "ist/decompose/any_decomposer.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/mlp_traits.hpp"
#include "ist/train/trainer.hpp"
#include "live_progress.hpp"
#include "optimizer_registry.hpp"
#include "run_flags.hpp"

namespace {

struct Options {
  std::string protocol = "ist";
  std::string data = "/usr/share/datasets/fashion-mnist";
  int workers = 4;
  int width = 1024;
  int layers = 2;
  int threads = 1;
  bool sequential = false;
  int train_subset = 0, test_subset = 0;
  ist::examples::OptimizerOptions optimizer;
  ist::examples::RunFlags run;
  ist::TrainerConfig trainer;
};

template <class Net>
int run(const Options& o, const ist::ImageDataset& train, const ist::ImageDataset& test) {
  ist::AnyDecomposer decomposer = ist::Replicate{};
  if (o.protocol == "ist") decomposer = ist::examples::with_shares(o.run, ist::WidthwiseRandom{});
  const int workers = o.protocol == "single" ? 1 : o.workers;
  ist::CpuBackend<> backend(ist::InProcessComm(workers, !o.sequential), o.threads);
  ist::IndependentSubnetTrainer<Net, ist::AnyDecomposer> trainer(
      decomposer, ist::HolderAverage{}, std::move(backend), o.trainer,
      ist::examples::make_optimizer<ist::eigen::CpuContext>(o.optimizer));
  std::printf("%s", trainer.info().summary().c_str());
  std::printf("protocol %s (%s), S = %d workers x %d threads, L = %d local steps, batch %d, optimizer %s, "
              "schedule %s, seed %llu\n",
              o.protocol.c_str(), std::string(decomposer.name()).c_str(), workers, o.threads, o.trainer.local_steps,
              o.trainer.batch, ist::examples::describe(trainer.optimizer()).c_str(), o.trainer.schedule.c_str(),
              (unsigned long long)o.trainer.seed);
  std::fflush(stdout);
  ist::examples::install_fault_injector(trainer, o.run, workers);
  ist::examples::load_initial_weights<Net>(o.run, trainer, true);
  ist::examples::install_live_progress(trainer, o.trainer.progress);  // a live step counter on a terminal
  const ist::FitResult r = trainer.fit(train, test, ist::examples::resume_point(o.run, o.trainer, true));
  ist::examples::save_final_weights<Net>(o.run, trainer, decomposer, workers, {{"ist.protocol", o.protocol}});
  std::printf("summary: %s on mlp 784-%dx%d-10, %zu rounds, final test accuracy %.4f (loss %.4f), moved %.1f MB = "
              "%.3fx local SGD's %.1f MB (data-parallel all-reduce: %.1f MB), wall time %.1f s%s%s\n",
              o.protocol.c_str(), o.width, o.layers, r.rounds.size(), r.final_eval.accuracy, r.final_eval.loss,
              r.total_bytes / 1e6, double(r.total_bytes) / double(r.local_sgd_bytes), r.local_sgd_bytes / 1e6,
              r.ddp_bytes / 1e6, r.wall_seconds, o.trainer.metrics_path.empty() ? "" : ", metrics in ",
              o.trainer.metrics_path.c_str());
  return 0;
}

// Calls run<Mlp<784, width x layers, 10>>.
int with_model(const Options& o, const ist::ImageDataset& train, const ist::ImageDataset& test) {
  using ist::Dense;
  using ist::Input;
  using ist::Mlp;
  auto pick = [&]<int W>() {
    if (o.layers == 1) return run<Mlp<Input<784>, Dense<W>, Dense<10>>>(o, train, test);
    if (o.layers == 2) return run<Mlp<Input<784>, Dense<W>, Dense<W>, Dense<10>>>(o, train, test);
    return run<Mlp<Input<784>, Dense<W>, Dense<W>, Dense<W>, Dense<10>>>(o, train, test);
  };
  switch (o.width) {
    case 256: return pick.template operator()<256>();
    case 512: return pick.template operator()<512>();
    case 1024: return pick.template operator()<1024>();
    case 2048: return pick.template operator()<2048>();
  }
  ist::fail("--width: expected 256, 512, 1024 or 2048, found ", o.width);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto& t = o.trainer;
  t.local_steps = 10;
  t.epochs = 5;
  t.batch = 128;
  o.optimizer.lr = 0.1;  // IST: plain SGD (no momentum, no decay)
  t.schedule = "constant";
  t.eval_every = 10;
  CLI::App app{"ist-mlp: train a fully connected network on Fashion-MNIST with IST (width-wise independent subnetwork "
               "training), local SGD or a single worker"};
  app.add_option("--protocol", o.protocol, "ist | local-sgd | single")->capture_default_str()
      ->check(CLI::IsMember({"ist", "local-sgd", "single"}));
  app.add_option("--data", o.data, "folder holding the Fashion-MNIST (or MNIST) IDX files")->capture_default_str();
  ist::examples::add_layout_flags(app, t, o.workers, o.threads, o.sequential, "number of workers S",
                                  "local SGD steps per worker per round", "passes of each worker over its data");
  ist::examples::add_batch_flags(app, t, o.train_subset, o.test_subset, "evaluation batch size (batch statistics)",
                                 "the first N");
  app.add_option("--width", o.width, "units per hidden layer: 256, 512, 1024 or 2048")->capture_default_str();
  app.add_option("--layers", o.layers, "hidden layers: 1, 2 or 3")->capture_default_str()
      ->check(CLI::IsMember({1, 2, 3}));
  ist::examples::add_optimizer_flags(app, o.optimizer);
  ist::examples::add_run_flags(app, o.run, t);
  CLI11_PARSE(app, argc, argv);

  try {
    IST_CHECK(o.width == 256 || o.width == 512 || o.width == 1024 || o.width == 2048,
              "--width: expected 256, 512, 1024 or 2048, found ", o.width);
    if (o.protocol == "single") o.run.optimizer_state = "carry";
    ist::examples::apply(o.run, t);
    ist::validate(t);  // a bad config stops here, before any data is read
    (void)ist::examples::make_optimizer<ist::eigen::CpuContext>(o.optimizer);  // and a bad optimizer config

    ist::ImageDataset train = ist::load_fashion_mnist(o.data, true);
    ist::ImageDataset test = ist::load_fashion_mnist(o.data, false);
    t.normalization = ist::fashion_mnist_normalization();
    if (o.train_subset > 0) train = ist::take_first(train, std::min(o.train_subset, train.n));
    if (o.test_subset > 0) test = ist::take_first(test, std::min(o.test_subset, test.n));
    std::printf("data: %d training and %d test images of %dx%dx%d from %s\n", train.n, test.n, train.c, train.h,
                train.w, o.data.c_str());
    return with_model(o, train, test);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ist-mlp: error: %s\n", e.what());
    return 1;
  }
}
