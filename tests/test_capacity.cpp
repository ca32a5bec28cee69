// Capacity-aware shares: SpeedProportional plans LayerwiseRandom's and WidthwiseRandom's cuts until the
// workers' measured speeds differ, then gives a slow worker a smaller share with every block and unit still
// owned once; the engine's pace history (measured, or injected with set_compute_timer) reaches the plan, the
// record and checkpoints, so a resumed run ends bit for bit as one run; cfg.throttle slows a worker down.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "expect_error.hpp"
#include "synthetic_images.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/speed_proportional.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/model/resnet.hpp"
#include "ist/train/mlp_traits.hpp"
#include "ist/train/trainer.hpp"

namespace test_capacity {

using namespace ist;
using ist::test::contains;
using ist::test::error_of;
using ist::test::quadrant_images;

namespace {

// A partitioned stage of 8 decomposable blocks (ResIST), and an MLP with two width layers of 40 and 24 units.
using Deep = ResNet<Stem<1, 4>, Stage<4, 4, 1, 1>, Stage<4, 8, 9, 2, Partitioned>, Head<8, 3>>;
using Wide = Mlp<Input<64>, Dense<40>, Dense<24>, Dense<3>>;

// `rounds` rounds of history in which plan slot w took pace[w] seconds per local step and parameter.
std::vector<std::vector<float>> history(const std::vector<float>& pace, int rounds) {
  return std::vector<std::vector<float>>(std::size_t(rounds), pace);
}

bool same_plan(const Plan& a, const Plan& b) {
  if (a.round != b.round || a.workers.size() != b.workers.size()) return false;
  for (std::size_t w = 0; w < a.workers.size(); ++w)
    if (a.workers[w].active_blocks != b.workers[w].active_blocks || a.workers[w].kept_units != b.workers[w].kept_units ||
        a.workers[w].local_steps != b.workers[w].local_steps)
      return false;
  return true;
}

int blocks_held(const ModelInfo& info, const SubnetSpec& s) {
  int n = 0;
  for (int b : info.decomposable_blocks()) n += s.active_blocks[std::size_t(b)];
  return n;
}

TrainerConfig small_config() {
  TrainerConfig c;
  c.local_steps = 3;
  c.batch = 8;
  c.max_rounds = 5;
  c.sgd = {0.05, 0.9, 5e-4, false};
  c.eval_batch = 32;
  c.eval_every = 0;
  c.progress = false;
  return c;
}

// Worker 3 computes at half the speed of the others: seconds = steps x parameters x 1 ns (2 ns for worker 3).
double slow_worker_3(const ComputeTiming& t) {
  return double(t.steps) * double(t.subnet_params) * (t.worker == 3 ? 2e-9 : 1e-9);
}

bool bitwise_equal(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

}  // namespace

TEST_CASE("capacity: proportional_shares gives equal_shares for equal weights, keeps the minimum, sums to n") {
  for (int s = 1; s <= 5; ++s)
    for (int n : {5, 7, 8, 9, 40, 1024}) {
      CAPTURE(s);
      CAPTURE(n);
      CHECK(proportional_shares(n, std::vector<double>(std::size_t(s), 0.37), 1) == equal_shares(n, s));
    }
  // 1024 units at speeds 1 : 1 : 1 : 1/2: 292.57 x 3 and 146.29, floored, the largest remainders rounded up.
  CHECK(proportional_shares(1024, {1, 1, 1, 0.5}, 1) == std::vector<int>{293, 293, 292, 146});
  CHECK(proportional_shares(10, {1, 1e-6}, 1) == std::vector<int>{9, 1});  // the minimum holds
  CHECK(proportional_shares(3, {5, 1, 1}, 1) == std::vector<int>{1, 1, 1});
  CHECK(equal_shares(10, 4) == std::vector<int>{3, 3, 2, 2});
  CHECK(contains(error_of([] { (void)proportional_shares(2, {1, 1, 1}, 1); }), "cannot give 3 workers at least 1"));
}

TEST_CASE("capacity: measured_speeds averages each slot's measured paces and skips unmeasured rounds") {
  const std::vector<std::vector<float>> rows = {{1e-9f, 0.f, 4e-9f}, {3e-9f, 2e-9f, 4e-9f}};
  const std::vector<double> v = measured_speeds(RoundContext{1, 2, 3, rows});
  REQUIRE(v.size() == 3);
  CHECK(v[0] == doctest::Approx(1.0 / 2e-9));  // mean pace 2 ns
  CHECK(v[1] == doctest::Approx(1.0 / 2e-9));  // one measured round
  CHECK(v[2] == doctest::Approx(1.0 / 4e-9));
  CHECK(measured_speeds(RoundContext{1, 2, 2, rows}) == std::vector<double>{0, 0});  // rows of another width
}

TEST_CASE("capacity: SpeedProportional plans exactly the random cuts until the speeds differ beyond its tolerance") {
  const ModelInfo deep = ModelTraits<Deep>::info(), wide = ModelTraits<Wide>::info();
  const SpeedProportional d;  // tolerance 25 %
  for (int S : {1, 2, 3, 4}) {
    CAPTURE(S);
    const std::vector<std::vector<float>> none;
    const auto equal = history(std::vector<float>(std::size_t(S), 1e-9f), 3);
    std::vector<float> noisy(std::size_t(S), 1e-9f);
    noisy[0] = 1.2e-9f;  // 20 % slower: timing noise
    const auto within = history(noisy, 2);
    std::vector<float> partly = noisy;
    partly[std::size_t(S - 1)] = 0.f;  // one worker not measured yet
    partly[0] = 5e-9f;
    const auto unmeasured = history(partly, 1);
    for (std::uint64_t round = 0; round < 10; ++round) {
      CAPTURE(round);
      for (const auto* h : {&none, &equal, &within, &unmeasured}) {
        const RoundContext ctx{7, round, S, *h};
        CHECK_FALSE(d.shares_by_speed(ctx));
        CHECK(same_plan(d.plan(deep, ctx), LayerwiseRandom{}.plan(deep, ctx)));
        CHECK(same_plan(d.plan(wide, ctx), WidthwiseRandom{}.plan(wide, ctx)));
      }
    }
    CHECK(d.evaluation_scale(deep, S) == LayerwiseRandom{}.evaluation_scale(deep, S));
    CHECK(d.evaluation_scale(wide, S) == WidthwiseRandom{}.evaluation_scale(wide, S));
  }
}

TEST_CASE("capacity: a worker at half speed gets a smaller share; every block and unit keeps exactly one owner") {
  const ModelInfo deep = ModelTraits<Deep>::info(), wide = ModelTraits<Wide>::info();
  const auto slow = history({1e-9f, 1e-9f, 1e-9f, 2e-9f}, 4);
  const SpeedProportional d;
  for (std::uint64_t round = 0; round < 6; ++round) {
    CAPTURE(round);
    const RoundContext ctx{3, round, 4, slow};
    REQUIRE(d.shares_by_speed(ctx));
    // Depth: 8 blocks. The greedy balances (shared + held) / speed: the slow worker ends with fewer blocks.
    const Plan p = d.plan(deep, ctx);
    CHECK_NOTHROW(validate_plan(p, deep, ctx, d.rules()));
    std::vector<int> held;
    for (const auto& s : p.workers) held.push_back(blocks_held(deep, s));
    CHECK(held[0] + held[1] + held[2] + held[3] == 8);
    CHECK(held[3] < held[0]);
    CHECK(held[3] < held[2]);
    // Every decomposable block has one owner (validate_plan checks the cover; no block is held twice).
    for (int b : deep.decomposable_blocks()) {
      int owners = 0;
      for (const auto& s : p.workers) owners += s.active_blocks[std::size_t(b)];
      CHECK(owners == 1);
    }
    // Width: the slow worker keeps fewer units of every layer; the plan is valid.
    const Plan q = d.plan(wide, ctx);
    CHECK_NOTHROW(validate_plan(q, wide, ctx, d.rules()));
    CHECK(q.workers[3].kept_units[0].size() < q.workers[0].kept_units[0].size());
    CHECK(q.workers[3].kept_units[1].size() < q.workers[0].kept_units[1].size());
  }
  // The width shares equalize the estimated times, (sub-network parameters) / speed: on a model wide enough
  // for whole units not to matter, within 3 % of each other, where equal shares leave the slow worker at
  // twice the others' time and shares proportional to speed at 1.35x (the fast workers' hidden-to-hidden
  // weights grow with the square of their share).
  using Wider = Mlp<Input<64>, Dense<400>, Dense<240>, Dense<3>>;
  const ModelInfo wider = ModelTraits<Wider>::info();
  const RoundContext ctx{3, 0, 4, slow};
  const std::vector<double> speed = {1, 1, 1, 0.5};
  const auto times = [&](const Plan& p) {
    std::vector<double> t;
    for (std::size_t w = 0; w < 4; ++w) t.push_back(double(ModelTraits<Wider>::slices(p.workers[w]).size()) / speed[w]);
    return t;
  };
  Plan proportional = WidthwiseRandom{}.plan(wider, ctx);
  for (std::size_t l = 0; l < 2; ++l)
    WidthwiseRandom::deal_units(proportional, wider, ctx, l, proportional_shares(wider.width_layers[l].units, speed, 1));
  const std::vector<double> balanced = times(d.plan(wider, ctx)), even = times(WidthwiseRandom{}.plan(wider, ctx)),
                            by_speed = times(proportional);
  const auto ratio = [](const std::vector<double>& t) {
    return *std::max_element(t.begin(), t.end()) / *std::min_element(t.begin(), t.end());
  };
  CHECK(ratio(balanced) < 1.03);
  CHECK(ratio(even) == doctest::Approx(2.0).epsilon(0.01));
  CHECK(ratio(by_speed) > 1.3);
  CHECK(*std::max_element(balanced.begin(), balanced.end()) < *std::max_element(by_speed.begin(), by_speed.end()));
  // The same speeds in another order: the share follows the slow worker's slot.
  const Plan moved = d.plan(wide, RoundContext{3, 0, 4, history({2e-9f, 1e-9f, 1e-9f, 1e-9f}, 1)});
  CHECK(moved.workers[0].kept_units[0].size() < moved.workers[1].kept_units[0].size());
  CHECK(contains(error_of([] { SpeedProportional bad(-0.1); }), "expected a tolerance >= 0"));
}

TEST_CASE("capacity: SpeedBudget::Steps keeps the random cut's sub-networks and sizes local steps to speed") {
  const ModelInfo deep = ModelTraits<Deep>::info(), wide = ModelTraits<Wide>::info();
  const SpeedProportional d(0.25, SpeedBudget::Steps);
  CHECK(d.name() == "speed-proportional-steps");
  const auto uneven = history({1e-9f, 1e-9f, 2e-9f, 5e-9f}, 2), three = history({1e-9f, 2e-9f, 1e-8f}, 1),
             within = history({1e-9f, 1.2e-9f, 1e-9f, 1e-9f}, 2), slow = history({1e-9f, 1e-9f, 1e-9f, 2e-9f}, 1);
  for (std::uint64_t round = 0; round < 6; ++round) {
    CAPTURE(round);
    // Speeds 1 : 1 : 1/2 : 1/5 with L = 50: 50, 50, 25 and 10 steps, on the random cut's sub-networks.
    const RoundContext ctx{3, round, 4, uneven, 50};
    for (const ModelInfo* info : {&deep, &wide}) {
      Plan p = d.plan(*info, ctx);
      CHECK_NOTHROW(validate_plan(p, *info, ctx, d.rules()));
      std::vector<int> steps;
      for (auto& s : p.workers) steps.push_back(std::exchange(s.local_steps, 0));
      CHECK(steps == std::vector<int>{50, 50, 25, 10});
      CHECK(same_plan(p, info == &deep ? LayerwiseRandom{}.plan(deep, ctx) : WidthwiseRandom{}.plan(wide, ctx)));
    }
    // Rounded to the nearest step, at least one: L = 3 at half speed is 2 (1.5 rounded), at a tenth 1.
    const Plan few = d.plan(wide, RoundContext{3, round, 3, three, 3});
    CHECK(few.workers[0].local_steps == 3);
    CHECK(few.workers[1].local_steps == 2);
    CHECK(few.workers[2].local_steps == 1);
    // Speeds within the tolerance: the random cut's plan, every worker at the run's L (local_steps 0).
    const RoundContext even{3, round, 4, within, 50};
    CHECK(same_plan(d.plan(deep, even), LayerwiseRandom{}.plan(deep, even)));
  }
  // Steps need L; a plan's local steps lie in [0, L].
  CHECK(contains(error_of([&] { (void)d.plan(wide, RoundContext{3, 0, 4, slow}); }),
                 "SpeedBudget::Steps sizes local steps, but RoundContext::local_steps (L) is 0"));
  const RoundContext ctx{3, 0, 2, {}, 4};
  Plan p = WidthwiseRandom{}.plan(wide, ctx);
  p.workers[1].local_steps = 5;
  CHECK(contains(error_of([&] { validate_plan(p, wide, ctx); }),
                 "round 0, worker 1: local_steps is 5, expected 0 (the run's L) to L = 4"));
  p.workers[1].local_steps = -1;
  CHECK(contains(error_of([&] { validate_plan(p, wide, ctx); }), "local_steps is -1"));
}

TEST_CASE("capacity trainer: with SpeedBudget::Steps a half-speed worker takes half the steps, and a resumed run "
          "ends bit for bit as one run") {
  const auto data = quadrant_images(96, 34);
  const std::string dir = (std::filesystem::temp_directory_path() / "ist_capacity_steps_resume").string();
  std::filesystem::remove_all(dir);
  auto cfg = small_config();
  cfg.local_steps = 4;
  const SpeedProportional steps(0.25, SpeedBudget::Steps);
  using T = IndependentSubnetTrainer<Wide, SpeedProportional>;
  T whole(steps, HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg);
  whole.set_compute_timer(slow_worker_3);
  const std::vector<RoundRecord> recs = whole.fit(data, data).rounds;
  REQUIRE(recs.size() == 5);
  // Round 1: equal work, worker 3 takes twice as long. From round 2 on it trains 2 of the 4 steps on a
  // sub-network of the others' size: every worker's round takes the same time, and the bytes stay equal.
  CHECK(recs[0].worker_pace_seconds[3] == doctest::Approx(2 * recs[0].worker_pace_seconds[0]));
  for (std::size_t r = 1; r < recs.size(); ++r) {
    CAPTURE(r);
    CHECK(recs[r].worker_pace_seconds[3] == doctest::Approx(recs[r].worker_pace_seconds[0]));
    CHECK(recs[r].worker_traffic[3].to_worker == recs[r].worker_traffic[0].to_worker);
    CHECK(recs[r].worker_local_steps == std::vector<int>{4, 4, 4, 2});
  }
  CHECK(recs[0].worker_local_steps == std::vector<int>{4, 4, 4, 4});
  // The pace (per step and parameter) is still measured right: 2 ns for worker 3.
  CHECK(whole.pace_history().back()[3] == doctest::Approx(2e-9));
  // Stopped after round 2 and resumed: the same weights (the data streams moved on by L in the short rounds).
  auto stopped_cfg = cfg;
  stopped_cfg.max_rounds = 2;
  stopped_cfg.checkpoint_dir = dir;
  T stopped(steps, HolderAverage{}, CpuBackend<>(InProcessComm(4)), stopped_cfg);
  stopped.set_compute_timer(slow_worker_3);
  stopped.fit(data, data);
  auto resumed_cfg = cfg;
  resumed_cfg.checkpoint_dir = dir;
  T resumed(steps, HolderAverage{}, CpuBackend<>(InProcessComm(4)), resumed_cfg);
  resumed.set_compute_timer(slow_worker_3);
  const FitResult rest = resumed.fit(data, data, dir);
  REQUIRE(rest.rounds.size() == 3);
  CHECK(bitwise_equal(whole.params(), resumed.params()));
  // Shorter rounds for worker 3 change the training: the weights differ from the random cut's.
  IndependentSubnetTrainer<Wide, WidthwiseRandom> random(WidthwiseRandom{}, HolderAverage{},
                                                         CpuBackend<>(InProcessComm(4)), cfg);
  random.fit(data, data);
  CHECK_FALSE(bitwise_equal(whole.params(), random.params()));
  std::filesystem::remove_all(dir);
}

TEST_CASE("capacity trainer: injected timings reach the pace history, the record and the next plans") {
  const auto data = quadrant_images(96, 31);
  const auto cfg = small_config();
  using T = IndependentSubnetTrainer<Wide, SpeedProportional>;
  T t(SpeedProportional{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg);
  t.set_compute_timer(slow_worker_3);
  t.prepare(data);
  std::vector<RoundRecord> recs;
  for (std::uint64_t r = 0; r < 4; ++r) recs.push_back(t.train_round(r));
  // Round 1 has no history: equal shares, equal bytes for every worker.
  const auto& first = recs[0].worker_traffic;
  REQUIRE(first.size() == 4);
  CHECK(first[3].to_worker == first[2].to_worker);
  // The record holds the injected seconds, and the history their pace: 1 ns per step and parameter, 2 ns for
  // worker 3.
  REQUIRE(recs[0].worker_pace_seconds.size() == 4);
  const std::size_t p0 = first[0].to_worker / sizeof(float);  // parameters sent to worker 0 (float32 slices)
  CHECK(recs[0].worker_pace_seconds[0] == doctest::Approx(3.0 * double(p0) * 1e-9));
  const auto& pace = t.pace_history();
  REQUIRE(pace.size() == 4);
  for (const auto& row : pace) {
    REQUIRE(row.size() == 4);
    CHECK(row[0] == doctest::Approx(1e-9));
    CHECK(row[3] == doctest::Approx(2e-9));
  }
  // From round 2 on, worker 3 receives about half of what the others do.
  for (std::size_t r = 1; r < recs.size(); ++r) {
    CAPTURE(r);
    const auto& tr = recs[r].worker_traffic;
    CHECK(tr[3].to_worker < tr[0].to_worker * 7 / 10);
    CHECK(tr[3].to_worker > tr[0].to_worker * 3 / 10);
  }
  // Injected timings make the run deterministic: a second trainer ends with the same weights.
  T again(SpeedProportional{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg);
  again.set_compute_timer(slow_worker_3);
  again.prepare(data);
  for (std::uint64_t r = 0; r < 4; ++r) again.train_round(r);
  CHECK(bitwise_equal(t.params(), again.params()));
  // Without the slow worker, every round's plan is the random cut's: the weights of a WidthwiseRandom run.
  T even(SpeedProportional{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg);
  even.set_compute_timer([](const ComputeTiming& c) { return double(c.steps) * double(c.subnet_params) * 1e-9; });
  IndependentSubnetTrainer<Wide, WidthwiseRandom> random(WidthwiseRandom{}, HolderAverage{},
                                                         CpuBackend<>(InProcessComm(4)), cfg);
  even.prepare(data);
  random.prepare(data);
  for (std::uint64_t r = 0; r < 4; ++r) {
    even.train_round(r);
    random.train_round(r);
  }
  CHECK(bitwise_equal(even.params(), random.params()));
  CHECK_FALSE(bitwise_equal(t.params(), random.params()));
}

TEST_CASE("capacity trainer: a run stopped after round 2 and resumed ends bit for bit as one run, history included") {
  const auto data = quadrant_images(96, 32);
  const std::string dir = (std::filesystem::temp_directory_path() / "ist_capacity_resume").string();
  std::filesystem::remove_all(dir);
  const auto cfg = small_config();
  using T = IndependentSubnetTrainer<Deep, SpeedProportional>;
  T whole(SpeedProportional{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg);
  whole.set_compute_timer(slow_worker_3);
  whole.fit(data, data);
  auto stopped_cfg = cfg;
  stopped_cfg.max_rounds = 2;
  stopped_cfg.checkpoint_dir = dir;
  T stopped(SpeedProportional{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), stopped_cfg);
  stopped.set_compute_timer(slow_worker_3);
  stopped.fit(data, data);
  auto resumed_cfg = cfg;
  resumed_cfg.checkpoint_dir = dir;
  T resumed(SpeedProportional{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)), resumed_cfg);
  resumed.set_compute_timer(slow_worker_3);
  const FitResult rest = resumed.fit(data, data, dir);
  REQUIRE(rest.rounds.size() == 3);
  CHECK(bitwise_equal(whole.params(), resumed.params()));
  CHECK(whole.pace_history() == resumed.pace_history());
  // The history did shape the plans: the run differs from the random cut's.
  IndependentSubnetTrainer<Deep, LayerwiseRandom> random(LayerwiseRandom{}, HolderAverage{},
                                                         CpuBackend<>(InProcessComm(4)), cfg);
  random.fit(data, data);
  CHECK_FALSE(bitwise_equal(whole.params(), random.params()));
  std::filesystem::remove_all(dir);
}

TEST_CASE("capacity trainer: cfg.throttle makes a worker's local steps take F times as long, and is validated") {
  const auto data = quadrant_images(64, 33);
  auto cfg = small_config();
  cfg.max_rounds = 1;
  cfg.throttle = {{0, 3.0}};
  IndependentSubnetTrainer<Wide, LayerwiseRandom> t(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(1)),
                                                    cfg);
  t.prepare(data);
  const RoundRecord r = t.train_round(0);
  // One worker, one thread: it sleeps twice its wall time after its steps, which is at least its CPU time.
  // (PaceClock::Wall, the default: the pace history counts that wall time.)
  CHECK(r.compute_seconds_max >= 3.0 * r.compute_cpu_seconds_max);
  CHECK(r.worker_pace_seconds == std::vector<double>{r.compute_seconds_max});  // PaceClock::Wall
  // PaceClock::Cpu: the pace history counts the thread's CPU time times the throttle factor.
  cfg.pace_clock = PaceClock::Cpu;
  IndependentSubnetTrainer<Wide, LayerwiseRandom> cpu(LayerwiseRandom{}, HolderAverage{},
                                                      CpuBackend<>(InProcessComm(1)), cfg);
  cpu.prepare(data);
  const RoundRecord c = cpu.train_round(0);
  CHECK(c.worker_pace_seconds == std::vector<double>{c.compute_cpu_seconds_max * 3.0});
  CHECK(cpu.pace_history().at(0).at(0) > 0.f);

  cfg.throttle = {{5, 2.0}};
  CHECK(contains(error_of([&] {
                   IndependentSubnetTrainer<Wide, LayerwiseRandom> bad(LayerwiseRandom{}, HolderAverage{},
                                                                       CpuBackend<>(InProcessComm(2)), cfg);
                 }),
                 "throttle names worker 5 but the run has 2 workers"));
  cfg.throttle = {{1, 0.5}};
  CHECK(contains(error_of([&] { validate(cfg); }), "throttle: expected a worker id >= 0 and a factor >= 1, found "
                                                   "worker 1, factor 0.5"));
}

}  // namespace test_capacity
