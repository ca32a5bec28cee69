#pragma once
// IndependentSubnetTrainer<Model, Decomposer, Aggregator, Backend>: the round engine. It trains one global
// network with S workers, each round moving to each worker only the slices of its own sub-network, for
// every model family: ResNets (ResIST) and MLPs (IST) on image batches, GCNs (GIST) on a whole graph.
//
//   ist::IndependentSubnetTrainer<Net, ist::LayerwiseRandom> trainer(
//       ist::LayerwiseRandom{}, ist::HolderAverage{}, ist::CpuBackend<>(ist::InProcessComm(4)), config);
//   ist::FitResult r = trainer.fit(train_set, test_set);            // images
//   ist::FitResult g = gist.fit(cora);                               // a graph: train, val and test nodes
//
// One round (train_round), the same for every family:
//   1. plan     = decomposer.plan(info, {seed, round, S,        who trains what; a pure function of the
//                                         pace history})         context (capacity-aware policies read the
//                                                                workers' measured pace, see below)
//   2. validate_plan(plan, info, ctx, rules)                     a bad plan (or one labelled with another
//                                                                round) stops before any byte moves
//   3. coordinator -> worker w: the slices of its sub-network    (and, with OptimizerState::Carry, the same
//                                                                 slices of every optimizer state buffer)
//   4. every worker: L local steps on its compact sub-network, concurrently: the family's local work
//      (ModelTraits<Model>::Work: ImageBatches, GraphBatches) with the run's optimizer policy
//   5. worker w -> coordinator: its trained slices
//   6. aggregator.merge(global, ...)                             HolderAverage: mean over holders (the merge
//                                                                also gets each worker's sample count)
// The communicator's ledger counts every byte of steps 3 and 5; the round's RoundRecord holds them per worker.
// After step 4 each worker's pace (seconds per local step and per parameter of its sub-network; wall or CPU
// seconds, cfg.pace_clock) joins the pace history that the next rounds' contexts carry
// (RoundContext::pace_history: the last kPaceRounds rounds, shared by a sum over processes, kept in
// checkpoints); SpeedProportional sizes shares by it.
// cfg.throttle slows chosen workers down for experiments, and set_compute_timer() injects timings for tests.
// Steps 3 and 5 go through the transfer codec (cfg.codec, ist/codec/codec.hpp, docs/codecs.md): float32 moves
// the slices as floats (bit-exact); bf16/fp16 send 16-bit values down and 16-bit updates (trained minus
// received) back; topk:F sends int8 blocks down and the top F of each update back, keeping the rest in the
// worker's error-feedback residual (per global parameter index); with ":warmup" / ":flush" the run's first /
// last round sends every entry (codec::AnyCodec::for_round). The coordinator adds returned updates to its
// FP32 master copy of the slice, so the global model stays FP32. Codecs encode and decode on the host; a
// device backend's worker uploads what it decoded and downloads what it encodes (ComputePolicy's optional
// download).
//
// The policies are checked when the trainer type is instantiated: a decomposer, aggregator, backend or model
// family that misses a member (or declares one non-const that must be const) stops compilation there with one
// sentence naming it, whether or not fit() is ever called. What differs between families is only the
// local work and the evaluation (ist/train/local_work.hpp); what differs between optimizers is only the
// policy (ist/optim/optimizer.hpp): the engine slices, sends, merges and checkpoints the policy's named
// state buffers without knowing which optimizer it is.
//
// Compiled once, not per model: the trainer is detail::RoundEngine<D, A, B, Work>, all of the above, with
// the model's part behind five virtual members (its slices and compact layout, a network, the local steps and
// the evaluation), which detail::ModelEngine<Model, D, A, B> implements from ModelTraits<Model>. A program
// that trains many model types under the same policies (gist-gcn: one type per graph, depth and width)
// compiles the round once; each model adds only its own network and traits.
//
// Reliability: fit() writes round-atomic checkpoints (cfg.checkpoint_dir) and resumes from one bit for bit
// (fit(train, test, resume_from)); with cfg.on_worker_failure = DropForRound a worker that fails in its local
// steps is left out of that round's merge and, by cfg.after_failure, of the rounds after it.
//
// Under a communicator that spans processes (MpiComm: one worker per rank), every process runs the same
// loop: steps 1-2 everywhere (no index lists travel), step 3/5 move this process's worker's slices, step 6
// on the coordinator only. Optional communicator members (ist/comm/communicator.hpp) add a per-round
// consistency check, a broadcast when all workers hold the same sub-network, and a sum over processes of
// the per-worker statistics, so every process reports what the in-process run reports. The global model
// (params(), evaluate()) is current on the coordinator; fit() evaluates there and shares the result.
#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "ist/aggregate/aggregator.hpp"
#include "ist/aggregate/holder_average.hpp"
#include "ist/backend/backend.hpp"
#include "ist/backend/cpu_backend.hpp"
#include "ist/codec/codec.hpp"
#include "ist/comm/communicator.hpp"
#include "ist/core/cpu_time.hpp"
#include "ist/core/rng.hpp"
#include "ist/decompose/decomposer.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/decompose/tensor_segments.hpp"
#include "ist/optim/any_optimizer.hpp"
#include "ist/optim/sgd.hpp"
#include "ist/train/checkpoint_dir.hpp"
#include "ist/train/evaluate.hpp"
#include "ist/train/local_steps.hpp"
#include "ist/train/local_work.hpp"
#include "ist/train/metrics_log.hpp"
#include "ist/train/model_family.hpp"
#include "ist/train/model_traits.hpp"
#include "ist/train/round_record.hpp"
#include "ist/train/step_progress.hpp"
#include "ist/train/trainer_config.hpp"

namespace ist {

// One worker's local steps of one round, as IndependentSubnetTrainer::set_compute_timer sees them.
struct ComputeTiming {
  int worker = 0;
  std::uint64_t round = 0;           // 0-based
  int steps = 0;                     // local steps done
  std::size_t subnet_params = 0;     // parameters of the worker's sub-network
  double measured_seconds = 0;       // wall time of the steps (cfg.throttle included)
};

// What fit() did: every round's record, the final evaluation, and the totals.
struct FitResult {
  std::vector<RoundRecord> rounds;
  EvalResult final_eval;              // the test set (graphs: the test nodes)
  EvalResult final_val, final_train;  // graphs: the val and train nodes (samples == 0 where not measured)
  std::uint64_t total_bytes = 0, local_sgd_bytes = 0, ddp_bytes = 0;
  double wall_seconds = 0;
};

namespace detail {

// The round engine of IndependentSubnetTrainer (below): everything of a run that does not depend on the
// model's type (the round of train_round, fit, checkpoints, codecs, failures, figures), compiled once per
// decomposer, aggregator, backend and family's local work, whatever the number of models a program trains.
// What does depend on the model (its slices and compact layout, its network, its local steps and its
// evaluation) it asks through the virtual members under "The model's part", which ModelEngine implements.
template <class D, class A, class B, class Work>
class RoundEngine {
 public:
  using Data = typename Work::Data;
  using EvalData = typename Work::EvalData;
  using Compute = typename B::Compute;
  using Context = typename Compute::Context;
  using Comm = std::remove_cvref_t<decltype(std::declval<B&>().comm())>;
  using Optimizer = optim::AnyOptimizer<Context>;

  virtual ~RoundEngine() = default;
  // Movable (workers, their contexts and networks live on the heap and keep their addresses), not copyable.
  RoundEngine(RoundEngine&&) = default;
  RoundEngine& operator=(RoundEngine&&) = default;

  // Decomposer, aggregator, backend, config and optimizer as IndependentSubnetTrainer's constructor takes
  // them; `info` and `num_params` describe the model. The global parameters are zeros on the coordinator
  // (ModelEngine's constructor initializes them).
 protected:
  RoundEngine(D decomposer, A aggregator, B backend, TrainerConfig config, Optimizer optimizer, ModelInfo info,
              std::size_t num_params)
      : decomposer_(std::move(decomposer)),
        aggregator_(std::move(aggregator)),
        backend_(std::move(backend)),
        cfg_(std::move(config)),
        info_(std::move(info)),
        num_params_(num_params),
        optimizer_(std::move(optimizer)) {
    validate(cfg_);
    set_codec();
    IST_CHECK(backend_.comm().num_workers() >= 1, "ist::IndependentSubnetTrainer: expected S >= 1 workers, found ",
              backend_.comm().num_workers());
    for (const WorkerThrottle& t : cfg_.throttle)
      IST_CHECK(t.worker < backend_.comm().num_workers(), "ist::TrainerConfig: throttle names worker ", t.worker,
                " but the run has ", backend_.comm().num_workers(), " workers (ids 0 to ",
                backend_.comm().num_workers() - 1, ")");
    // The global model lives on the coordinator only: a worker process holds its sub-network, never the
    // whole model (what lets a model too wide for one worker's memory train; docs/training.md).
    if (backend_.comm().is_coordinator()) global_.assign(num_params_, 0.f);
    set_optimizer(optimizer_);
  }

