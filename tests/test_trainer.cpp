// IndependentSubnetTrainer: ledger, split-then-merge, determinism, plan rejection, config validation, and
// local SGD with L = 1 and carried momentum equals synchronous data-parallel SGD; per-worker bytes in the
// record and the metrics file, stale plans, the step-progress callback, the merge's sample counts.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ist/aggregate/sample_weighted_average.hpp"
#include "ist/comm/any_comm.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/model/presets.hpp"
#include "ist/optim/adam.hpp"
#include "ist/train/trainer.hpp"

namespace test_trainer {

using namespace ist;

namespace {

using Tiny = ResNet<Stem<1, 4>, Stage<4, 4, 1, 1>, Stage<4, 8, 5, 2, Partitioned>, Head<8, 3>>;

ImageDataset synthetic(int n, int c, int hw, int classes, std::uint64_t seed) {
  ImageDataset d;
  d.n = n;
  d.c = c;
  d.h = d.w = hw;
  d.num_classes = classes;
  d.source = "synthetic";
  Rng rng(seed);
  d.pixels.resize(std::size_t(n) * c * hw * hw);
  d.labels.resize(std::size_t(n));
  for (int i = 0; i < n; ++i) {
    const int y = int(rng.below(std::uint64_t(classes)));
    d.labels[std::size_t(i)] = y;
    for (int p = 0; p < c * hw * hw; ++p)  // class-dependent brightness plus noise: learnable
      d.pixels[std::size_t(i) * std::size_t(c * hw * hw) + std::size_t(p)] =
          std::uint8_t(std::min(255.0, 60.0 * y + 80.0 * rng.uniform()));
  }
  return d;
}

TrainerConfig small_config() {
  TrainerConfig c;
  c.local_steps = 3;
  c.batch = 8;
  c.max_rounds = 2;
  c.sgd = {0.05, 0.9, 5e-4, false};
  c.eval_batch = 16;
  c.progress = false;
  return c;
}

template <class D>
using TinyTrainer = IndependentSubnetTrainer<Tiny, D>;

}  // namespace

TEST_CASE("trainer: the ledger counts 2 x each worker's sub-model, byte for byte") {
  const auto data = synthetic(64, 1, 8, 3, 1);
  TinyTrainer<LayerwiseRandom> t(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3)), small_config());
  t.prepare(data);
  for (std::uint64_t r = 0; r < 3; ++r) {
    const RoundRecord rec = t.train_round(r);
    const Plan plan = LayerwiseRandom{}.plan(t.info(), {t.config().seed, r, 3});
    std::uint64_t expect = 0;
    const auto& traffic = t.backend().comm().ledger().this_round();
    for (int w = 0; w < 3; ++w) {
      const std::uint64_t sub = ModelTraits<Tiny>::slices(plan.workers[std::size_t(w)]).size() * sizeof(float);
      CHECK(traffic[std::size_t(w)].to_worker == sub);
      CHECK(traffic[std::size_t(w)].from_worker == sub);
      expect += 2 * sub;
    }
    CHECK(rec.bytes() == expect);
    CHECK(rec.local_sgd_bytes == 2ull * 3 * Tiny::num_params * sizeof(float));
    CHECK(rec.bytes() < rec.local_sgd_bytes);
  }
}

TEST_CASE("trainer: a round with nothing to learn returns the global model bit for bit") {
  const auto data = synthetic(64, 1, 8, 3, 2);
  auto cfg = small_config();
  cfg.sgd = {0.0, 0.0, 0.0, false};  // lr 0: the workers change nothing
  TinyTrainer<LayerwiseRandom> t(LayerwiseRandom(2), HolderAverage{}, CpuBackend<>(InProcessComm(4)), cfg);
  t.prepare(data);
  const std::vector<float> before(t.params().begin(), t.params().end());
  t.train_round(0);
  t.train_round(1);
  CHECK(std::memcmp(before.data(), t.params().data(), before.size() * sizeof(float)) == 0);
}

