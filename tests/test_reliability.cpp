// Reliability of IndependentSubnetTrainer: round checkpoints, resume bit for bit after a run is killed,
// resume with another S, configs that cannot resume, and workers that fail during their local steps.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/checkpoint_dir.hpp"
#include "ist/train/trainer.hpp"

namespace test_reliability {

using namespace ist;
namespace fs = std::filesystem;

namespace {

using Tiny = ResNet<Stem<1, 4>, Stage<4, 4, 1, 1>, Stage<4, 8, 6, 2, Partitioned>, Head<8, 3>>;
using Trainer = IndependentSubnetTrainer<Tiny, LayerwiseRandom>;

ImageDataset learnable(int n, std::uint64_t seed) {
  ImageDataset d;
  d.n = n;
  d.c = 1;
  d.h = d.w = 8;
  d.num_classes = 3;
  d.source = "synthetic";
  Rng rng(seed);
  d.pixels.resize(std::size_t(n) * 64);
  d.labels.resize(std::size_t(n));
  for (int i = 0; i < n; ++i) {
    const int y = int(rng.below(3));
    d.labels[std::size_t(i)] = y;
    for (int p = 0; p < 64; ++p)
      d.pixels[std::size_t(i) * 64 + std::size_t(p)] = std::uint8_t(std::min(255.0, 60.0 * y + 80.0 * rng.uniform()));
  }
  return d;
}

// 96 images in batches of 8: 12 steps per epoch, so with L = 3 an epoch ends after every 4th round and the
// runs below cross epoch boundaries (a new shuffle) and learning-rate changes.
TrainerConfig config(const std::string& dir) {
  TrainerConfig c;
  c.local_steps = 3;
  c.batch = 8;
  c.epochs = 2;
  c.max_rounds = 7;
  c.schedule = "step:0.4,0.8";
  c.sgd = {0.05, 0.9, 5e-4, false};
  c.eval_batch = 32;
  c.eval_every = 2;
  c.progress = false;
  c.checkpoint_dir = dir;
  c.keep_checkpoints = 2;
  if (!dir.empty()) c.metrics_path = dir + "/metrics.jsonl";
  return c;
}

std::string fresh_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("ist_reliability_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

}  // namespace

TEST_CASE("resume: a run killed after round 4 and resumed ends with the uninterrupted run's weights, bit for bit") {
  const auto data = learnable(96, 1);
  for (auto state : {OptimizerState::ResetEachRound, OptimizerState::Carry}) {
    CAPTURE(int(state));
    const std::string whole_dir = fresh_dir("whole"), killed_dir = fresh_dir("killed");
    auto whole_cfg = config(whole_dir), killed_cfg = config(killed_dir);
    whole_cfg.optimizer_state = killed_cfg.optimizer_state = state;

    Trainer whole(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), whole_cfg);
    const FitResult uninterrupted = whole.fit(data, data);
    REQUIRE(uninterrupted.rounds.size() == 7);

    // The run dies in round 5: an exception escapes fit(), as a crash would end the process.
    {
      Trainer killed(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), killed_cfg);
      killed.set_fault_injector([](int w, std::uint64_t round) {
        if (w == 1 && round == 4) throw std::runtime_error("the machine went away");
      });
      CHECK_THROWS_WITH_AS(killed.fit(data, data), doctest::Contains("the machine went away"), std::runtime_error);
    }
    // Rounds 3 and 4 were kept (keep_checkpoints = 2); the metrics file holds the 4 finished rounds.
    const auto kept = list_checkpoints(killed_dir);
    REQUIRE(kept.size() == 2);
    CHECK(kept[0].filename() == "round-000003.ckpt");
    CHECK(kept[1].filename() == "round-000004.ckpt");
    CHECK(lines_of(killed_cfg.metrics_path).size() == 4);