 public:
  // Replaces the optimizer policy (before fit or at a round boundary); carried state starts from zero.
  void set_optimizer(Optimizer optimizer) {
    optimizer_ = std::move(optimizer);
    state_names_ = optimizer_.state_names();
    state_.clear();
    // As many buffers on every process (they travel in rounds), their values on the coordinator only.
    if (carry())
      state_.assign(state_names_.size(),
                    std::vector<float>(backend_.comm().is_coordinator() ? num_params_ : 0, 0.f));
  }

  int num_workers() { return backend_.comm().num_workers(); }
  const ModelInfo& info() const { return info_; }
  // The global model: on the coordinator (empty on the other processes of a communicator spanning several).
  std::span<float> params() { return global_; }
  std::span<const float> params() const { return global_; }
  const Optimizer& optimizer() const { return optimizer_; }
  // The global optimizer state buffers carried between rounds (OptimizerState::Carry), named by
  // optimizer().state_names(); none when state is reset every round.
  std::size_t num_state_buffers() const { return state_.size(); }
  std::span<float> state_buffer(std::size_t i) { return state_.at(i); }
  B& backend() { return backend_; }
  const TrainerConfig& config() const { return cfg_; }
  // The transfer codec (cfg.codec), and worker w's error-feedback residual, one value per global parameter
  // (empty where the codec keeps none, before w's first round, or where w runs in another process).
  const codec::AnyCodec& transfer_codec() const { return codec_; }
  std::span<const float> codec_residual(int w) const {
    return w >= 0 && std::size_t(w) < residuals_.size() ? std::span<const float>(residuals_[std::size_t(w)])
                                                         : std::span<const float>();
  }

  // Trains for cfg.epochs (or cfg.max_rounds) rounds and evaluates the final model on `test`.
  // resume_from: a checkpoint file, or a checkpoint directory (its newest checkpoint): training continues
  // after the saved round, and ends with the weights an uninterrupted run would have, bit for bit (same
  // seed, L, batch, data split and optimizer-state policy; see check_resumable). The metrics file keeps the
  // rows of the rounds before the checkpoint. With cfg.checkpoint_dir set, a checkpoint is written after
  // every cfg.checkpoint_every rounds and after the last.
  FitResult fit(const Data& train, const EvalData& test, const std::string& resume_from = {}) {
    FitResult result;
    prepare(train);
    const std::uint64_t first = resume_from.empty() ? 0 : resume(resume_from);
    const bool coordinator = backend_.comm().is_coordinator();
    MetricsLog log(coordinator ? cfg_.metrics_path : std::string(), first);
    const int rounds = planned_rounds();
    const auto start = Clock::now();
    run_ = RunClock{start, rounds, first};
    struct EndRun {  // train_round() driven by hand after fit() reports no run
      std::optional<RunClock>& run;
      ~EndRun() { run.reset(); }
    } end_run{run_};
    for (int r = int(first); r < rounds; ++r) {
      RoundRecord rec = train_round(std::uint64_t(r));
      const bool last = r + 1 == rounds;
      if (last || (cfg_.eval_every > 0 && (r + 1) % cfg_.eval_every == 0)) {
        const Evaluation e = evaluate_on_coordinator(test);
        rec.test_loss = e.test.loss;
        rec.test_accuracy = e.test.accuracy;
        if (e.val.samples > 0) {
          rec.val_loss = e.val.loss;
          rec.val_accuracy = e.val.accuracy;
        }
        if (last) keep_final(result, e);
      }
      const bool checkpoint = !cfg_.checkpoint_dir.empty() && (last || (r + 1) % cfg_.checkpoint_every == 0);
      if (checkpoint) share_residuals();  // every process takes part (residuals live where workers run)
      if (checkpoint && coordinator)
        save_round_checkpoint(cfg_.checkpoint_dir, info_, training_state(std::uint64_t(r + 1)),
                              cfg_.keep_checkpoints);
      rec.wall_seconds = seconds(start);
      result.total_bytes += rec.bytes();
      result.local_sgd_bytes += rec.local_sgd_bytes;
      result.ddp_bytes += rec.ddp_bytes;
      report(rec, rounds, log);
      result.rounds.push_back(rec);
    }
    if (result.rounds.empty()) keep_final(result, evaluate_on_coordinator(test));  // resumed a finished run
    result.wall_seconds = seconds(start);
    return result;
  }

  // Families whose evaluation data is the training data (a graph's val and test nodes): fit(graph).
  FitResult fit(const Data& data, const std::string& resume_from = {})
    requires(Work::evaluates_on_training_data && std::is_same_v<Data, EvalData>)
  {
    return fit(data, data, resume_from);
  }

  // The run's state after `rounds_done` rounds, as a checkpoint holds it (current on the coordinator).
  TrainingState training_state(std::uint64_t rounds_done) const {
    TrainingState s;
    s.rounds_done = rounds_done;
    s.seed = cfg_.seed;
    s.model = info_.name;
    s.config = run_config();
    s.params = global_;
    s.pace = pace_;
    for (std::size_t b = 0; b < state_.size(); ++b) s.optimizer_state.push_back({state_names_[b], state_[b]});
    if (codec_.keeps_residual())  // after the optimizer's buffers, one per worker (zeros before its first round)
      for (int w = 0; w < int(residuals_.size()); ++w)
        s.optimizer_state.push_back({residual_name(w), residuals_[std::size_t(w)].empty()
                                                           ? std::vector<float>(num_params_, 0.f)
                                                           : residuals_[std::size_t(w)]});
    return s;
  }

  // Loads a checkpoint (file or directory) into this trainer and positions every worker's data stream after
  // its last round; returns the number of rounds it holds. prepare() must have run; fit() calls both.
  std::uint64_t resume(const std::string& from) {
    // Across processes: wait until every process is here, so a checkpoint the coordinator has just written
    // (a run stopped and resumed in one program) is complete before anyone reads it.
    if constexpr (SumsOverProcesses<Comm>) {
      double barrier = 0;
      backend_.comm().all_sum(std::span<double>(&barrier, 1));
    }
    const std::string path = resolve_checkpoint(from);
    TrainingState s = load_checkpoint(path, info_);
    if constexpr (SumsOverProcesses<Comm>) {
      double rounds = backend_.comm().is_coordinator() ? double(s.rounds_done) : 0.0;
      backend_.comm().all_sum(std::span<double>(&rounds, 1));
      IST_CHECK(std::uint64_t(rounds) == s.rounds_done, "ist: resume from ", path, ": this process read round ",
                s.rounds_done, " but the coordinator read round ", std::uint64_t(rounds),
                " (do all processes see the same checkpoint directory?)");
    }
    IST_CHECK(s.seed == cfg_.seed, "ist: resume from ", path, ": seed must match the checkpoint's (", s.seed,
              "), found ", cfg_.seed, ": pass the same seed to continue this run");
    check_resumable(s.config, run_config(), cfg_, path);
    const bool coordinator = backend_.comm().is_coordinator();  // the only process holding the global model
    if (coordinator) global_ = std::move(s.params);
    // The pace history, where it was measured on as many workers as this run has (S may change at a round
    // boundary; the history of other workers is then dropped).
    pace_.clear();
    for (auto& row : s.pace)
      if (row.size() == std::size_t(num_workers())) pace_.push_back(std::move(row));
    take_residuals(s.optimizer_state, path);
    if (carry()) {
      IST_CHECK(s.optimizer_state.size() == state_.size(), "ist: resume from ", path, ": expected ", state_.size(),
                " optimizer state buffers for ", optimizer_.name(), " (optimizer_state carry), found ",
                s.optimizer_state.size());
      for (std::size_t b = 0; b < state_.size(); ++b) {
        IST_CHECK(s.optimizer_state[b].name == state_names_[b], "ist: resume from ", path,
                  ": expected optimizer state buffer ", b, " to be ", state_names_[b], ", found ",
                  s.optimizer_state[b].name);
        if (coordinator) state_[b] = std::move(s.optimizer_state[b].values);
      }
    }
    for (auto& wk : workers_)
      if (wk) Work::seek(wk->data, s.rounds_done * std::uint64_t(cfg_.local_steps));
    return s.rounds_done;
  }