TEST_CASE("trainer: two runs with the same seed end with bitwise-identical weights") {
  const auto data = synthetic(96, 1, 8, 3, 3);
  for (auto state : {OptimizerState::ResetEachRound, OptimizerState::Carry}) {
    auto cfg = small_config();
    cfg.optimizer_state = state;
    TinyTrainer<LayerwiseRandom> a(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3), 2), cfg);
    TinyTrainer<LayerwiseRandom> b(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3), 2), cfg);
    const auto ra = a.fit(data, data);
    const auto rb = b.fit(data, data);
    CHECK(std::memcmp(a.params().data(), b.params().data(), a.params().size_bytes()) == 0);
    CHECK(ra.final_eval.accuracy == rb.final_eval.accuracy);
    // A different seed gives different weights.
    cfg.seed = 99;
    TinyTrainer<LayerwiseRandom> c(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3), 2), cfg);
    c.fit(data, data);
    CHECK(std::memcmp(a.params().data(), c.params().data(), a.params().size_bytes()) != 0);
  }
}

namespace {
// A decomposer that breaks a rule: worker 1 leaves out the stem.
struct DropsTheStem {
  Plan plan(const ModelInfo& info, const RoundContext& ctx) const {
    Plan p = Replicate{}.plan(info, ctx);
    p.workers[1].active_blocks[0] = 0;
    return p;
  }
  PlanRules rules() const { return {}; }
  std::string_view name() const { return "drops-the-stem"; }
};
}  // namespace

TEST_CASE("trainer: a plan that breaks a rule is rejected before any byte moves") {
  const auto data = synthetic(64, 1, 8, 3, 4);
  TinyTrainer<DropsTheStem> t(DropsTheStem{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), small_config());
  t.prepare(data);
  CHECK_THROWS_WITH_AS(t.train_round(0), doctest::Contains("worker 1: block stem is left out, but it is shared"), Error);
  CHECK(t.backend().comm().ledger().total_bytes() == 0);
}