    // A new process (here: a new trainer) resumes from the directory's newest checkpoint.
    Trainer resumed(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), killed_cfg);
    const FitResult rest = resumed.fit(data, data, killed_dir);
    REQUIRE(rest.rounds.size() == 3);
    CHECK(rest.rounds.front().round == 5);
    CHECK(same_bits(resumed.params(), whole.params()));
    if (state == OptimizerState::Carry) CHECK(same_bits(resumed.state_buffer(0), whole.state_buffer(0)));
    CHECK(rest.final_eval.accuracy == uninterrupted.final_eval.accuracy);
    CHECK(rest.rounds.back().train_loss == uninterrupted.rounds.back().train_loss);
    // The metrics file reads as one run: rounds 1..7, the resumed rows equal to the uninterrupted run's
    // except for timings.
    const auto rows = lines_of(killed_cfg.metrics_path);
    REQUIRE(rows.size() == 7);
    for (int r = 0; r < 7; ++r) CHECK(rows[std::size_t(r)].rfind("{\"round\":" + std::to_string(r + 1) + ",", 0) == 0);
    // The uninterrupted run's directory holds its last two checkpoints.
    const auto whole_kept = list_checkpoints(whole_dir);
    REQUIRE(whole_kept.size() == 2);
    CHECK(whole_kept[1].filename() == "round-000007.ckpt");
    CHECK(same_bits(load_checkpoint(whole_kept[1].string(), whole.info()).params, whole.params()));
  }
}

TEST_CASE("resume: a finished run resumes to its final evaluation; an empty directory is an error") {
  const auto data = learnable(96, 2);
  const std::string dir = fresh_dir("finished");
  auto cfg = config(dir);
  cfg.max_rounds = 2;
  Trainer a(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg);
  const FitResult done = a.fit(data, data);
  Trainer b(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg);
  const FitResult again = b.fit(data, data, dir);
  CHECK(again.rounds.empty());
  CHECK(again.final_eval.accuracy == done.final_eval.accuracy);
  CHECK(same_bits(a.params(), b.params()));

  const std::string empty = fresh_dir("empty");
  Trainer c(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), config(""));
  CHECK_THROWS_WITH_AS(c.fit(data, data, empty), doctest::Contains("holds no checkpoint"), Error);
  CHECK_THROWS_WITH_AS(c.fit(data, data, empty + "/round-000009.ckpt"), doctest::Contains("cannot open"), Error);
}

TEST_CASE("resume: a config that would change the data streams or plans is rejected, naming the field") {
  const auto data = learnable(96, 3);
  const std::string dir = fresh_dir("mismatch");
  auto cfg = config(dir);
  cfg.max_rounds = 1;
  Trainer(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg).fit(data, data);

  auto other_l = cfg;
  other_l.local_steps = 4;
  Trainer a(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), other_l);
  CHECK_THROWS_WITH_AS(a.fit(data, data, dir), doctest::Contains("local_steps must match the checkpoint's (3), found 4"),
                       Error);
  auto other_seed = cfg;
  other_seed.seed = 7;
  Trainer b(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), other_seed);
  CHECK_THROWS_WITH_AS(b.fit(data, data, dir), doctest::Contains("seed must match the checkpoint's (1), found 7"), Error);
  auto carry = cfg;
  carry.optimizer_state = OptimizerState::Carry;
  Trainer c(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), carry);
  CHECK_THROWS_WITH_AS(c.fit(data, data, dir), doctest::Contains("optimizer_state must match"), Error);
  // The learning rate may change at a round boundary.
  auto other_lr = cfg;
  other_lr.sgd.lr = 0.01;
  other_lr.max_rounds = 2;
  Trainer d(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), other_lr);
  CHECK(d.fit(data, data, dir).rounds.size() == 1);
}

TEST_CASE("resume: with another S the run continues at the next round, partitioned over the new S") {
  const auto data = learnable(96, 4);
  const std::string dir = fresh_dir("other_s");
  auto cfg = config(dir);
  cfg.max_rounds = 3;
  Trainer four(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg);
  four.fit(data, data);
  cfg.max_rounds = 5;
  Trainer two(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg);
  const FitResult r = two.fit(data, data, dir);
  REQUIRE(r.rounds.size() == 2);
  CHECK(r.rounds[0].round == 4);
  CHECK(r.rounds[0].workers == 2);
  CHECK(std::isfinite(r.final_eval.accuracy));
}