  // Called by each worker before its local steps of a round, on the worker's thread: throw from it to
  // inject a failure (tests, --inject-failure). Empty by default.
  void set_fault_injector(std::function<void(int worker, std::uint64_t round)> f) { fault_injector_ = std::move(f); }

  // Replaces the time of each worker's local steps that the pace history records (cfg.pace_clock's seconds,
  // cfg.throttle included) by f(timing), on the worker's thread: tests inject timings so that a
  // capacity-aware plan is deterministic. Empty by default.
  void set_compute_timer(std::function<double(const ComputeTiming&)> f) { compute_timer_ = std::move(f); }

  // The pace history the next round's plan sees: per recorded round (oldest first, at most kPaceRounds), per
  // worker id, seconds per local step and per parameter of its sub-network (0: not measured).
  const std::vector<std::vector<float>>& pace_history() const { return pace_; }

  // Called after every local step of every worker of this process, and once more when a round's local
  // steps, returns and merge are done (StepProgress::round_finished), for a live progress display (step
  // counter, steps/s, time left for the round and the run). Calls are serialized (one at a time, under a
  // lock) but come from the workers' threads; keep the callback short. It sees a copy of the figures and
  // cannot change training: the weights are bit for bit those of a run without it. An exception thrown by
  // it ends the round with that exception once the workers' steps are done. Empty (the default): no calls
  // and no cost.
  void set_step_progress(std::function<void(const StepProgress&)> f) { step_progress_ = std::move(f); }

  // The workers the next round is partitioned over (all of them unless failures removed some).
  const std::vector<int>& active_workers() const { return active_; }

  // Checks `train` against the model and sets up the workers' data; fit() calls it. Call it yourself
  // before driving train_round() by hand. `train` must outlive the trainer's use of it.
  void prepare(const Data& train) {
    const int S = num_workers();
    Work::check(info_, train);
    workers_.clear();
    active_.resize(std::size_t(S));
    for (int w = 0; w < S; ++w) active_[std::size_t(w)] = w;
    for (int w = 0; w < S; ++w) {
      if (!backend_.comm().is_local(w)) {
        workers_.push_back(nullptr);
        continue;
      }
      auto wk = std::make_unique<Worker>([this] { return backend_.make_context(); });
      wk->net = make_network(wk->ctx);
      Work::prepare(wk->data, train, cfg_, w, S);
      workers_.push_back(std::move(wk));
    }
    steps_per_epoch_ = Work::steps_per_epoch(train, cfg_, S);
    schedule_ = optim::parse_schedule(cfg_.schedule, optimizer_.lr(), cfg_.epochs > 0 ? cfg_.epochs : 1.0);
  }

  int planned_rounds() const {
    if (cfg_.max_rounds > 0) return cfg_.max_rounds;
    return std::max(1, int(std::ceil(cfg_.epochs * steps_per_epoch_ / cfg_.local_steps - 1e-9)));
  }

  // One round, steps 1-6 above. prepare() must have run.
  //
  // The round is partitioned over active_workers() (every worker, unless a failure removed some): plan slot i
  // goes to worker active_[i]. With cfg.on_worker_failure = DropForRound, a worker whose local steps throw
  // sends nothing back; the merge averages over the others, so what only it held keeps its previous value.
  RoundRecord train_round(std::uint64_t round) {
    RoundRecord rec;
    IST_CHECK(steps_per_epoch_ > 0, "ist::IndependentSubnetTrainer::train_round: call prepare() (or fit()) first");
    const auto round_start = Clock::now();
    auto& comm = backend_.comm();
    const int S = int(active_.size());  // workers in this round's plan
    const std::size_t buffers = state_.size();  // optimizer state buffers that travel (0 unless carried)

    // 1-2. Plan, checked before any byte moves.
    pace_slots_.assign(pace_.size(), std::vector<float>(std::size_t(S), 0.f));
    for (std::size_t k = 0; k < pace_.size(); ++k)
      for (int i = 0; i < S; ++i) pace_slots_[k][std::size_t(i)] = pace_[k][std::size_t(active_[std::size_t(i)])];
    const RoundContext ctx{cfg_.seed, round, S, pace_slots_, cfg_.local_steps};
    const Plan plan = decomposer_.plan(info_, ctx);
    validate_plan(plan, info_, ctx, decomposer_.rules());
    slices_.resize(std::size_t(S));
    for (int i = 0; i < S; ++i) slices_[std::size_t(i)] = slices_of(plan.workers[std::size_t(i)]);
    // Processes that disagree on the round would wait on each other's messages forever: compare a hash.
    if constexpr (ChecksRounds<Comm>) comm.check_round(round, round_fingerprint(plan));

    // 3. Coordinator -> workers (one broadcast where the communicator has one and all sub-networks agree).
    comm.ledger().begin_round(round, num_workers());
    bool broadcast = false;
    const bool encoded = !codec_.is_float32();  // slices travel through the codec as bytes
    // The run's first and last rounds may travel differently (topk:F:warmup, :flush send every entry).
    const codec::AnyCodec codec = codec_.for_round(round, std::uint64_t(planned_rounds()));
    if constexpr (BroadcastsToWorkers<Comm>)
      broadcast = !encoded && S > 1 && S == num_workers() && offers_broadcast(comm) && same_subnet_everywhere(plan);
    for (auto& wk : workers_)
      if (wk) wk->slot = -1;
    Worker* local = nullptr;
    for (int i = 0; i < S; ++i) {
      const int w = active_[std::size_t(i)];
      Worker* wk = workers_[std::size_t(w)].get();
      if (wk)
        wk->receive_spec(i, plan.workers[std::size_t(i)], layout_of(plan.workers[std::size_t(i)]),
                         slices_[std::size_t(i)], info_, buffers);
      if (wk && !local) local = wk;
      if (broadcast) continue;
      if (encoded)
        send_encoded(codec, i, wk);
      else
        send_slices(i, std::span<const float>(global_), wk ? view(wk->params) : std::span<float>());
      for (std::size_t b = 0; b < buffers; ++b)
        send_slices(i, std::span<const float>(state_[b]), wk ? view(wk->state[b]) : std::span<float>());
    }
    if constexpr (BroadcastsToWorkers<Comm>) {
      if (broadcast) {
        broadcast_slices(std::span<const float>(global_), local ? view(local->params) : std::span<float>());
        for (std::size_t b = 0; b < buffers; ++b)
          broadcast_slices(std::span<const float>(state_[b]), local ? view(local->state[b]) : std::span<float>());
      }
    }

    // 4. Local work, all workers at once.
    const std::uint64_t first_step = round * std::uint64_t(cfg_.local_steps);
    const bool own_decay = Work::applies_weight_decay(cfg_);
    const Optimizer worker_optimizer = own_decay ? optimizer_.with_weight_decay(0.0) : optimizer_;
    // Progress: every local step of this process's workers is counted (through lr_of, which each step
    // calls once) and reported to the callback, under a lock. Nothing of it reaches the training.
    StepCounter counter;
    if (step_progress_) {
      counter.base = progress_base(round);
      for (const auto& wk : workers_)
        if (wk && wk->slot >= 0) counter.base.steps_total += steps_of(wk->spec);
    }
    const auto note_step = [&](int w, int steps) {
      std::lock_guard<std::mutex> lock(counter.mutex);
      ++counter.base.steps_done;
      if (counter.error) return;
      StepProgress p = counter.base;
      p.worker = w;
      p.worker_steps = steps;
      p.round_seconds = seconds(round_start);
      p.run_seconds = run_ ? seconds(run_->start) : p.round_seconds;
      try {
        step_progress_(p);
      } catch (...) {
        counter.error = std::current_exception();
      }
    };
    // Every worker's data stream ends the round where L local steps leave it: one outside the plan, one that
    // failed (where it stands is arbitrary) and one that trained fewer steps are moved there, so that the
    // batches of later rounds, and of a resumed run, do not depend on them.
    const std::uint64_t round_end = first_step + std::uint64_t(cfg_.local_steps);
    comm.run_workers([&](int w) {
      Worker& wk = *workers_[std::size_t(w)];
      wk.stats = {};
      wk.compute_seconds = wk.compute_cpu_seconds = wk.pace_seconds = 0;
      wk.failure.clear();
      if (wk.slot < 0) {
        Work::seek(wk.data, round_end);
        return;
      }
      bool full_round = false;
      try {
        if (fault_injector_) fault_injector_(w, round);
        auto opt = worker_optimizer.make(wk.ctx, wk.tensors);
        if (buffers > 0) {
          std::vector<std::span<const float>> carried;
          for (auto& b : wk.state) carried.emplace_back(b.data(), b.size());
          opt->load_state(carried, std::int64_t(first_step));
        }
        LocalRun run;
        run.config = &cfg_;
        run.round = round;
        run.worker = w;
        run.steps = steps_of(wk.spec);
        run.weight_decay = own_decay ? optimizer_.weight_decay() : 0.0;
        const auto t0 = Clock::now();
        const double cpu0 = thread_cpu_seconds();
        const bool counting = bool(step_progress_);
        wk.stats = train_steps(wk, *opt, run, [&](int i) {
          if (counting) note_step(w, i + 1);
          return lr_at_step(first_step + std::uint64_t(i));
        });
        wk.compute_cpu_seconds = thread_cpu_seconds() - cpu0;
        const double factor = throttle_factor(w);
        if (factor > 1.0)  // an experiment's slow worker: its steps take `factor` times as long
          std::this_thread::sleep_for(std::chrono::duration<double>((factor - 1.0) * seconds(t0)));
        wk.compute_seconds = seconds(t0);
        wk.pace_seconds = cfg_.pace_clock == PaceClock::Cpu ? wk.compute_cpu_seconds * factor : wk.compute_seconds;
        if (compute_timer_)
          wk.pace_seconds = compute_timer_(ComputeTiming{w, round, wk.stats.steps, wk.params.size(), wk.pace_seconds});
        for (std::size_t b = 0; b < buffers; ++b)
          Compute::copy(wk.ctx, std::span<const float>(opt->state_buffer(b)), view(wk.state[b]));
        full_round = run.steps == cfg_.local_steps;
      } catch (const std::exception& e) {
        if (cfg_.on_worker_failure == WorkerFailure::Abort) throw;
        wk.failure = e.what();
        wk.stats = {};
      }
      if (!full_round) Work::seek(wk.data, round_end);
    });
    if (counter.error) std::rethrow_exception(counter.error);
    const std::vector<int> failed = failed_slots(round);

    // 5. Workers -> coordinator (a failed worker sends nothing).
    results_.resize(std::size_t(S));
    state_results_.resize(buffers);
    for (auto& r : state_results_) r.resize(std::size_t(S));
    for (int i = 0; i < S; ++i) {
      results_[std::size_t(i)].clear();
      for (auto& r : state_results_) r[std::size_t(i)].clear();
      if (failed[std::size_t(i)]) continue;
      const int w = active_[std::size_t(i)];
      Worker* wk = workers_[std::size_t(w)].get();
      if (encoded)
        receive_encoded(codec, i, wk, results_[std::size_t(i)]);
      else
        receive(i, wk ? std::span<const float>(view(wk->params)) : std::span<const float>(), results_[std::size_t(i)]);
      for (std::size_t b = 0; b < buffers; ++b)
        receive(i, wk ? std::span<const float>(view(wk->state[b])) : std::span<const float>(),
                state_results_[b][std::size_t(i)]);
    }

    // Every worker's figures (statistics, traffic) where the round's record and the merge need them.
    collect_figures();
    record_pace(failed);

    // 6. Merge what came back, each worker weighted by its samples where the aggregator asks.
    if (comm.is_coordinator()) {
      samples_.assign(std::size_t(S), 0.0);
      for (int i = 0; i < S; ++i)
        samples_[std::size_t(i)] = double(figures_[std::size_t(active_[std::size_t(i)])].stats.samples);
      merge_into(std::span<float>(global_), plan, results_, failed);
      for (std::size_t b = 0; b < buffers; ++b) merge_into(std::span<float>(state_[b]), plan, state_results_[b], failed);
    }

    fill_record(rec, plan, round, round_start, failed);
    plan_workers_ = S;
    update_active_workers(failed, round);
    if (step_progress_) {
      StepProgress p = counter.base;
      p.round_finished = true;
      p.round_seconds = seconds(round_start);
      p.run_seconds = run_ ? seconds(run_->start) : p.round_seconds;
      step_progress_(p);
    }
    return rec;
  }