TEST_CASE("trainer: invalid configurations are rejected before training starts") {
  auto cfg = small_config();
  CHECK_THROWS_WITH_AS(InProcessComm(0), doctest::Contains("expected at least 1 worker, found 0"), Error);
  cfg.local_steps = 0;
  CHECK_THROWS_WITH_AS(TinyTrainer<Replicate>(Replicate{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg),
                       doctest::Contains("local_steps (L) must be >= 1, found 0"), Error);
  cfg = small_config();
  cfg.batch = 0;
  CHECK_THROWS_WITH_AS(TinyTrainer<Replicate>(Replicate{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg),
                       doctest::Contains("batch must be >= 1"), Error);
  cfg = small_config();
  cfg.schedule = "sometimes";
  CHECK_THROWS_WITH_AS(TinyTrainer<Replicate>(Replicate{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg),
                       doctest::Contains("sometimes"), Error);
  CHECK_THROWS_WITH_AS(CpuBackend<>(InProcessComm(2), 0), doctest::Contains("threads_per_worker >= 1"), Error);
  // Data that does not fit the model.
  TinyTrainer<Replicate> t(Replicate{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), small_config());
  CHECK_THROWS_WITH_AS(t.prepare(synthetic(64, 3, 8, 3, 5)), doctest::Contains("expected images with 1 channels"),
                       Error);
  CHECK_THROWS_WITH_AS(t.prepare(synthetic(4, 1, 8, 3, 5)), doctest::Contains("fewer than one batch of 8"), Error);
}

// ---- Local SGD with L = 1 and carried momentum is synchronous data-parallel SGD -----------------------
// A model without batch normalization (whose statistics would differ between one big batch and S small
// ones): softmax regression on flattened pixels, logits = W x + b. It also shows that the trainer takes
// any model family that specializes ModelTraits.
namespace {

template <int In, int Classes>
struct SoftmaxRegression {
  static constexpr int num_blocks = 1;
  static constexpr std::size_t num_params = std::size_t(In) * Classes + Classes;
  static constexpr std::array<BlockDesc, 1> blocks{BlockDesc{BlockKind::Head, -1, -1, In, Classes, 1, false, false, 0,
                                                             2, 0, num_params, 0, 0}};
};

template <int In, int Classes>
class SoftmaxRegressionNet {
 public:
  static constexpr int num_classes = Classes;
  explicit SoftmaxRegressionNet(eigen::CpuContext& ctx) : ctx_(&ctx) {}
  void configure(int batch, int, int, std::span<const std::uint8_t> = {}) {
    batch_ = batch;
    logits_.resize(std::size_t(batch) * Classes);
    dlogits_.resize(logits_.size());
  }
  int batch() const { return batch_; }
  std::span<const std::uint8_t> active() const { return active_; }
  const float* forward(const float* p, const ParamLayout&, const float* x, const ForwardOptions<float>& = {}) {
    x_ = x;
    eigen::linear_forward(*ctx_, batch_, In, Classes, x, p, p + In * Classes, logits_.data());
    return logits_.data();
  }
  float* dlogits() { return dlogits_.data(); }
  void backward(const float* p, float* g, const ParamLayout&) {
    eigen::linear_backward(*ctx_, batch_, In, Classes, x_, p, dlogits_.data(), static_cast<float*>(nullptr), g,
                           g + In * Classes);
  }

 private:
  eigen::CpuContext* ctx_;
  int batch_ = 0;
  const float* x_ = nullptr;
  std::vector<float> logits_, dlogits_;
  std::vector<std::uint8_t> active_{1};
};

}  // namespace

}  // namespace test_trainer

namespace ist {
template <int In, int Classes>
struct ModelTraits<test_trainer::SoftmaxRegression<In, Classes>> {
  using Model = test_trainer::SoftmaxRegression<In, Classes>;
  template <class Compute>
  using Network = test_trainer::SoftmaxRegressionNet<In, Classes>;
  using Work = ImageBatches;
  static constexpr std::size_t num_params = Model::num_params;
  static constexpr int num_classes = Classes;
  static ModelInfo info() {
    ModelInfo m;
    m.name = "softmax-regression";
    m.in_channels = 1;
    m.num_classes = Classes;
    m.num_params = num_params;
    BlockInfo b;
    b.name = "linear";
    b.kind = BlockKind::Head;
    b.param_count = num_params;
    m.blocks.push_back(b);
    return m;
  }
  static void init(std::span<float> p, std::uint64_t seed) {
    Rng rng(seed);
    for (auto& v : p) v = float(0.1 * rng.normal());
  }
  static SliceSet slices(const SubnetSpec&) {
    SliceSet s;
    s.slices.push_back(TensorSlice{0, 1, int(num_params), {}, {}});
    return s;
  }
  static ParamLayout layout(const SubnetSpec&) { return ParamLayout::full<Model>(); }
  template <class Net>
  static void configure(Net& net, const SubnetSpec&, int batch, int h, int w) {
    net.configure(batch, h, w);
  }
};
}  // namespace ist

namespace test_trainer {

TEST_CASE("trainer: Replicate with L = 1 and carried momentum equals data-parallel SGD with momentum") {
  constexpr int hw = 4, classes = 3, S = 4, rounds = 3;
  using Model = SoftmaxRegression<hw * hw, classes>;
  using Trainer = IndependentSubnetTrainer<Model, Replicate>;
  const auto data = synthetic(256, 1, hw, classes, 6);
  auto cfg = small_config();
  cfg.local_steps = 1;
  cfg.max_rounds = rounds;
  cfg.sgd = {0.1, 0.9, 1e-3, false};
  cfg.optimizer_state = OptimizerState::Carry;
  Trainer t(Replicate{}, HolderAverage{}, CpuBackend<>(InProcessComm(S)), cfg);
  std::vector<double> p(t.params().begin(), t.params().end());  // the common start
  t.prepare(data);
  for (int r = 0; r < rounds; ++r) t.train_round(std::uint64_t(r));

  // Reference: one global model; each step averages the S workers' gradients (an all-reduce), adds L2
  // weight decay, and takes one momentum step, in double precision.
  eigen::CpuContext ctx(1);
  std::vector<std::unique_ptr<BatchIterator>> its;
  for (int w = 0; w < S; ++w)
    its.push_back(std::make_unique<BatchIterator>(data, cfg.batch, Normalization{}, Augmentation{},
                                                  Trainer::worker_data_seed(cfg.seed, w), true, true));
  const std::size_t n = Model::num_params;
  std::vector<double> v(n, 0.0);
  for (int step = 0; step < rounds; ++step) {
    std::vector<double> g(n, 0.0);
    for (int w = 0; w < S; ++w) {
      Batch b;
      REQUIRE(its[std::size_t(w)]->next(b));
      std::vector<double> x(b.x, b.x + std::size_t(b.size) * hw * hw), logits(std::size_t(b.size) * classes),
          dl(logits.size()), gw(n, 0.0);
      eigen::linear_forward(ctx, b.size, hw * hw, classes, x.data(), p.data(), p.data() + hw * hw * classes,
                            logits.data());
      eigen::softmax_cross_entropy(b.size, classes, logits.data(), b.y, dl.data());
      eigen::linear_backward(ctx, b.size, hw * hw, classes, x.data(), p.data(), dl.data(),
                             static_cast<double*>(nullptr), gw.data(), gw.data() + hw * hw * classes);
      for (std::size_t i = 0; i < n; ++i) g[i] += gw[i] / S;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const double gi = g[i] + cfg.sgd.weight_decay * p[i];
      v[i] = step == 0 ? gi : cfg.sgd.momentum * v[i] + gi;
      p[i] -= cfg.sgd.lr * v[i];
    }
  }
  double diff = 0, norm = 0, mdiff = 0, mnorm = 0;
  for (std::size_t i = 0; i < n; ++i) {
    diff += (t.params()[i] - p[i]) * (t.params()[i] - p[i]);
    norm += p[i] * p[i];
    mdiff += (t.state_buffer(0)[i] - v[i]) * (t.state_buffer(0)[i] - v[i]);
    mnorm += v[i] * v[i];
  }
  MESSAGE("local SGD (L=1, carry) vs data-parallel SGD: relative difference " << std::sqrt(diff / norm)
                                                                              << " (weights), "
                                                                              << std::sqrt(mdiff / mnorm)
                                                                              << " (momentum)");
  CHECK(std::sqrt(diff / norm) < 1e-6);
  CHECK(std::sqrt(mdiff / mnorm) < 1e-5);
}

// ---- defects found in review (issue 13), each with the test that failed before its fix ----------------

namespace {
// A user decomposer whose evaluation_scale has the wrong length.
struct WrongScale {
  std::size_t extra = 0;
  bool shorter = false;
  Plan plan(const ModelInfo& info, const RoundContext& ctx) const { return Replicate{}.plan(info, ctx); }
  PlanRules rules() const { return Replicate{}.rules(); }
  std::string_view name() const { return "wrong-scale"; }
  std::vector<double> evaluation_scale(const ModelInfo& info, int) const {
    return std::vector<double>(shorter ? info.blocks.size() - 1 : info.blocks.size() + extra, 0.5);
  }
};
}  // namespace

TEST_CASE("trainer: a decomposer's evaluation_scale of the wrong length is rejected, naming the decomposer") {
  const ImageDataset data = synthetic(32, 1, 8, 3, 4);
  auto cfg = small_config();
  cfg.max_rounds = 1;
  for (bool shorter : {false, true}) {
    IndependentSubnetTrainer<Tiny, WrongScale> t(WrongScale{1000, shorter}, HolderAverage{},
                                                 CpuBackend<>(InProcessComm(2)), cfg);
    CHECK_THROWS_WITH_AS(t.fit(data, data),
                         doctest::Contains("decomposer wrong-scale: evaluation_scale(info, 2) must return one value "
                                           "per block (8), found"),
                         Error);
  }
}

TEST_CASE("trainer: DataSplit::Disjoint gives each worker its own shard; the epoch is the smallest shard's") {
  // 67 images, S = 2, batch 17: shards of 34 and 33 images, 2 and 1 batches. Every process must count an
  // epoch the same way (the schedule and the round count depend on it): by the smallest shard.
  const ImageDataset data = synthetic(67, 1, 8, 3, 6);
  auto cfg = small_config();
  cfg.batch = 17;
  cfg.local_steps = 1;
  cfg.max_rounds = 0;
  cfg.epochs = 3;
  cfg.schedule = "step:0.5";
  cfg.data_split = DataSplit::Disjoint;
  TinyTrainer<Replicate> t(Replicate{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg);
  const FitResult r = t.fit(data, data);
  CHECK(t.steps_per_epoch() == 1);
  CHECK(r.rounds.size() == 3);
  CHECK(r.rounds[0].lr == doctest::Approx(0.05));
  CHECK(r.rounds[2].lr == doctest::Approx(0.005));
  // Each worker trains on its own shard only: 17 images a step each.
  CHECK(r.rounds[0].train_loss > 0);
  CHECK(ImageBatches::shard_of(data, 0, 2).n == 34);
  CHECK(ImageBatches::shard_of(data, 1, 2).n == 33);
  CHECK(ImageBatches::shard_of(data, 1, 2).labels[0] == data.labels[1]);
}

TEST_CASE("trainer: with carried optimizer state, local SGD's baseline counts the state it sends too") {
  // Replicate with L = 1 and carried momentum is local SGD; it moves exactly what the baseline says.
  const ImageDataset data = synthetic(48, 1, 8, 3, 8);
  auto cfg = small_config();
  cfg.local_steps = 1;
  cfg.optimizer_state = OptimizerState::Carry;
  TinyTrainer<Replicate> t(Replicate{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg);
  t.prepare(data);
  const RoundRecord rec = t.train_round(0);
  CHECK(rec.carried_state_buffers == 1);
  CHECK(rec.bytes() == rec.local_sgd_bytes);
  CHECK(rec.local_sgd_bytes == 2ull * 2 * Tiny::num_params * sizeof(float) * 2);
  // Adam carries two buffers: three times the parameters' bytes.
  TinyTrainer<Replicate> adam(Replicate{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg, optim::AdamConfig{});
  adam.prepare(data);
  const RoundRecord a = adam.train_round(0);
  CHECK(a.carried_state_buffers == 2);
  CHECK(a.bytes() == a.local_sgd_bytes);
}

// ---- a downstream user's first hour (issue 14) --------------------------------------------------------

namespace {
std::uint64_t sum_to(const std::vector<WorkerTraffic>& t) {
  std::uint64_t n = 0;
  for (const auto& w : t) n += w.to_worker;
  return n;
}
std::uint64_t sum_from(const std::vector<WorkerTraffic>& t) {
  std::uint64_t n = 0;
  for (const auto& w : t) n += w.from_worker;
  return n;
}
std::vector<std::uint64_t> u64s(const nlohmann::json& a) {
  std::vector<std::uint64_t> v;
  for (const auto& x : a) v.push_back(x.get<std::uint64_t>());
  return v;
}
}  // namespace

TEST_CASE("trainer: per-worker bytes in the round record and the metrics file sum to the round's total") {
  const auto data = synthetic(64, 1, 8, 3, 11);
  auto cfg = small_config();
  cfg.max_rounds = 3;
  cfg.eval_every = 0;
  cfg.metrics_path = (std::filesystem::temp_directory_path() /
                      ("ist_worker_bytes_" + std::to_string(::getpid()) + ".jsonl")).string();
  // Worker 1 fails in round 2 (it sends nothing back) and is left out from then on (S shrinks to 2).
  cfg.on_worker_failure = WorkerFailure::DropForRound;
  cfg.after_failure = AfterFailure::Survivors;
  TinyTrainer<LayerwiseRandom> t(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3)), cfg);
  t.set_fault_injector([](int w, std::uint64_t round) {
    if (w == 1 && round == 1) throw Error("injected");
  });
  const FitResult r = t.fit(data, data);
  REQUIRE(r.rounds.size() == 3);
  std::ifstream in(cfg.metrics_path);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  std::filesystem::remove(cfg.metrics_path);
  REQUIRE(rows.size() == 3);
  for (std::size_t k = 0; k < 3; ++k) {
    CAPTURE(k);
    const RoundRecord& rec = r.rounds[k];
    REQUIRE(rec.worker_traffic.size() == 3);  // every worker of the backend, index = worker id
    CHECK(sum_to(rec.worker_traffic) == rec.bytes_to_workers);
    CHECK(sum_from(rec.worker_traffic) == rec.bytes_from_workers);
    CHECK(CommLedger::messages(rec.worker_traffic) == rec.messages);
    CHECK(CommLedger::total(rec.worker_traffic) == rec.bytes());
    CHECK(rec.bytes() > 0);
    // The metrics file has the same arrays.
    const std::vector<std::uint64_t> to = u64s(rows[k]["bytes_to_each_worker"]);
    const std::vector<std::uint64_t> from = u64s(rows[k]["bytes_from_each_worker"]);
    REQUIRE(to.size() == 3);
    REQUIRE(from.size() == 3);
    std::uint64_t to_sum = 0, from_sum = 0;
    for (std::size_t w = 0; w < 3; ++w) {
      CHECK(to[w] == rec.worker_traffic[w].to_worker);
      CHECK(from[w] == rec.worker_traffic[w].from_worker);
      to_sum += to[w];
      from_sum += from[w];
    }
    CHECK(to_sum == rows[k]["bytes_to_workers"].get<std::uint64_t>());
    CHECK(from_sum == rows[k]["bytes_from_workers"].get<std::uint64_t>());
  }
  // Round 2: worker 1 received its slices but sent nothing back. Round 3: worker 1 is out of the plan.
  CHECK(r.rounds[1].worker_traffic[1].to_worker > 0);
  CHECK(r.rounds[1].worker_traffic[1].from_worker == 0);
  CHECK(r.rounds[2].worker_traffic[1].total() == 0);
  CHECK(r.rounds[2].worker_traffic[0].from_worker > 0);
  // The last round's record is the ledger's round, entry by entry.
  const auto& ledger = t.backend().comm().ledger().this_round();
  for (std::size_t w = 0; w < 3; ++w) {
    CHECK(r.rounds[2].worker_traffic[w].to_worker == ledger[w].to_worker);
    CHECK(r.rounds[2].worker_traffic[w].from_worker == ledger[w].from_worker);
  }
}

namespace {
// A decomposer that labels every plan round 7, whatever the round.
struct StaleRound {
  Plan plan(const ModelInfo& info, const RoundContext& ctx) const {
    Plan p = Replicate{}.plan(info, ctx);
    p.round = 7;
    return p;
  }
  PlanRules rules() const { return {}; }
  std::string_view name() const { return "stale-round"; }
};
}  // namespace

TEST_CASE("trainer: a plan labelled with another round is rejected before any byte moves, naming both rounds") {
  const auto data = synthetic(64, 1, 8, 3, 12);
  TinyTrainer<StaleRound> t(StaleRound{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), small_config());
  t.prepare(data);
  CHECK_THROWS_WITH_AS(t.train_round(0), doctest::Contains("the plan is labelled round 7, but this is round 0"), Error);
  CHECK(t.backend().comm().ledger().total_bytes() == 0);
  CHECK_NOTHROW(t.train_round(7));  // the round it is labelled with passes
}

TEST_CASE("trainer: the step-progress callback sees every local step and changes no bit of training") {
  const auto data = synthetic(96, 1, 8, 3, 13);
  auto cfg = small_config();
  cfg.max_rounds = 3;
  const int S = 3;
  TinyTrainer<LayerwiseRandom> quiet(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(S)), cfg);
  TinyTrainer<LayerwiseRandom> shown(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(S)), cfg);
  std::vector<StepProgress> calls;  // the trainer serializes the calls
  shown.set_step_progress([&](const StepProgress& p) { calls.push_back(p); });
  const FitResult a = quiet.fit(data, data);
  const FitResult b = shown.fit(data, data);
  CHECK(std::memcmp(quiet.params().data(), shown.params().data(), quiet.params().size_bytes()) == 0);
  CHECK(a.final_eval.accuracy == b.final_eval.accuracy);
  REQUIRE(calls.size() == std::size_t(cfg.max_rounds) * (std::size_t(S * cfg.local_steps) + 1));
  std::size_t k = 0;
  for (int round = 1; round <= cfg.max_rounds; ++round) {
    std::vector<int> per_worker(S, 0);
    for (int step = 1; step <= S * cfg.local_steps; ++step, ++k) {
      const StepProgress& p = calls[k];
      CAPTURE(k);
      CHECK(!p.round_finished);
      CHECK(p.round == std::uint64_t(round));
      CHECK(p.rounds == cfg.max_rounds);
      CHECK(p.local_steps == cfg.local_steps);
      CHECK(p.steps_total == S * cfg.local_steps);
      CHECK(p.steps_done == step);
      REQUIRE(p.worker >= 0);
      REQUIRE(p.worker < S);
      CHECK(p.worker_steps == ++per_worker[std::size_t(p.worker)]);
      CHECK(p.round_seconds >= 0);
      CHECK(p.run_seconds >= p.round_seconds);
      CHECK(p.round_seconds_left() >= 0);
      if (p.round_seconds > 0) CHECK(p.run_seconds_left() >= p.round_seconds_left());
    }
    CHECK(calls[k].round_finished);
    CHECK(calls[k].steps_done == S * cfg.local_steps);
    CHECK(calls[k].round_seconds_left() == 0);
    ++k;
  }
  // Driven by hand, the run's length is unknown: run_seconds_left() is NaN.
  calls.clear();
  shown.train_round(3);
  REQUIRE(!calls.empty());
  CHECK(calls.front().rounds == 0);
  CHECK(std::isnan(calls.front().run_seconds_left()));
  // An exception from the callback ends the round with it.
  shown.set_step_progress([](const StepProgress&) { throw Error("display broke"); });
  CHECK_THROWS_WITH_AS(shown.train_round(4), doctest::Contains("display broke"), Error);
}

namespace {
// Records what the merge is given, then merges as HolderAverage does.
struct RecordingAverage {
  std::vector<std::vector<double>>* seen = nullptr;
  HolderAverage avg;
  void merge(std::span<float> global, const MergeInput& in) {
    seen->emplace_back(in.samples.begin(), in.samples.end());
    avg.merge(global, in);
  }
  std::string_view name() const { return "recording-average"; }
};
}  // namespace

TEST_CASE("trainer: the merge gets each worker's sample count; SampleWeightedAverage trains through it") {
  const auto data = synthetic(64, 1, 8, 3, 14);
  auto cfg = small_config();
  std::vector<std::vector<double>> seen;
  IndependentSubnetTrainer<Tiny, LayerwiseRandom, RecordingAverage> t(
      LayerwiseRandom{}, RecordingAverage{&seen, {}}, CpuBackend<>(InProcessComm(3)), cfg);
  t.prepare(data);
  t.train_round(0);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == std::vector<double>(3, double(cfg.local_steps * cfg.batch)));
  // Every worker saw as many samples, so the sample-weighted merge is the holder average, to rounding.
  IndependentSubnetTrainer<Tiny, LayerwiseRandom, SampleWeightedAverage> w(
      LayerwiseRandom{}, SampleWeightedAverage{}, CpuBackend<>(InProcessComm(3)), cfg);
  TinyTrainer<LayerwiseRandom> h(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3)), cfg);
  w.fit(data, data);
  h.fit(data, data);
  for (std::size_t i = 0; i < h.params().size(); ++i)
    REQUIRE(w.params()[i] == doctest::Approx(h.params()[i]).epsilon(1e-5));
}

