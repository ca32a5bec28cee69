// GIST on the one round engine: every trainer feature on a graph. Cora (../shared/data/planetoid), S = 4
// sub-GCNs of a 64-wide GCN: killed after round 3 and resumed (bitwise), carried Adam moments through a
// checkpoint, a worker failing in round 2, and schedules.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <unistd.h>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include "cora.hpp"
#include "ist/data/planetoid.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/optim/novograd.hpp"
#include "ist/train/graph_trainer.hpp"

namespace test_gist_engine {

using namespace ist;
namespace fs = std::filesystem;

namespace {

using Net = Gcn<Input<1433>, GraphConv<64>, GraphConv<7>>;
using Gist = GraphSubnetTrainer<Net, WidthwiseRandom>;

using test_data::cora;

std::string fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("ist_gist_engine_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

TrainerConfig gist_config(const std::string& dir = {}) {
  TrainerConfig c;
  c.local_steps = 5;
  c.epochs = 40;  // 8 rounds
  c.schedule = "step:0.5";
  c.eval_every = 2;
  c.progress = false;
  c.seed = 3;
  c.checkpoint_dir = dir;
  return c;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

}  // namespace

TEST_CASE("gist engine: S = 4 on Cora, killed after round 3 and resumed, ends with the uninterrupted weights") {
  const GraphDataset& g = cora();
  for (OptimizerState state : {OptimizerState::ResetEachRound, OptimizerState::Carry}) {
    CAPTURE(int(state));
    auto whole_cfg = gist_config();
    whole_cfg.optimizer_state = state;
    Gist whole(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), whole_cfg, gist_adam());
    const FitResult all = whole.fit(g);
    REQUIRE(all.rounds.size() == 8);

    const std::string dir = fresh_dir("resume");
    auto killed_cfg = gist_config(dir);
    killed_cfg.optimizer_state = state;
    killed_cfg.max_rounds = 3;  // "killed" after round 3's checkpoint
    Gist killed(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), killed_cfg, gist_adam());
    killed.fit(g);
    const TrainingState saved = load_checkpoint(resolve_checkpoint(dir), killed.info());
    CHECK(saved.rounds_done == 3);
    if (state == OptimizerState::Carry) {
      REQUIRE(saved.optimizer_state.size() == 2);
      CHECK(saved.optimizer_state[0].name == "exp_avg");
      CHECK(saved.optimizer_state[1].name == "exp_avg_sq");
    } else {
      CHECK(saved.optimizer_state.empty());
    }

    auto resumed_cfg = gist_config(dir);
    resumed_cfg.optimizer_state = state;
    Gist resumed(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), resumed_cfg, gist_adam());
    const FitResult rest = resumed.fit(g, dir);
    CHECK(rest.rounds.size() == 5);
    CHECK(rest.rounds.front().round == 4);
    CHECK(same_bits(resumed.params(), whole.params()));
    for (std::size_t b = 0; b < whole.num_state_buffers(); ++b)
      CHECK(same_bits(resumed.state_buffer(b), whole.state_buffer(b)));
    CHECK(rest.final_eval.accuracy == all.final_eval.accuracy);
    CHECK(rest.final_val.accuracy == all.final_val.accuracy);
    CHECK(rest.rounds.back().lr == all.rounds.back().lr);  // the schedule continues where it was
    fs::remove_all(dir);
  }
}

TEST_CASE("gist engine: a checkpoint of one optimizer does not resume a carried run of another") {
  const GraphDataset& g = cora();
  const std::string dir = fresh_dir("other_optimizer");
  auto cfg = gist_config(dir);
  cfg.optimizer_state = OptimizerState::Carry;
  cfg.max_rounds = 1;
  Gist adam(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg, gist_adam());
  adam.fit(g);
  cfg.max_rounds = 2;
  Gist novograd(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg, optim::NovoGradConfig{});
  CHECK_THROWS_WITH_AS(novograd.fit(g, dir), doctest::Contains("optimizer must match the checkpoint's (adam), found novograd"),
                       Error);
  fs::remove_all(dir);
}

TEST_CASE("gist engine: a worker failing in round 2 is dropped for the round and the run completes") {
  const GraphDataset& g = cora();
  auto cfg = gist_config();
  cfg.on_worker_failure = WorkerFailure::DropForRound;
  cfg.after_failure = AfterFailure::AllWorkers;
  Gist t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg, gist_adam());
  t.set_fault_injector([](int w, std::uint64_t round) {
    if (w == 1 && round == 1) throw Error("injected failure of worker 1 in round 2");
  });
  const FitResult r = t.fit(g);
  REQUIRE(r.rounds.size() == 8);
  CHECK(r.rounds[0].failed_workers == 0);
  CHECK(r.rounds[1].failed_workers == 1);
  CHECK(r.rounds[1].bytes_from_workers * 4 == r.rounds[0].bytes_from_workers * 3);  // three of four came back
  CHECK(r.rounds[2].failed_workers == 0);
  CHECK(r.rounds[2].workers == 4);  // a transient failure: all workers again
  CHECK(r.final_eval.accuracy > 0.7);
}

TEST_CASE("gist engine: metrics rows carry val and test columns and the optimizer") {
  const GraphDataset& g = cora();
  const std::string dir = fresh_dir("metrics");
  auto cfg = gist_config();
  cfg.max_rounds = 2;
  cfg.eval_every = 1;
  cfg.metrics_path = dir + "/m.jsonl";
  Gist t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg, gist_adam());
  t.fit(g);
  std::ifstream in(cfg.metrics_path);
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    ++rows;
    CHECK(line.find("\"val_accuracy\":") != std::string::npos);
    CHECK(line.find("\"optimizer\":\"adam\"") != std::string::npos);
  }
  CHECK(rows == 2);
  fs::remove_all(dir);
}

// Two widths under the same policies are two trainer types with one round engine: the engine's code (the round,
// fit, checkpoints) is compiled once, and a function taking the engine trains either model through it, with the
// same bits as the trainer itself.
using Net128 = Gcn<Input<1433>, GraphConv<128>, GraphConv<7>>;
using Gist128 = GraphSubnetTrainer<Net128, WidthwiseRandom>;
static_assert(!std::is_same_v<Gist, Gist128>);
static_assert(std::is_same_v<Gist::Engine, Gist128::Engine>, "one round engine for every model of a family");

FitResult fit_through_engine(Gist::Engine& engine, const GraphDataset& g) { return engine.fit(g); }

template <class Trainer>
void check_fit_through_engine(std::size_t num_params) {
  const GraphDataset& g = cora();
  auto cfg = gist_config();
  cfg.max_rounds = 2;
  Trainer direct(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg, gist_adam());
  Trainer through(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg, gist_adam());
  const FitResult a = direct.fit(g);
  const FitResult b = fit_through_engine(through, g);
  REQUIRE(direct.params().size() == num_params);
  CHECK(same_bits(direct.params(), through.params()));
  CHECK(a.rounds.size() == 2);
  CHECK(b.rounds.size() == 2);
  CHECK(a.final_eval.accuracy == b.final_eval.accuracy);
  CHECK(a.final_eval.accuracy > 0.3);  // trained: above the 7 classes' chance
  CHECK(a.total_bytes == b.total_bytes);
}

TEST_CASE("gist engine: GCNs of two widths share one compiled round engine and train through it bit for bit") {
  check_fit_through_engine<Gist>(ModelTraits<Net>::num_params);
  check_fit_through_engine<Gist128>(ModelTraits<Net128>::num_params);
}

}  // namespace test_gist_engine