  // The global model at full width, with the decomposer's evaluation scaling (ResIST: residual branches of
  // partitioned blocks times 1/S; IST/GIST: 1/S behind split units), scored by the family's local work:
  // a test set (images), or the train, val and test nodes (graphs). It runs on the backend that trains (the
  // GPU for CudaBackend; on the Eigen backend with the threads of all of this process's workers, or
  // cfg.eval_threads). Current on the coordinator.
  Evaluation evaluate(const EvalData& data) {
    if (!eval_) {
      int local_workers = 0;
      for (int w = 0; w < num_workers(); ++w) local_workers += backend_.comm().is_local(w) ? 1 : 0;
      const int threads = cfg_.eval_threads > 0 ? cfg_.eval_threads
                                                : std::max(1, local_workers) * backend_.threads_per_worker();
      eval_ = std::make_unique<EvalModel>([&] {
        if constexpr (requires(const B& b) { b.make_context(threads); }) return backend_.make_context(threads);
        else return backend_.make_context();
      });
      eval_->net = make_network(eval_->ctx);
    }
    eval_->params.resize(global_.size());
    Compute::upload(eval_->ctx, std::span<const float>(global_), view(eval_->params));
    std::vector<double> scale(info_.blocks.size(), 1.0);
    if constexpr (HasEvaluationScale<D>) {
      const int S = plan_workers_ > 0 ? plan_workers_ : num_workers();
      const std::vector<double> s = decomposer_.evaluation_scale(info_, S);
      IST_CHECK(s.size() == info_.blocks.size(), "ist::IndependentSubnetTrainer::evaluate: decomposer ",
                decomposer_.name(), ": evaluation_scale(info, ", S, ") must return one value per block (",
                info_.blocks.size(), "), found ", s.size(), " values");
      scale = s;
    }
    const SubnetSpec all = full_spec(info_);
    return score(eval_->ctx, *eval_->net, std::span<const float>(view(eval_->params)), all, layout_of(all), data,
                 scale);
  }

  // The seed of worker w's data order (image families): epoch e of worker w is a function of (seed, w, e).
  static std::uint64_t worker_data_seed(std::uint64_t seed, int w) { return ImageBatches::worker_data_seed(seed, w); }

  // The learning rate at global local-step index `step` (steps count per worker).
  double lr_at_step(std::uint64_t step) const {
    return optim::lr_at(schedule_, double(step) / double(steps_per_epoch_));
  }
  // Local steps in one epoch of a worker, the same on every process (prepare() sets it).
  int steps_per_epoch() const { return steps_per_epoch_; }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

  // The fit() in progress, for StepProgress: when it began, its last round, the rounds done before it.
  struct RunClock {
    Clock::time_point start;
    int rounds = 0;
    std::uint64_t first_round = 0;
  };
  // One round's step count for the progress callback, shared by the workers' threads.
  struct StepCounter {
    std::mutex mutex;
    StepProgress base;
    std::exception_ptr error;  // the callback's first exception
  };
  StepProgress progress_base(std::uint64_t round) const {
    StepProgress p;
    p.round = round + 1;
    p.rounds = run_ ? run_->rounds : 0;
    p.first_round = run_ ? run_->first_round : 0;
    p.local_steps = cfg_.local_steps;
    return p;
  }

  // One worker's figures of the round, the same on every process (collect_figures).
  struct WorkerFigures {
    StepStats stats;
    double compute_seconds = 0, compute_cpu_seconds = 0;
    double pace_seconds = 0;  // what the pace history records (cfg.pace_clock)
    WorkerTraffic traffic;  // as the coordinator's ledger counts it
  };

  bool carry() const { return cfg_.optimizer_state == OptimizerState::Carry && !state_names_.empty(); }

  // This run's configuration as checkpoints record it: the config and the optimizer policy.
  nlohmann::ordered_json run_config() const { return run_config_json(cfg_, optimizer_.config_json()); }

 protected:
  // A buffer of the compute policy (host vector, device array) as a span of its memory.
  template <class Buf>
  static std::span<float> view(Buf& b) {
    return {b.data(), b.size()};
  }