TEST_CASE("trainer: AnyComm over InProcessComm trains as InProcessComm does, bit for bit (the programs' communicator)") {
  // AnyComm offers every optional member: its sums over one process are the values, it has no broadcast in
  // process (Replicate with S = 3 is where MpiComm would broadcast), and a top-k codec's residuals go through
  // its sum before each checkpoint. Each of these must leave the run as it is on InProcessComm itself.
  const auto data = synthetic(96, 1, 8, 3, 3);
  const auto root = std::filesystem::temp_directory_path() / ("ist_any_comm_" + std::to_string(::getpid()));
  for (const std::string codec : {"float32", "topk:0.1"}) {
    CAPTURE(codec);
    auto cfg = small_config();
    cfg.max_rounds = 3;
    cfg.codec = codec;
    cfg.checkpoint_every = 1;
    auto plain_cfg = cfg, any_cfg = cfg;
    plain_cfg.checkpoint_dir = (root / "plain").string();
    any_cfg.checkpoint_dir = (root / "any").string();
    auto check_same = [&]<class D>(D decomposer) {
      std::filesystem::remove_all(root);
      IndependentSubnetTrainer<Tiny, D> plain(decomposer, HolderAverage{}, CpuBackend<>(InProcessComm(3)), plain_cfg);
      IndependentSubnetTrainer<Tiny, D, HolderAverage, CpuBackend<AnyComm>> any(
          decomposer, HolderAverage{}, CpuBackend<AnyComm>(InProcessComm(3)), any_cfg);
      const FitResult a = plain.fit(data, data);
      const FitResult b = any.fit(data, data);
      CHECK(std::memcmp(plain.params().data(), any.params().data(), plain.params().size_bytes()) == 0);
      CHECK(a.final_eval.accuracy == b.final_eval.accuracy);
      CHECK(a.final_eval.loss == b.final_eval.loss);
      CHECK(a.total_bytes == b.total_bytes);
      REQUIRE(a.rounds.size() == b.rounds.size());
      for (std::size_t r = 0; r < a.rounds.size(); ++r) {
        CHECK(a.rounds[r].train_loss == b.rounds[r].train_loss);
        CHECK(a.rounds[r].bytes_to_workers == b.rounds[r].bytes_to_workers);
        CHECK(a.rounds[r].bytes_from_workers == b.rounds[r].bytes_from_workers);
        CHECK(a.rounds[r].step_losses == b.rounds[r].step_losses);
      }
    };
    check_same(Replicate{});
    check_same(LayerwiseRandom{});
  }
  std::filesystem::remove_all(root);

  AnyComm comm = InProcessComm(2);
  CHECK(!comm.broadcasts_to_workers());
  CHECK(comm.get<InProcessComm>() != nullptr);
  CHECK(comm.get<archetypes::CommunicatorArchetype>() == nullptr);
  std::vector<double> sum = {1.5, -2.0};
  comm.all_sum(sum);  // one process: the values
  CHECK(sum == std::vector<double>{1.5, -2.0});
  std::vector<float> src = {1.f}, dst = {0.f};
  CHECK_THROWS_WITH_AS(comm.to_all_workers(src, dst), doctest::Contains("has no broadcast"), Error);
  AnyComm no_bytes = archetypes::CommunicatorArchetype{};
  std::vector<std::byte> out;
  CHECK_THROWS_WITH_AS(no_bytes.to_worker_bytes(0, {}, out), doctest::Contains("moves no byte payloads"), Error);
}

}  // namespace test_trainer
