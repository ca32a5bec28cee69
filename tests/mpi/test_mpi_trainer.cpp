// IndependentSubnetTrainer on CpuBackend<MpiComm> (S = the number of ranks) against the same run on the
// in-process backend (S threads): same seed, same global weights bit for bit, same ledger byte for byte,
// same per-round statistics on every rank. Also: ranks that compute different plans fail with a clear error.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ist/backend/cpu_backend.hpp"
#include "ist/comm/any_comm.hpp"
#include "ist/comm/mpi_comm.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/speed_proportional.hpp"
#include "ist/train/trainer.hpp"
#include "mpi_test.hpp"
#include "../skip.hpp"
#if __has_include("ist/train/mlp_traits.hpp")
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/mlp_traits.hpp"

namespace test_mpi_trainer {
#define IST_MPI_TEST_WIDTHWISE 1
#endif

using namespace ist;
using ist::mpi_test::synthetic;
using ist::mpi_test::TinyNet;
using ist::mpi_test::world_rank;
using ist::mpi_test::world_size;

namespace {

TrainerConfig small_config() {
  TrainerConfig c;
  c.local_steps = 3;
  c.batch = 8;
  c.max_rounds = 3;
  c.sgd = {0.05, 0.9, 5e-4, false};
  c.eval_batch = 16;
  c.progress = false;
  return c;
}

template <class Model, class D>
using MpiTrainer = IndependentSubnetTrainer<Model, D, HolderAverage, CpuBackend<MpiComm>>;
template <class Model, class D>
using InProcessTrainer = IndependentSubnetTrainer<Model, D>;

bool same_traffic(const WorkerTraffic& a, const WorkerTraffic& b) {
  return a.to_worker == b.to_worker && a.from_worker == b.from_worker && a.messages == b.messages;
}

// Rank 0's ledger equals the in-process ledger; rank w's holds worker w's entry and zeros elsewhere.
void check_ledger(const std::vector<WorkerTraffic>& mpi, const std::vector<WorkerTraffic>& ref) {
  const int me = world_rank();
  REQUIRE(mpi.size() == ref.size());
  for (std::size_t w = 0; w < ref.size(); ++w) {
    CAPTURE(w);
    if (me == 0 || int(w) == me)
      CHECK(same_traffic(mpi[w], ref[w]));
    else
      CHECK(same_traffic(mpi[w], WorkerTraffic{}));
  }
}

// Whether every rank holds rank 0's rows, bit for bit.
bool same_on_every_rank(const std::vector<std::vector<float>>& rows) {
  std::vector<float> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  unsigned long long n = flat.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  std::vector<float> root(flat);
  root.resize(std::size_t(n));
  MPI_Bcast(root.data(), int(n), MPI_FLOAT, 0, MPI_COMM_WORLD);
  int same = n == flat.size() && std::memcmp(root.data(), flat.data(), flat.size() * sizeof(float)) == 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return same == 1;
}

// Trains `rounds` rounds on S MPI ranks and, on every rank, the same run in process with S workers.
// `timer` (when set) replaces every worker's measured compute time on both (set_compute_timer).
// Comm: the communicator type the ranks train through (MpiComm, or AnyComm holding one, as the programs do).
template <class Model, class D, class Comm = MpiComm>
void check_same_as_in_process(const D& decomposer, const TrainerConfig& cfg, const ImageDataset& data, int rounds,
                              std::function<double(const ComputeTiming&)> timer = {}) {
  MPI_RANK_INFO();
  const int S = world_size();
  IndependentSubnetTrainer<Model, D, HolderAverage, CpuBackend<Comm>> mpi(decomposer, HolderAverage{},
                                                                          CpuBackend<Comm>(MpiComm()), cfg);
  InProcessTrainer<Model, D> ref(decomposer, HolderAverage{}, CpuBackend<>(InProcessComm(S, /*concurrent=*/false)),
                                 cfg);
  if (timer) {
    mpi.set_compute_timer(timer);
    ref.set_compute_timer(timer);
  }
  REQUIRE(mpi.num_workers() == S);
  mpi.prepare(data);
  ref.prepare(data);
  for (int r = 0; r < rounds; ++r) {
    CAPTURE(r);
    const RoundRecord a = mpi.train_round(std::uint64_t(r));
    const RoundRecord b = ref.train_round(std::uint64_t(r));
    check_ledger(mpi.backend().comm().ledger().this_round(), ref.backend().comm().ledger().this_round());
    // Every rank reports every worker's statistics, summed in worker order as in process.
    CHECK(a.train_loss == b.train_loss);
    // The pace history is shared by a sum over ranks: every rank holds the same (measured here, so not the
    // in-process run's), and with injected timings the in-process run's.
    CHECK(same_on_every_rank(mpi.pace_history()));
    if (timer) {
      CHECK(mpi.pace_history() == ref.pace_history());
      CHECK(a.worker_pace_seconds == b.worker_pace_seconds);
    }
    CHECK(a.train_accuracy == b.train_accuracy);
    CHECK(a.mean_subnet_params == b.mean_subnet_params);
    CHECK(a.local_sgd_bytes == b.local_sgd_bytes);
    // The record's traffic is the coordinator's ledger, shared with every rank: the in-process figures,
    // per worker and in sum, on every rank (each rank's own ledger holds only its worker's).
    CHECK(a.bytes_to_workers == b.bytes_to_workers);
    CHECK(a.bytes_from_workers == b.bytes_from_workers);
    CHECK(a.messages == b.messages);
    REQUIRE(a.worker_traffic.size() == b.worker_traffic.size());
    for (std::size_t w = 0; w < b.worker_traffic.size(); ++w) {
      CAPTURE(w);
      CHECK(same_traffic(a.worker_traffic[w], b.worker_traffic[w]));
    }
  }
  check_ledger(mpi.backend().comm().ledger().cumulative(), ref.backend().comm().ledger().cumulative());
  // The global model and its carried state live on the coordinator only; the other ranks hold their workers'
  // sub-networks.
  CHECK(mpi.params().empty() == !mpi.backend().comm().is_coordinator());
  for (std::size_t k = 0; k < mpi.num_state_buffers(); ++k)
    CHECK(mpi.state_buffer(k).empty() == !mpi.backend().comm().is_coordinator());
  if (mpi.backend().comm().is_coordinator()) {
    REQUIRE(mpi.params().size() == ref.params().size());
    CHECK(std::memcmp(mpi.params().data(), ref.params().data(), ref.params().size_bytes()) == 0);
    REQUIRE(mpi.num_state_buffers() == ref.num_state_buffers());
    for (std::size_t k = 0; k < ref.num_state_buffers(); ++k)
      CHECK(std::memcmp(mpi.state_buffer(k).data(), ref.state_buffer(k).data(), ref.state_buffer(k).size_bytes()) == 0);
    // And training did change the weights.
    InProcessTrainer<Model, D> fresh(decomposer, HolderAverage{}, CpuBackend<>(InProcessComm(S)), cfg);
    CHECK(std::memcmp(mpi.params().data(), fresh.params().data(), ref.params().size_bytes()) != 0);
    MESSAGE(decomposer.name(), ", S = ", S, ", ", rounds, " rounds: global weights bitwise equal to the in-process ",
            "run (", ref.params().size(), " values), ledger equal (",
            ref.backend().comm().ledger().total_bytes(), " bytes, ",
            CommLedger::messages(ref.backend().comm().ledger().cumulative()), " messages)");
  }
}

// A ResIST run of cfg.max_rounds rounds, and the same run stopped after round 2 (checkpoints in `dir`, which
// rank 0 writes) and continued by a new trainer: what the stop-and-resume tests compare.
struct StopAndResume {
  std::unique_ptr<MpiTrainer<TinyNet, LayerwiseRandom>> whole, resumed;
  FitResult rest;  // the resumed trainer's rounds
};
StopAndResume stop_and_resume(const TrainerConfig& cfg, const ImageDataset& data, const std::string& dir) {
  const auto trainer = [](const TrainerConfig& c) {
    return std::make_unique<MpiTrainer<TinyNet, LayerwiseRandom>>(LayerwiseRandom{}, HolderAverage{},
                                                                    CpuBackend<MpiComm>(MpiComm()), c);
  };
  StopAndResume r;
  r.whole = trainer(cfg);
  r.whole->fit(data, data);
  auto stopped_cfg = cfg;
  stopped_cfg.max_rounds = 2;  // the run ends (is stopped) after round 2
  stopped_cfg.checkpoint_dir = dir;
  trainer(stopped_cfg)->fit(data, data);
  auto resumed_cfg = cfg;
  resumed_cfg.checkpoint_dir = dir;
  r.resumed = trainer(resumed_cfg);
  r.rest = r.resumed->fit(data, data, dir);
  return r;
}

}  // namespace

TEST_CASE("mpi trainer: ResIST on S ranks gives the in-process weights and ledger after 3 rounds") {
  const auto data = synthetic(96, 1, 8, 3, 11);
  check_same_as_in_process<TinyNet>(LayerwiseRandom{}, small_config(), data, 3);
}

TEST_CASE("mpi trainer: ResIST with carried momentum and a minimum depth") {
  const auto data = synthetic(96, 1, 8, 3, 12);
  auto cfg = small_config();
  cfg.optimizer_state = OptimizerState::Carry;
  check_same_as_in_process<TinyNet>(LayerwiseRandom(3), cfg, data, 3);
}

TEST_CASE("mpi trainer: Replicate (local SGD, broadcast to all workers) gives the in-process weights") {
  const auto data = synthetic(96, 1, 8, 3, 13);
  check_same_as_in_process<TinyNet>(Replicate{}, small_config(), data, 3);
  auto cfg = small_config();
  cfg.optimizer_state = OptimizerState::Carry;  // momentum is broadcast too
  check_same_as_in_process<TinyNet>(Replicate{}, cfg, data, 3);
}

TEST_CASE("mpi trainer: through AnyComm (the programs' communicator) the ranks give the in-process weights, broadcast included") {
  const auto data = synthetic(96, 1, 8, 3, 15);
  check_same_as_in_process<TinyNet, LayerwiseRandom, AnyComm>(LayerwiseRandom{}, small_config(), data, 3);
  auto cfg = small_config();
  cfg.optimizer_state = OptimizerState::Carry;
  check_same_as_in_process<TinyNet, Replicate, AnyComm>(Replicate{}, cfg, data, 3);  // MpiComm's broadcast
  cfg.codec = "topk:0.1";
  check_same_as_in_process<TinyNet, LayerwiseRandom, AnyComm>(LayerwiseRandom{}, cfg, data, 3);
  AnyComm comm = MpiComm();
  CHECK(comm.broadcasts_to_workers());
  REQUIRE(comm.get<MpiComm>() != nullptr);
  CHECK(comm.get<MpiComm>()->rank() == world_rank());
}

#ifdef IST_MPI_TEST_WIDTHWISE
TEST_CASE("mpi trainer: WidthwiseRandom (IST on an MLP) gives the in-process weights") {
  using Net = Mlp<Input<64>, Dense<24>, Dense<16>, Dense<3>>;
  const auto data = synthetic(96, 1, 8, 3, 14);
  auto cfg = small_config();
  cfg.sgd = {0.05, 0.0, 0.0, false};  // IST: plain SGD
  check_same_as_in_process<Net>(WidthwiseRandom{}, cfg, data, 3);
}
#endif

TEST_CASE("mpi trainer: transfer codecs (bf16, fp16, top-k with error feedback, dense first and last rounds) give the in-process weights and ledger") {
  const auto data = synthetic(96, 1, 8, 3, 18);
  for (const char* codec : {"bf16", "fp16", "topk:0.1", "topk:0.01", "topk:0.1:f32-down", "topk:0.1:warmup:flush"}) {
    CAPTURE(codec);
    auto cfg = small_config();
    cfg.codec = codec;
    check_same_as_in_process<TinyNet>(LayerwiseRandom{}, cfg, data, 3);
    check_same_as_in_process<TinyNet>(Replicate{}, cfg, data, 2);  // no broadcast: each worker's payload
  }
}

TEST_CASE("mpi trainer: capacity-aware plans (SpeedProportional, the last worker at half speed) give the in-process weights") {
  // Injected timings: the last worker takes 2 ns per step and parameter, the others 1 ns. The history that
  // sizes the shares is shared by a sum over ranks, not measured per rank, so every rank plans the same.
  const int S = world_size();
  const auto timer = [S](const ComputeTiming& t) {
    return double(t.steps) * double(t.subnet_params) * (t.worker == S - 1 ? 2e-9 : 1e-9);
  };
  const auto data = synthetic(96, 1, 8, 3, 19);
  check_same_as_in_process<TinyNet>(SpeedProportional{}, small_config(), data, 4, timer);
  auto cfg = small_config();
  cfg.codec = "topk:0.1";  // with a codec too
  check_same_as_in_process<TinyNet>(SpeedProportional{}, cfg, data, 4, timer);
  // Local steps sized to speed instead (the last worker trains half of them): the step counts, too, come
  // from the shared history.
  auto steps_cfg = small_config();
  steps_cfg.local_steps = 4;
  check_same_as_in_process<TinyNet>(SpeedProportional(0.25, SpeedBudget::Steps), steps_cfg, data, 4, timer);
#ifdef IST_MPI_TEST_WIDTHWISE
  using Net = Mlp<Input<64>, Dense<24>, Dense<16>, Dense<3>>;
  auto ist_cfg = small_config();
  ist_cfg.sgd = {0.05, 0.0, 0.0, false};
  check_same_as_in_process<Net>(SpeedProportional{}, ist_cfg, data, 4, timer);
#endif
}

TEST_CASE("mpi trainer: fit() reports the same rounds and evaluation on every rank as in process") {
  MPI_RANK_INFO();
  const int S = world_size();
  const auto data = synthetic(96, 1, 8, 3, 15);
  auto cfg = small_config();
  cfg.eval_every = 2;
  MpiTrainer<TinyNet, LayerwiseRandom> mpi(LayerwiseRandom{}, HolderAverage{}, CpuBackend<MpiComm>(MpiComm()), cfg);
  InProcessTrainer<TinyNet, LayerwiseRandom> ref(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(S)),
                                                 cfg);
  const FitResult a = mpi.fit(data, data);
  const FitResult b = ref.fit(data, data);
  REQUIRE(a.rounds.size() == b.rounds.size());
  for (std::size_t r = 0; r < a.rounds.size(); ++r) {
    CAPTURE(r);
    CHECK(a.rounds[r].train_loss == b.rounds[r].train_loss);
    CHECK(std::isnan(a.rounds[r].test_accuracy) == std::isnan(b.rounds[r].test_accuracy));
    if (!std::isnan(b.rounds[r].test_accuracy)) {
      CHECK(a.rounds[r].test_accuracy == b.rounds[r].test_accuracy);
      CHECK(a.rounds[r].test_loss == doctest::Approx(b.rounds[r].test_loss).epsilon(1e-12));
    }
  }
  CHECK(a.final_eval.samples == b.final_eval.samples);
  CHECK(a.final_eval.accuracy == b.final_eval.accuracy);
  CHECK(a.final_eval.loss == doctest::Approx(b.final_eval.loss).epsilon(1e-12));
  CHECK(a.total_bytes == b.total_bytes);  // every rank reports the coordinator's count
  CHECK(a.local_sgd_bytes == b.local_sgd_bytes);
}