  // A network of the model's type (ModelTraits::Network on the backend's compute policy), built on one context.
  struct AnyNetwork {
    virtual ~AnyNetwork() = default;
  };

  // One worker's state where it runs: context, network, its data (the family's local work), and its
  // sub-network's parameters, gradients and carried optimizer state in the compute policy's memory (host
  // for Eigen, the GPU for CUDA).
  struct Worker {
    // make_context() is called in place: a context (device handles, caches) need not be movable.
    template <class MakeContext>
    explicit Worker(MakeContext&& make_context) : ctx(make_context()) {}
    Context ctx;
    std::unique_ptr<AnyNetwork> net;  // make_network(ctx); destroyed before ctx
    SubnetSpec spec;
    ParamLayout layout;
    optim::TensorSegments tensors;  // the model's tensors in the compact buffer
    typename Compute::template Buffer<float> params, grads;
    std::vector<typename Compute::template Buffer<float>> state;  // carried optimizer state buffers
    typename Work::Worker data;
    StepStats stats;
    double compute_seconds = 0, compute_cpu_seconds = 0;
    double pace_seconds = 0;  // the time the pace history records (cfg.pace_clock, throttle, compute timer)
    int slot = -1;        // this round's plan slot; -1: not in this round
    std::string failure;  // why this round's local steps failed ("" = they did not)

    void receive_spec(int plan_slot, const SubnetSpec& s, ParamLayout compact, const SliceSet& slices,
                      const ModelInfo& info, std::size_t buffers) {
      slot = plan_slot;
      spec = s;
      layout = std::move(compact);
      const std::size_t n = slices.size();
      IST_CHECK(layout.size() == n, "ist::IndependentSubnetTrainer: the compact layout holds ", layout.size(),
                " values but the slices hold ", n, " (ModelTraits::layout and ::slices disagree)");
      tensors = tensor_segments(info, slices);
      params.resize(n);
      grads.resize(n);
      state.resize(buffers);
      for (auto& b : state) b.resize(n);
    }
  };

  // The network that evaluates the global model, on the backend's compute policy, with its own copy of the
  // parameters in the policy's memory.
  struct EvalModel {
    template <class MakeContext>
    explicit EvalModel(MakeContext&& make_context) : ctx(make_context()) {}
    Context ctx;
    std::unique_ptr<AnyNetwork> net;
    typename Compute::template Buffer<float> params;
  };

  // ---- The model's part (ModelEngine, for ModelTraits<Model>) --------------------------------------------
  // ModelTraits::slices and ::layout: a sub-network's global indices, and its compact buffer's layout.
  virtual SliceSet slices_of(const SubnetSpec& spec) const = 0;
  virtual ParamLayout layout_of(const SubnetSpec& spec) const = 0;
  virtual std::unique_ptr<AnyNetwork> make_network(Context& ctx) const = 0;
  // Work::run for the model: worker wk's local steps of this round on its network.
  virtual StepStats train_steps(Worker& wk, optim::WorkerOptimizer<Context>& opt, const LocalRun& run,
                                const std::function<double(int)>& lr_of) = 0;
  // Work::evaluate for the model: the global model (`params`, at full width `all`) on `net`.
  virtual Evaluation score(Context& ctx, AnyNetwork& net, std::span<const float> params, const SubnetSpec& all,
                           const ParamLayout& layout, const EvalData& data, std::span<const double> scale) = 0;

 private:
  void keep_final(FitResult& result, const Evaluation& e) const {
    result.final_eval = e.test;
    result.final_val = e.val;
    result.final_train = e.train;
  }

  // evaluate() where the global model is current. Across processes the coordinator evaluates and shares the
  // figures through all_sum (the other processes add zeros), so every process returns the same.
  Evaluation evaluate_on_coordinator(const EvalData& data) {
    if constexpr (SumsOverProcesses<Comm>) {
      auto& comm = backend_.comm();
      Evaluation e;
      if (comm.is_coordinator()) e = evaluate(data);
      EvalResult* parts[3] = {&e.test, &e.val, &e.train};
      double v[9];
      for (int k = 0; k < 3; ++k) {
        v[3 * k] = parts[k]->loss;
        v[3 * k + 1] = parts[k]->accuracy;
        v[3 * k + 2] = double(parts[k]->samples);
      }
      comm.all_sum(std::span<double>(v));
      for (int k = 0; k < 3; ++k) *parts[k] = EvalResult{v[3 * k], v[3 * k + 1], int(v[3 * k + 2])};
      return e;
    } else {
      return evaluate(data);
    }
  }

  // Everything that decides the messages and the arithmetic of a round, hashed: S, L, |theta|, the state
  // buffers carried, the steps per epoch (schedules), the transfer codec, each worker's spec and slice count.
  std::uint64_t round_fingerprint(const Plan& plan) const {
    std::uint64_t h = mix64(std::uint64_t(plan.num_workers()));
    auto add = [&h](std::uint64_t v) { h = mix64(h ^ v); };
    add(std::uint64_t(cfg_.local_steps));
    add(std::uint64_t(num_params_));
    add(state_.size());
    add(std::uint64_t(steps_per_epoch_));
    for (char ch : codec_.name()) add(std::uint64_t(std::uint8_t(ch)));  // ranks must agree on the payloads
    for (int w : active_) add(std::uint64_t(w));
    for (std::size_t w = 0; w < plan.workers.size(); ++w) {
      const SubnetSpec& s = plan.workers[w];
      add(s.active_blocks.size());
      for (auto b : s.active_blocks) add(b);
      add(s.kept_units.size());
      for (const auto& units : s.kept_units) {
        add(units.size());
        for (int u : units) add(std::uint64_t(std::uint32_t(u)));
      }
      add(slices_[w].size());
    }
    return h;
  }

  static bool same_subnet_everywhere(const Plan& plan) {
    for (const auto& s : plan.workers)
      if (s.active_blocks != plan.workers[0].active_blocks || s.kept_units != plan.workers[0].kept_units) return false;
    return true;
  }

  // The coordinator gathers the (common) slices of `global` once, straight into its own worker's buffer
  // where it runs one (so nothing more is copied there); the communicator sends them to all.
  void broadcast_slices(std::span<const float> global, std::span<float> dst) {
    auto& comm = backend_.comm();
    std::span<const float> src;
    if (comm.is_coordinator()) {
      std::span<float> into = dst;
      if (into.size() != slices_[0].size() || into.empty()) {
        send_buffer_.resize(slices_[0].size());
        into = send_buffer_;
      }
      gather(global, slices_[0], into);
      src = into;
    }
    comm.to_all_workers(src, dst);
  }

  // Coordinator gathers the slices of plan slot i from `global`; the communicator moves them into `dst`, the
  // buffer of worker active_[i].
  void send_slices(int i, std::span<const float> global, std::span<float> dst) {
    auto& comm = backend_.comm();
    std::span<const float> src;
    if (comm.is_coordinator()) {
      send_buffer_.resize(slices_[std::size_t(i)].size());
      gather(global, slices_[std::size_t(i)], std::span<float>(send_buffer_));
      src = send_buffer_;
    }
    comm.to_worker(active_[std::size_t(i)], src, dst);
  }

  // The codec from cfg.codec. Codecs other than float32 need a communicator that moves bytes (MovesBytes) and
  // workers whose buffers are host memory (the Eigen backend). A backend without either (CudaBackend's device
  // buffers) is refused here with a message, before any round: it moves float32 slices only.
  void set_codec() {
    codec_ = codec::parse_codec(cfg_.codec, "ist::TrainerConfig: codec");
    if (codec_.is_float32()) return;
    IST_CHECK(MovesBytes<Comm>, "ist::IndependentSubnetTrainer: codec ", codec_.name(),
              " needs a communicator that moves byte payloads (to_worker_bytes, to_coordinator_bytes: InProcessComm, "
              "MpiComm, cuda::StreamComm, cuda::NcclComm); this backend's communicator has none: use --codec float32");
    IST_CHECK(codec_buffers, "ist::IndependentSubnetTrainer: codec ", codec_.name(),
              " encodes on the host: this backend's compute policy keeps parameters off the host and has no "
              "download (ComputePolicy's optional member): use --codec float32");
    lanes_.clear();
    lanes_.resize(std::size_t(num_workers()));
    residuals_.assign(codec_.keeps_residual() ? std::size_t(num_workers()) : 0, std::vector<float>());
  }
  static constexpr bool host_buffers = std::is_same_v<typename Compute::template Buffer<float>, std::vector<float>>;
  // Codecs encode and decode on the host: a worker's parameters are there, or its policy downloads them.
  static constexpr bool codec_buffers = host_buffers || DownloadsToHost<Compute>;