TEST_CASE("worker failure: worker 2 fails in round 3 of a ResIST run with S = 4; the run completes") {
  const auto data = learnable(96, 5);
  auto cfg = config("");
  cfg.on_worker_failure = WorkerFailure::DropForRound;
  auto inject = [](int w, std::uint64_t round) {
    if (w == 2 && round == 2) throw Error("injected failure");
  };

  // Round by round: what worker 2 alone held in round 3 is unchanged by round 3.
  Trainer t(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg);
  t.set_fault_injector(inject);
  t.prepare(data);
  t.train_round(0);
  t.train_round(1);
  const std::vector<float> before(t.params().begin(), t.params().end());
  const Plan plan = LayerwiseRandom{}.plan(t.info(), {cfg.seed, 2, 4});
  const RoundRecord third = t.train_round(2);
  CHECK(third.failed_workers == 1);
  CHECK(third.workers == 4);
  CHECK(third.bytes_from_workers < third.bytes_to_workers);  // worker 2 sent nothing back
  int owned = 0, changed_elsewhere = 0;
  for (std::size_t b = 0; b < t.info().blocks.size(); ++b) {
    const auto& block = Tiny::blocks[b];
    const bool only_worker_2 = plan.workers[2].active_blocks[b] &&
                               !plan.workers[0].active_blocks[b] && !plan.workers[1].active_blocks[b] &&
                               !plan.workers[3].active_blocks[b];
    const bool same = std::memcmp(before.data() + block.param_offset, t.params().data() + block.param_offset,
                                  block.param_count * sizeof(float)) == 0;
    if (only_worker_2) {
      ++owned;
      CHECK_MESSAGE(same, "block ", b, " was held by worker 2 alone and changed");
    } else if (!same) {
      ++changed_elsewhere;
    }
  }
  CHECK(owned >= 1);  // six partitioned blocks over four workers: worker 2 held at least one
  CHECK(changed_elsewhere >= 1);
  // The next round is partitioned over the three survivors.
  CHECK(t.active_workers() == std::vector<int>{0, 1, 3});
  const RoundRecord fourth = t.train_round(3);
  CHECK(fourth.workers == 3);
  CHECK(fourth.failed_workers == 0);

  // The whole run through fit(): it completes and reports its final accuracy.
  Trainer run(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg);
  run.set_fault_injector(inject);
  const FitResult r = run.fit(data, data);
  REQUIRE(r.rounds.size() == 7);
  CHECK(r.rounds[2].failed_workers == 1);
  CHECK(r.rounds[6].workers == 3);
  CHECK(r.final_eval.accuracy > 0.5);  // three well-separated classes: far above chance after 7 rounds
}

TEST_CASE("worker failure: a transient failure repartitions over all workers; abort is the default") {
  const auto data = learnable(96, 6);
  auto inject = [](int w, std::uint64_t round) {
    if (w == 2 && round == 1) throw Error("injected failure");
  };
  auto cfg = config("");
  cfg.max_rounds = 3;
  cfg.on_worker_failure = WorkerFailure::DropForRound;
  cfg.after_failure = AfterFailure::AllWorkers;
  Trainer transient(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg);
  transient.set_fault_injector(inject);
  const FitResult r = transient.fit(data, data);
  CHECK(r.rounds[1].failed_workers == 1);
  CHECK(r.rounds[2].workers == 4);

  cfg.on_worker_failure = WorkerFailure::Abort;
  Trainer abort(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg);
  abort.set_fault_injector(inject);
  CHECK_THROWS_WITH_AS(abort.fit(data, data), doctest::Contains("injected failure"), Error);

  // Every worker failing leaves nothing to train with: an error that says so.
  cfg.on_worker_failure = WorkerFailure::DropForRound;
  Trainer all_fail(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg);
  all_fail.set_fault_injector([](int, std::uint64_t) { throw Error("down"); });
  CHECK_THROWS_WITH_AS(all_fail.fit(data, data), doctest::Contains("every worker failed in round 1"), Error);
}

TEST_CASE("checkpoint directory: newest K kept, temp files and other names ignored") {
  const std::string dir = fresh_dir("listing");
  const ModelInfo info = ModelTraits<Tiny>::info("tiny");
  TrainingState s;
  s.params.assign(Tiny::num_params, 0.5f);
  for (std::uint64_t r : {1, 2, 10, 11}) {
    s.rounds_done = r;
    save_round_checkpoint(dir, info, s, 3);
  }
  std::ofstream(dir + "/round-000012.ckpt.tmp.123") << "partial";
  std::ofstream(dir + "/notes.txt") << "x";
  const auto kept = list_checkpoints(dir);
  REQUIRE(kept.size() == 3);
  CHECK(kept[0].filename() == "round-000002.ckpt");
  CHECK(kept[2].filename() == "round-000011.ckpt");
  CHECK(resolve_checkpoint(dir) == kept[2].string());
  CHECK(load_checkpoint(resolve_checkpoint(dir), info).rounds_done == 11);
}

}  // namespace test_reliability