namespace {
// A decomposer that breaks determinism: on rank 1, workers 0 and 1 swap sub-networks.
struct RankDependentPlan {
  Plan plan(const ModelInfo& info, const RoundContext& ctx) const {
    Plan p = LayerwiseRandom{}.plan(info, ctx);
    if (world_rank() == 1) std::swap(p.workers[0], p.workers[1]);
    return p;
  }
  PlanRules rules() const { return {}; }
  std::string_view name() const { return "rank-dependent"; }
};
}  // namespace

TEST_CASE("mpi trainer: ranks that compute different plans stop with an error naming them, before any byte") {
  MPI_RANK_INFO();
  if (world_size() < 2) IST_SKIP_TEST("needs at least 2 MPI ranks, found " + std::to_string(world_size()));
  const auto data = synthetic(64, 1, 8, 3, 16);
  MpiTrainer<TinyNet, RankDependentPlan> t(RankDependentPlan{}, HolderAverage{}, CpuBackend<MpiComm>(MpiComm()),
                                           small_config());
  t.prepare(data);
  CHECK_THROWS_WITH_AS(t.train_round(0), doctest::Contains("the ranks disagree on the round: rank 0 is at round 0"),
                       Error);
  CHECK_THROWS_WITH_AS(t.train_round(1), doctest::Contains(", but rank 1 is at round 1"), Error);
  CHECK(t.backend().comm().ledger().total_bytes() == 0);
}