  // Coordinator -> worker active_[i] through the codec: the coordinator encodes the slices of `global_`, the
  // worker decodes them into its parameters and keeps what it received (for its update).
  void send_encoded(const codec::AnyCodec& codec, int i, Worker* wk) {
    if constexpr (MovesBytes<Comm> && codec_buffers) {
      auto& comm = backend_.comm();
      const int w = active_[std::size_t(i)];
      CodecLane& lane = lanes_[std::size_t(w)];
      const SliceSet& set = slices_[std::size_t(i)];
      if (comm.is_coordinator()) {
        send_buffer_.resize(set.size());
        gather(std::span<const float>(global_), set, std::span<float>(send_buffer_));
        codec.encode_values(send_buffer_, send_bytes_);
      } else {
        send_bytes_.clear();
      }
      comm.to_worker_bytes(w, std::span<const std::byte>(send_bytes_), lane.payload);
      if (wk) {
        lane.received.resize(set.size());
        codec.decode_values(std::span<const std::byte>(lane.payload), std::span<float>(lane.received));
        Compute::upload(wk->ctx, std::span<const float>(lane.received), view(wk->params));
      }
    } else {
      (void)codec;
      (void)i;
      (void)wk;
      fail("ist::IndependentSubnetTrainer: codec ", codec_.name(), " needs a byte-moving communicator on host buffers");
    }
  }

  // Worker active_[i] -> coordinator through the codec, into `dst` on the coordinator: the trained values
  // (Float32) or the master copy of the slice plus the decoded update. With error feedback the worker's
  // residual for this slice is added to its update and keeps what was not sent.
  void receive_encoded(const codec::AnyCodec& codec, int i, Worker* wk, std::vector<float>& dst) {
    if constexpr (MovesBytes<Comm> && codec_buffers) {
      auto& comm = backend_.comm();
      const int w = active_[std::size_t(i)];
      CodecLane& lane = lanes_[std::size_t(w)];
      const SliceSet& set = slices_[std::size_t(i)];
      const std::size_t n = set.size();
      if (wk) {
        std::span<const float> trained = view(wk->params);
        if constexpr (!host_buffers) {  // device parameters (CUDA): encoded on the host
          lane.trained.resize(n);
          Compute::download(wk->ctx, trained, std::span<float>(lane.trained));
          trained = lane.trained;
        }
        if (!codec.returns_update()) {
          codec.encode_values(trained, lane.payload);
        } else {
          lane.update.resize(n);
          for (std::size_t j = 0; j < n; ++j) lane.update[j] = trained[j] - lane.received[j];
          if (codec.keeps_residual()) {
            std::vector<float>& residual = residuals_[std::size_t(w)];
            if (residual.empty()) residual.assign(num_params_, 0.f);
            lane.residual.resize(n);
            gather(std::span<const float>(residual), set, std::span<float>(lane.residual));
            codec.encode_update(lane.update, lane.residual, lane.payload);
            scatter(std::span<const float>(lane.residual), set, std::span<float>(residual));
          } else {
            codec.encode_update(lane.update, std::span<float>(), lane.payload);
          }
        }
      } else {
        lane.payload.clear();
      }
      comm.to_coordinator_bytes(w, std::span<const std::byte>(lane.payload), receive_bytes_);
      if (!comm.is_coordinator()) {
        dst.clear();
        return;
      }
      dst.resize(n);
      if (!codec.returns_update()) {
        codec.decode_values(std::span<const std::byte>(receive_bytes_), std::span<float>(dst));
        return;
      }
      update_buffer_.resize(n);
      codec.decode_update(std::span<const std::byte>(receive_bytes_), std::span<float>(update_buffer_));
      gather(std::span<const float>(global_), set, std::span<float>(dst));
      for (std::size_t j = 0; j < n; ++j) dst[j] += update_buffer_[j];
    } else {
      (void)codec;
      (void)i;
      (void)wk;
      (void)dst;
      fail("ist::IndependentSubnetTrainer: codec ", codec_.name(), " needs a byte-moving communicator on host buffers");
    }
  }

  // The checkpoint's name of worker w's error-feedback residual (kept among the state buffers).
  static std::string residual_name(int w) { return "codec.residual.worker" + std::to_string(w); }

  // Before a checkpoint: every worker's residual on the coordinator. Across processes each residual lives
  // where its worker runs: one sum over processes of their float bit patterns (as doubles, exact: every
  // other process adds zero) gives every process every residual, bit for bit.
  void share_residuals() {
    if (!codec_.keeps_residual()) return;
    if constexpr (SumsOverProcesses<Comm>) {
      auto& comm = backend_.comm();
      std::vector<double> bits(num_params_);
      for (int w = 0; w < int(residuals_.size()); ++w) {
        std::vector<float>& r = residuals_[std::size_t(w)];
        const bool mine = comm.is_local(w) && !r.empty();
        double present = mine ? 1.0 : 0.0;
        comm.all_sum(std::span<double>(&present, 1));
        if (present == 0.0) continue;  // w has not trained yet: zeros
        for (std::size_t j = 0; j < bits.size(); ++j)
          bits[j] = mine ? double(std::bit_cast<std::uint32_t>(r[j])) : 0.0;
        comm.all_sum(std::span<double>(bits));
        r.resize(num_params_);
        for (std::size_t j = 0; j < bits.size(); ++j) r[j] = std::bit_cast<float>(std::uint32_t(bits[j]));
      }
    }
  }

  // On resume: the residual buffers of the checkpoint (removed from `buffers`) back to the workers.
  void take_residuals(std::vector<StateBuffer>& buffers, const std::string& path) {
    std::vector<StateBuffer> rest;
    int found = 0;
    for (auto& b : buffers) {
      if (!b.name.starts_with("codec.residual.worker")) {
        rest.push_back(std::move(b));
        continue;
      }
      const std::string id = b.name.substr(std::string("codec.residual.worker").size());
      int w = -1;
      try {
        w = std::stoi(id);
      } catch (const std::exception&) {
      }
      IST_CHECK(w >= 0 && std::to_string(w) == id, "ist: resume from ", path,
                ": expected a buffer codec.residual.workerW with W a worker id, found ", b.name);
      IST_CHECK(codec_.keeps_residual(), "ist: resume from ", path, ": the checkpoint holds ", b.name,
                " but codec ", codec_.name(), " keeps no residual");
      if (std::size_t(w) < residuals_.size() && backend_.comm().is_local(w)) residuals_[std::size_t(w)] = std::move(b.values);
      ++found;
    }
    IST_CHECK(!codec_.keeps_residual() || found == int(residuals_.size()), "ist: resume from ", path, ": codec ",
              codec_.name(), " expected ", residuals_.size(), " residual buffers (one per worker), found ", found,
              " (resume with the same number of workers)");
    buffers = std::move(rest);
  }

  // Worker active_[i] -> coordinator: `src` (where the worker runs) into `dst` (sized on the coordinator).
  void receive(int i, std::span<const float> src, std::vector<float>& dst) {
    auto& comm = backend_.comm();
    dst.resize(comm.is_coordinator() ? slices_[std::size_t(i)].size() : 0);
    comm.to_coordinator(active_[std::size_t(i)], src, std::span<float>(dst));
  }

  // Which plan slots failed this round, the same on every process (under a communicator spanning processes a
  // worker's failure is known where it ran; a sum over processes tells everyone). Each failure is logged.
  std::vector<int> failed_slots(std::uint64_t round) {
    const int S = int(active_.size());
    std::vector<int> failed(std::size_t(S), 0);
    if (cfg_.on_worker_failure == WorkerFailure::Abort) return failed;
    for (int i = 0; i < S; ++i) {
      const Worker* wk = workers_[std::size_t(active_[std::size_t(i)])].get();
      if (wk && !wk->failure.empty()) {
        failed[std::size_t(i)] = 1;
        std::fprintf(stderr, "ist: worker %d failed in round %llu: %s; its update is dropped for this round\n",
                     active_[std::size_t(i)], (unsigned long long)(round + 1), wk->failure.c_str());
      }
    }
    if constexpr (SumsOverProcesses<Comm>) {
      std::vector<double> flags(failed.begin(), failed.end());
      backend_.comm().all_sum(std::span<double>(flags));
      for (int i = 0; i < S; ++i) failed[std::size_t(i)] = flags[std::size_t(i)] > 0 ? 1 : 0;
    }
    return failed;
  }

