// A decomposition policy written by a user: deterministic round-robin over the decomposable blocks.
// In round r, worker w holds the decomposable blocks whose position i (among the decomposable blocks)
// satisfies (i + r) mod S == w. Every block has one owner, and ownership rotates every round.
//
// It only has to satisfy ist::Decomposer (plan, rules, name); nothing in the trainer, the backends or the
// aggregator changes. Adding evaluation_scale() makes the trainer scale residual branches at evaluation.
//
//   custom_decomposer [FASHION_MNIST_DIR] [ROUNDS]        (--help: CLI11)
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "ist/data/idx.hpp"
#include "ist/decompose/decomposer.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/trainer.hpp"

struct RoundRobinBlocks {
  ist::Plan plan(const ist::ModelInfo& info, const ist::RoundContext& ctx) const {
    ist::Plan p;
    p.round = ctx.round;
    p.workers.assign(std::size_t(ctx.workers), ist::full_spec(info));
    const std::vector<int> blocks = info.decomposable_blocks();
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      const int owner = int((i + ctx.round) % std::uint64_t(ctx.workers));
      for (int w = 0; w < ctx.workers; ++w) p.workers[std::size_t(w)].active_blocks[std::size_t(blocks[i])] = w == owner;
    }
    return p;
  }
  ist::PlanRules rules() const { return {}; }  // every block covered: validate_plan checks it each round
  std::string_view name() const { return "round-robin-blocks"; }
  std::vector<double> evaluation_scale(const ist::ModelInfo& info, int workers) const {
    std::vector<double> s(info.blocks.size(), 1.0);
    for (int b : info.decomposable_blocks()) s[std::size_t(b)] = 1.0 / workers;
    return s;
  }
};
static_assert(ist::Decomposer<RoundRobinBlocks>);

int main(int argc, char** argv) {
  std::string dir = "/usr/share/datasets/fashion-mnist";
  int rounds = 4;
  CLI::App app{"custom_decomposer: ResIST-style training of PreAct ResNet-20 on Fashion-MNIST with a user-written "
               "decomposition policy (round-robin over the decomposable blocks)"};
  app.add_option("data", dir, "folder holding the Fashion-MNIST IDX files")->capture_default_str();
  app.add_option("rounds", rounds, "rounds to train")->capture_default_str()->check(CLI::Range(1, 1 << 30));
  CLI11_PARSE(app, argc, argv);
  try {
    const auto train = ist::take_first(ist::load_fashion_mnist(dir, true), 4096);
    const auto test = ist::take_first(ist::load_fashion_mnist(dir, false), 1000);

    ist::TrainerConfig cfg;
    cfg.local_steps = 5;
    cfg.max_rounds = rounds;
    cfg.batch = 64;
    cfg.normalization = ist::fashion_mnist_normalization();
    using Net = ist::PreActResNet20<1, 10>;
    ist::IndependentSubnetTrainer<Net, RoundRobinBlocks> trainer(RoundRobinBlocks{}, ist::HolderAverage{},
                                                                 ist::CpuBackend<>(ist::InProcessComm(2)), cfg);
    const auto r = trainer.fit(train, test);
    std::printf("round-robin-blocks: %zu rounds, test accuracy %.4f, moved %.2f MB (local SGD %.2f MB)\n",
                r.rounds.size(), r.final_eval.accuracy, r.total_bytes / 1e6, r.local_sgd_bytes / 1e6);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "custom_decomposer: error: %s\n", e.what());
    return 1;
  }
}
