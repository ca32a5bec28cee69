#pragma once
// RoundRecord: what one round of training did, and RoundTally, the one place where the workers' figures
// and the ledger's traffic become a record's columns.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ist/comm/ledger.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/train/local_steps.hpp"
#include "ist/train/metrics_log.hpp"

namespace ist {

// What one round did. Test figures are NaN when the round did not evaluate.
struct RoundRecord {
  std::uint64_t round = 0;
  int workers = 0;         // S of this round's plan (fewer than the backend's after failures)
  int failed_workers = 0;  // workers whose update was dropped this round
  double epoch = 0;  // epochs completed by each worker's data stream at the end of the round
  double lr = 0;
  double train_loss = 0, train_accuracy = 0;  // over all workers' local steps this round
  // Per worker, index = worker id: the mean batch loss of each of its local steps, in order (empty for a
  // worker outside this round's plan or whose steps failed). The same on every process.
  std::vector<std::vector<double>> step_losses;
  double test_loss = NAN, test_accuracy = NAN;
  double val_loss = NAN, val_accuracy = NAN;  // families with a validation set (graphs)
  std::uint64_t bytes_to_workers = 0, bytes_from_workers = 0, messages = 0;
  // Per worker, index = worker id (every worker of the backend; one outside this round's plan has zeros):
  // the bytes and messages the coordinator sent it and it sent back this round, as the coordinator's ledger
  // counts them, the same on every process. They sum to bytes_to_workers, bytes_from_workers and messages.
  std::vector<WorkerTraffic> worker_traffic;
  // What local SGD would move this round, counted as the ledger counts this run: the parameters and the
  // carried optimizer state buffers both ways, 2 * S * |theta| * 4 * (1 + carried_state_buffers).
  std::uint64_t local_sgd_bytes = 0;
  int carried_state_buffers = 0;      // optimizer state buffers sent with the parameters (0: state reset)
  std::uint64_t ddp_bytes = 0;        // what data-parallel ring all-reduce would move for L steps
  double mean_subnet_params = 0;      // mean parameters per worker's sub-network
  double compute_seconds_max = 0, compute_seconds_mean = 0;  // per worker, the L local steps
  // Per worker, index = worker id: the seconds of its L local steps as the pace history records them
  // (TrainerConfig::pace_clock: wall, or CPU times the throttle; or an injected timing); 0 outside the plan.
  // The same on every process.
  std::vector<double> worker_pace_seconds;
  // Per worker, index = worker id: the local steps it trained (L, or fewer where the plan sized them:
  // SubnetSpec::local_steps); 0 outside the plan or failed.
  std::vector<int> worker_local_steps;
  double step_seconds_mean = 0;       // mean per-worker time of one local step
  // CPU time of the workers' threads during their local steps: the compute done, whatever the load
  // (with threads_per_worker = 1 all of a worker's compute runs on its thread).
  double compute_cpu_seconds_max = 0, compute_cpu_seconds_mean = 0, step_cpu_seconds_mean = 0;
  double round_seconds = 0, wall_seconds = 0;
  std::uint64_t bytes() const noexcept { return bytes_to_workers + bytes_from_workers; }
};

// Sums one round's per-worker figures (only workers that trained) and writes the record's training and
// cost columns.
class RoundTally {
 public:
  void add_worker(const StepStats& stats, double compute_seconds, double compute_cpu_seconds) {
    all_ += stats;
    sum_wall_ += compute_seconds;
    sum_cpu_ += compute_cpu_seconds;
    max_wall_ = std::max(max_wall_, compute_seconds);
    max_cpu_ = std::max(max_cpu_, compute_cpu_seconds);
    ++workers_;
  }

  // traffic: the ledger's entries of the round, one per worker; slices: each plan slot's slices (S = their count);
  // num_params: |theta|; state_buffers: optimizer state buffers that travelled with the parameters.
  void fill(RoundRecord& rec, const std::vector<WorkerTraffic>& traffic, const std::vector<SliceSet>& slices,
            std::size_t num_params, int local_steps, int state_buffers) const {
    const int S = int(slices.size());
    double params = 0;
    for (const auto& s : slices) params += double(s.size());
    rec.mean_subnet_params = S ? params / S : 0;
    rec.worker_traffic = traffic;
    rec.bytes_to_workers = rec.bytes_from_workers = rec.messages = 0;
    for (const auto& t : traffic) {
      rec.bytes_to_workers += t.to_worker;
      rec.bytes_from_workers += t.from_worker;
      rec.messages += t.messages;
    }
    const std::uint64_t model_bytes = num_params * sizeof(float);
    rec.carried_state_buffers = state_buffers;
    rec.local_sgd_bytes = 2ull * std::uint64_t(S) * model_bytes * std::uint64_t(1 + state_buffers);
    rec.ddp_bytes = std::uint64_t(local_steps) * 2ull * std::uint64_t(S - 1) * model_bytes;
    rec.train_loss = all_.mean_loss();
    rec.train_accuracy = all_.accuracy();
    rec.compute_seconds_max = max_wall_;
    rec.compute_cpu_seconds_max = max_cpu_;
    rec.compute_seconds_mean = workers_ ? sum_wall_ / workers_ : 0;
    rec.compute_cpu_seconds_mean = workers_ ? sum_cpu_ / workers_ : 0;
    // Per local step the workers trained (a plan may give a worker fewer than L).
    rec.step_seconds_mean = all_.steps > 0 ? sum_wall_ / all_.steps : 0;
    rec.step_cpu_seconds_mean = all_.steps > 0 ? sum_cpu_ / all_.steps : 0;
  }

 private:
  StepStats all_;
  double sum_wall_ = 0, sum_cpu_ = 0, max_wall_ = 0, max_cpu_ = 0;
  int workers_ = 0;
};

// The columns every round row ends with: traffic from the ledger (the sums, then one array per direction
// with an entry per worker, index = worker id), the local-SGD and data-parallel
// baselines (local_sgd_bytes counts what the ledger counts: parameters and the carried_state_buffers
// optimizer state buffers; ddp_allreduce_bytes counts gradients only, as data-parallel SGD all-reduces
// them and keeps its optimizer state local), and timings.
inline void add_record_costs(MetricsRow& row, const RoundRecord& r) {
  std::vector<std::uint64_t> to_each, from_each;
  for (const auto& t : r.worker_traffic) {
    to_each.push_back(t.to_worker);
    from_each.push_back(t.from_worker);
  }
  row.add("bytes_to_workers", r.bytes_to_workers)
      .add("bytes_from_workers", r.bytes_from_workers)
      .add("bytes_to_each_worker", to_each)
      .add("bytes_from_each_worker", from_each)
      .add("messages", r.messages)
      .add("carried_state_buffers", r.carried_state_buffers)
      .add("local_sgd_bytes", r.local_sgd_bytes)
      .add("ddp_allreduce_bytes", r.ddp_bytes)
      .add("mean_subnet_params", r.mean_subnet_params)
      .add("compute_seconds_max", r.compute_seconds_max)
      .add("compute_seconds_mean", r.compute_seconds_mean)
      .add("pace_seconds_each_worker", r.worker_pace_seconds)
      .add("local_steps_each_worker", r.worker_local_steps)
      .add("step_seconds_mean", r.step_seconds_mean)
      .add("compute_cpu_seconds_max", r.compute_cpu_seconds_max)
      .add("compute_cpu_seconds_mean", r.compute_cpu_seconds_mean)
      .add("step_cpu_seconds_mean", r.step_cpu_seconds_mean)
      .add("round_seconds", r.round_seconds)
      .add("wall_seconds", r.wall_seconds);
}

}  // namespace ist