  // After a round with failures: the survivors only (S shrinks), or every worker again (AfterFailure).
  void update_active_workers(const std::vector<int>& failed, std::uint64_t round) {
    if (std::find(failed.begin(), failed.end(), 1) == failed.end()) return;
    std::vector<int> survivors;
    for (std::size_t i = 0; i < failed.size(); ++i)
      if (!failed[i]) survivors.push_back(active_[i]);
    IST_CHECK(!survivors.empty(), "ist::IndependentSubnetTrainer: every worker failed in round ", round + 1,
              "; nothing was merged and no worker is left to train (the last checkpoint is intact)");
    if (cfg_.after_failure == AfterFailure::Survivors) {
      active_ = std::move(survivors);
      if (backend_.comm().is_coordinator())
        std::fprintf(stderr, "ist: the next rounds are partitioned over the %zu surviving workers\n", active_.size());
    } else {
      active_.resize(std::size_t(num_workers()));
      for (int w = 0; w < num_workers(); ++w) active_[std::size_t(w)] = w;
    }
  }

  // The aggregator sees the slots that came back: all of them, or (after failures) the survivors' only.
  void merge_into(std::span<float> target, const Plan& plan, const std::vector<std::vector<float>>& results,
                  const std::vector<int>& failed) {
    result_spans_.clear();
    if (std::find(failed.begin(), failed.end(), 1) == failed.end()) {
      for (const auto& r : results) result_spans_.emplace_back(r);
      aggregator_.merge(target, MergeInput{info_, plan, slices_, result_spans_, samples_});
      return;
    }
    Plan returned;
    returned.round = plan.round;
    std::vector<SliceSet> slices;
    std::vector<double> samples;
    for (std::size_t i = 0; i < failed.size(); ++i) {
      if (failed[i]) continue;
      returned.workers.push_back(plan.workers[i]);
      slices.push_back(slices_[i]);
      result_spans_.emplace_back(results[i]);
      samples.push_back(samples_[i]);
    }
    if (!returned.workers.empty())
      aggregator_.merge(target, MergeInput{info_, returned, slices, result_spans_, samples});
  }

  // Fills figures_ with every worker's statistics and traffic this round. Under a communicator spanning
  // processes, one sum over processes: a worker's statistics are filled where it runs and the traffic on the
  // coordinator (whose ledger counts every worker's), zeros elsewhere, so every process ends with the
  // in-process figures.
  void collect_figures() {
    const std::size_t n = std::size_t(num_workers());
    auto& comm = backend_.comm();
    const std::vector<WorkerTraffic>& traffic = comm.ledger().this_round();
    figures_.assign(n, WorkerFigures{});
    if constexpr (SumsOverProcesses<Comm>) {
      // Per worker: 10 figures, then the loss of each of its L local steps.
      const std::size_t steps = std::size_t(cfg_.local_steps);
      const std::size_t kFields = 10 + steps;
      stats_.assign(kFields * n, 0.0);
      for (std::size_t w = 0; w < n; ++w) {
        double* slot = stats_.data() + kFields * w;
        if (workers_[w]) {
          const Worker& wk = *workers_[w];
          slot[0] = wk.stats.loss_sum;
          slot[1] = wk.stats.correct;
          slot[2] = wk.stats.samples;
          slot[3] = wk.stats.steps;
          slot[4] = wk.compute_seconds;
          slot[5] = wk.compute_cpu_seconds;
          slot[9] = wk.pace_seconds;
          std::copy_n(wk.stats.step_loss.begin(), std::min(steps, wk.stats.step_loss.size()), slot + 10);
        }
        if (comm.is_coordinator() && w < traffic.size()) {
          slot[6] = double(traffic[w].to_worker);
          slot[7] = double(traffic[w].from_worker);
          slot[8] = double(traffic[w].messages);
        }
      }
      comm.all_sum(std::span<double>(stats_));
      for (std::size_t w = 0; w < n; ++w) {
        const double* slot = stats_.data() + kFields * w;
        WorkerFigures& f = figures_[w];
        f.stats = StepStats{slot[0], int(slot[1]), int(slot[2]), int(slot[3]), {}};
        f.stats.step_loss.assign(slot + 10, slot + 10 + std::min(steps, std::size_t(f.stats.steps)));
        f.compute_seconds = slot[4];
        f.compute_cpu_seconds = slot[5];
        f.pace_seconds = slot[9];
        f.traffic = WorkerTraffic{std::uint64_t(slot[6]), std::uint64_t(slot[7]), std::uint64_t(slot[8])};
      }
    } else {
      for (std::size_t w = 0; w < n; ++w) {
        WorkerFigures& f = figures_[w];
        if (workers_[w]) {
          f.stats = workers_[w]->stats;
          f.compute_seconds = workers_[w]->compute_seconds;
          f.compute_cpu_seconds = workers_[w]->compute_cpu_seconds;
          f.pace_seconds = workers_[w]->pace_seconds;
        }
        if (w < traffic.size()) f.traffic = traffic[w];
      }
    }
  }

  // cfg.throttle's factor for worker w (1: none).
  double throttle_factor(int w) const {
    double f = 1.0;
    for (const WorkerThrottle& t : cfg_.throttle)
      if (t.worker == w) f *= t.factor;
    return f;
  }

  // The local steps of a worker's round: its sub-network's (SubnetSpec::local_steps), or the run's L.
  int steps_of(const SubnetSpec& spec) const { return spec.local_steps > 0 ? spec.local_steps : cfg_.local_steps; }

  // Appends this round's pace to the history (figures_ are the same on every process, so is the history):
  // per worker id, its compute seconds per local step and per parameter of its sub-network, rounded to float
  // (as checkpoints keep it, so a resumed run sees the same numbers); 0 for a worker outside the plan or failed.
  void record_pace(const std::vector<int>& failed) {
    std::vector<float> row(std::size_t(num_workers()), 0.f);
    for (std::size_t i = 0; i < active_.size(); ++i) {
      const WorkerFigures& f = figures_[std::size_t(active_[i])];
      const double work = double(f.stats.steps) * double(slices_[i].size());
      if (!failed[i] && work > 0 && f.pace_seconds > 0) row[std::size_t(active_[i])] = float(f.pace_seconds / work);
    }
    pace_.push_back(std::move(row));
    if (pace_.size() > std::size_t(kPaceRounds)) pace_.erase(pace_.begin());
  }

  void fill_record(RoundRecord& rec, const Plan& plan, std::uint64_t round, Clock::time_point round_start,
                   const std::vector<int>& failed) {
    const int S = plan.num_workers();
    rec.workers = S;
    rec.failed_workers = int(std::count(failed.begin(), failed.end(), 1));
    rec.round = round + 1;
    rec.epoch = double((round + 1) * std::uint64_t(cfg_.local_steps)) / steps_per_epoch_;
    rec.lr = lr_at_step(round * std::uint64_t(cfg_.local_steps));
    // Summed in worker order, as in process.
    RoundTally tally;
    std::vector<WorkerTraffic> traffic;
    for (const WorkerFigures& f : figures_) {
      if (f.stats.steps > 0)  // steps == 0: not in this round's plan, or failed
        tally.add_worker(f.stats, f.compute_seconds, f.compute_cpu_seconds);
      traffic.push_back(f.traffic);
    }
    tally.fill(rec, traffic, slices_, num_params_, cfg_.local_steps, int(state_.size()));
    rec.step_losses.clear();
    rec.worker_pace_seconds.clear();
    rec.worker_local_steps.clear();
    for (const WorkerFigures& f : figures_) {
      rec.step_losses.push_back(f.stats.step_loss);
      rec.worker_pace_seconds.push_back(f.pace_seconds);
      rec.worker_local_steps.push_back(f.stats.steps);
    }
    rec.round_seconds = seconds(round_start);
  }