TEST_CASE("mpi trainer: a run stopped after round 2 and resumed from its checkpoint ends bit for bit as one run") {
  MPI_RANK_INFO();
  const int S = world_size();
  const auto data = synthetic(96, 1, 8, 3, 16);
  // Every rank names the same directory; rank 0 (the coordinator) writes the checkpoints.
  const std::string dir = (std::filesystem::temp_directory_path() / ("ist_mpi_resume_np" + std::to_string(S))).string();
  if (world_rank() == 0) std::filesystem::remove_all(dir);
  auto cfg = small_config();
  cfg.max_rounds = 5;
  cfg.epochs = 2;
  cfg.schedule = "step:0.5";
  cfg.optimizer_state = OptimizerState::Carry;
  const auto [whole_run, resumed_run, rest] = stop_and_resume(cfg, data, dir);
  auto &whole = *whole_run, &resumed = *resumed_run;
  REQUIRE(rest.rounds.size() == 3);
  CHECK(rest.rounds.front().round == 3);
  if (world_rank() == 0) {
    CHECK(std::memcmp(whole.params().data(), resumed.params().data(), whole.params().size_bytes()) == 0);
    CHECK(std::memcmp(whole.state_buffer(0).data(), resumed.state_buffer(0).data(), whole.state_buffer(0).size_bytes()) == 0);
  }
}

TEST_CASE("mpi trainer: a top-k run resumes bit for bit: the workers' residuals travel through the checkpoint") {
  MPI_RANK_INFO();
  const int S = world_size();
  const auto data = synthetic(96, 1, 8, 3, 19);
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("ist_mpi_codec_resume_np" + std::to_string(S))).string();
  if (world_rank() == 0) std::filesystem::remove_all(dir);
  auto cfg = small_config();
  cfg.max_rounds = 4;
  cfg.codec = "topk:0.05";
  const auto [whole_run, resumed_run, rest] = stop_and_resume(cfg, data, dir);
  auto &whole = *whole_run, &resumed = *resumed_run;
  REQUIRE(rest.rounds.size() == 2);
  // This rank's worker continues from its own residual.
  const std::span<const float> a = whole.codec_residual(world_rank()), b = resumed.codec_residual(world_rank());
  REQUIRE(a.size() == b.size());
  CHECK(std::memcmp(a.data(), b.data(), a.size_bytes()) == 0);
  if (world_rank() == 0)
    CHECK(std::memcmp(whole.params().data(), resumed.params().data(), whole.params().size_bytes()) == 0);
}

TEST_CASE("mpi trainer: a worker that fails in round 2 is dropped on every rank, as in process") {
  MPI_RANK_INFO();
  const int S = world_size();
  const auto data = synthetic(96, 1, 8, 3, 17);
  auto cfg = small_config();
  cfg.max_rounds = 4;
  cfg.on_worker_failure = WorkerFailure::DropForRound;
  auto inject = [S](int w, std::uint64_t round) {
    if (w == S - 1 && round == 1) throw Error("injected failure");
  };
  MpiTrainer<TinyNet, LayerwiseRandom> mpi(LayerwiseRandom{}, HolderAverage{}, CpuBackend<MpiComm>(MpiComm()), cfg);
  InProcessTrainer<TinyNet, LayerwiseRandom> ref(LayerwiseRandom{}, HolderAverage{},
                                                 CpuBackend<>(InProcessComm(S, /*concurrent=*/false)), cfg);
  mpi.set_fault_injector(inject);
  ref.set_fault_injector(inject);
  const FitResult a = mpi.fit(data, data);
  const FitResult b = ref.fit(data, data);
  REQUIRE(a.rounds.size() == 4);
  CHECK(a.rounds[1].failed_workers == 1);
  CHECK(a.rounds[2].workers == S - 1);
  CHECK(mpi.active_workers() == ref.active_workers());
  CHECK(a.rounds[3].train_loss == b.rounds[3].train_loss);
  CHECK(a.final_eval.accuracy == b.final_eval.accuracy);
  if (world_rank() == 0)
    CHECK(std::memcmp(mpi.params().data(), ref.params().data(), ref.params().size_bytes()) == 0);
}

}  // namespace test_mpi_trainer