  void report(const RoundRecord& r, int rounds, MetricsLog& log) {
    if (!backend_.comm().is_coordinator()) return;
    if (cfg_.progress) {
      std::printf("round %llu/%d  epoch %.2f  lr %.4g  loss %.4f  acc %.4f", (unsigned long long)r.round, rounds,
                  r.epoch, r.lr, r.train_loss, r.train_accuracy);
      if (!std::isnan(r.val_accuracy)) std::printf("  val acc %.4f", r.val_accuracy);
      if (!std::isnan(r.test_accuracy)) std::printf("  test acc %.4f", r.test_accuracy);
      std::printf("  moved %.3f MB (local SGD %.3f MB)  step %.2f ms (cpu %.2f ms)  round %.2f s  wall %.1f s\n",
                  r.bytes() / 1e6, r.local_sgd_bytes / 1e6, r.step_seconds_mean * 1e3, r.step_cpu_seconds_mean * 1e3,
                  r.round_seconds, r.wall_seconds);
      std::fflush(stdout);
    }
    MetricsRow row;
    row.add("round", r.round)
        .add("epoch", r.epoch)
        .add("lr", r.lr)
        .add("decomposer", decomposer_.name())
        .add("optimizer", optimizer_.name())
        .add("codec", codec_.name())
        .add("workers", r.workers)
        .add("failed_workers", r.failed_workers)
        .add("train_loss", r.train_loss)
        .add("train_accuracy", r.train_accuracy);
    if (cfg_.metrics_step_losses) row.add("train_loss_steps", r.step_losses);
    if constexpr (Work::evaluates_on_training_data) row.add("val_loss", r.val_loss).add("val_accuracy", r.val_accuracy);
    row.add("test_loss", r.test_loss).add("test_accuracy", r.test_accuracy);
    add_record_costs(row, r);
    log.append(row);
  }

  D decomposer_;
  A aggregator_;
  B backend_;
  TrainerConfig cfg_;
  ModelInfo info_;
  std::size_t num_params_;  // the global model's
  std::vector<float> global_;
  Optimizer optimizer_;
  std::vector<std::string> state_names_;
  std::vector<std::vector<float>> state_;  // global optimizer state buffers (carried), named by state_names_
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<SliceSet> slices_;
  std::vector<float> send_buffer_;
  // The transfer codec, and per worker id what it needs where the worker runs: the payload, the values it
  // received (its update is trained minus received), its trained values on the host (device backends), its
  // update, and its residual slice.
  struct CodecLane {
    codec::Bytes payload;
    std::vector<float> received, trained, update, residual;
  };
  codec::AnyCodec codec_;
  std::vector<CodecLane> lanes_;
  std::vector<std::vector<float>> residuals_;  // per worker id, one value per global parameter (TopK's memory)
  codec::Bytes send_bytes_, receive_bytes_;
  std::vector<float> update_buffer_;
  std::vector<std::vector<float>> results_;
  std::vector<std::vector<std::vector<float>>> state_results_;  // [buffer][slot]
  std::vector<std::span<const float>> result_spans_;
  std::vector<double> stats_;
  std::vector<WorkerFigures> figures_;  // this round's, per worker id
  std::vector<double> samples_;         // this round's samples per plan slot (the merge's weights)
  std::vector<int> active_;  // the workers the next round is partitioned over
  int plan_workers_ = 0;     // S of the last round's plan (evaluation scaling)
  std::function<void(int, std::uint64_t)> fault_injector_;
  std::function<double(const ComputeTiming&)> compute_timer_;
  std::vector<std::vector<float>> pace_;        // the pace history, per recorded round, per worker id
  std::vector<std::vector<float>> pace_slots_;  // the same per plan slot of the round being planned
  std::function<void(const StepProgress&)> step_progress_;
  std::optional<RunClock> run_;  // the fit() in progress
  optim::LrSchedule schedule_ = optim::ConstantSchedule{0.1};
  int steps_per_epoch_ = 0;
  std::unique_ptr<EvalModel> eval_;
};

// The model's part of IndependentSubnetTrainer<Model, D, A, B>: ModelTraits<Model>'s slices, layout,
// network, initialization, local steps and evaluation, behind RoundEngine's virtual members. The only code
// compiled per model type.
template <class Model, class D, class A, class B>
class ModelEngine : public RoundEngine<D, A, B, typename ModelTraits<Model>::Work> {
 public:
  // The model-independent part: helpers that take an Engine& are compiled once for all models.
  using Engine = RoundEngine<D, A, B, typename ModelTraits<Model>::Work>;
  using Traits = ModelTraits<Model>;
  using Work = typename Traits::Work;
  using typename Engine::Compute;
  using typename Engine::Context;
  using typename Engine::EvalData;
  using typename Engine::Optimizer;
  using Network = typename Traits::template Network<Compute>;

  // The optimizer is SGD with config.sgd.
  ModelEngine(D decomposer, A aggregator, B backend, TrainerConfig config)
      : ModelEngine(std::move(decomposer), std::move(aggregator), std::move(backend), config, Optimizer(config.sgd)) {}

  // The optimizer is any OptimizerPolicy: optim::SgdConfig, AdamConfig, NovoGradConfig, or a user's.
  ModelEngine(D decomposer, A aggregator, B backend, TrainerConfig config, Optimizer optimizer)
      : Engine(std::move(decomposer), std::move(aggregator), std::move(backend), std::move(config),
               std::move(optimizer), Traits::info(), Traits::num_params) {
    if (!this->backend().comm().is_coordinator()) return;  // the global model lives on the coordinator only
    const TrainerConfig& cfg = this->config();
    if constexpr (requires(std::span<float> p) { Traits::init(p, cfg.seed, cfg.init_scheme); })
      Traits::init(this->params(), cfg.seed, cfg.init_scheme);
    else
      Traits::init(this->params(), cfg.seed);
  }

 private:
  using typename Engine::AnyNetwork;
  using typename Engine::Worker;
  struct NetworkOf final : AnyNetwork {
    explicit NetworkOf(Context& ctx) : net(ctx) {}
    Network net;
  };
  static Network& network(AnyNetwork& n) { return static_cast<NetworkOf&>(n).net; }

  SliceSet slices_of(const SubnetSpec& spec) const override { return Traits::slices(spec); }
  ParamLayout layout_of(const SubnetSpec& spec) const override { return Traits::layout(spec); }
  std::unique_ptr<AnyNetwork> make_network(Context& ctx) const override { return std::make_unique<NetworkOf>(ctx); }
  StepStats train_steps(Worker& wk, optim::WorkerOptimizer<Context>& opt, const LocalRun& run,
                        const std::function<double(int)>& lr_of) override {
    return Work::template run<Traits>(wk.ctx, network(*wk.net), opt, Engine::view(wk.params), Engine::view(wk.grads),
                                      wk.layout, wk.spec, wk.data, run, lr_of);
  }
  Evaluation score(Context& ctx, AnyNetwork& net, std::span<const float> params, const SubnetSpec& all,
                   const ParamLayout& layout, const EvalData& data, std::span<const double> scale) override {
    return Work::template evaluate<Traits>(ctx, network(net), params, all, layout, data, this->config(), scale);
  }
};

// What IndependentSubnetTrainer derives from when a policy fails its check: nothing, so that the check's
// message is the only compile error.
template <class D, class A, class B>
struct FailedPolicies {
  FailedPolicies(D, A, B, TrainerConfig) {}
  template <class O>
  FailedPolicies(D, A, B, TrainerConfig, O&&) {}
};

// The policy checks: check_model_family, check_decomposer, check_aggregator and check_backend, each of which
// stops compilation with one sentence naming a missing or non-const member.
template <class Model, class D, class A, class B>
inline constexpr bool policies_ok =
    check_model_family<Model>() && check_decomposer<D>() && check_aggregator<A>() && check_backend<B>();
template <class Model, class D, class A, class B>
using TrainerBase =
    std::conditional_t<policies_ok<Model, D, A, B>, ModelEngine<Model, D, A, B>, FailedPolicies<D, A, B>>;

}  // namespace detail

// The trainer: RoundEngine (the round, compiled once per decomposer, aggregator, backend and family) and
// ModelEngine (the model's part). Constructors: (decomposer, aggregator, backend, config) trains with SGD
// (config.sgd); (..., config, optimizer) with any optimizer policy, as optim::AnyOptimizer<Context>.
//
// The policies are checked where the class is instantiated (detail::policies_ok): a missing or non-const
// member is one compile error naming it, whether or not fit() is ever called, and nothing of the engine is
// compiled for policies that fail.
template <class Model, class D, class A = HolderAverage, class B = CpuBackend<>>
class IndependentSubnetTrainer : public detail::TrainerBase<Model, D, A, B> {
  using Base = detail::TrainerBase<Model, D, A, B>;

 public:
  using Base::Base;
};

}  // namespace ist
