#pragma once
// CommLedger: every byte moved between the coordinator and each worker, per round and in total.
//
// Each communicator owns one (Communicator::ledger()) and counts every transfer of slices in it: to_worker
// adds src.size() * 4 bytes and one message to worker w's `to_worker`, to_coordinator the same to its
// `from_worker`. Encoded slices (a transfer codec other than float32, ist/codec) count the payload's bytes,
// codec headers and indices included: to_worker_bytes / to_coordinator_bytes add what travels. The trainer calls begin_round(round, S) before a round's first transfer, so this_round()
// holds one entry per worker (index = worker id) for the current round; cumulative() keeps adding up over
// the ledger's lifetime (a resumed run's ledger starts from zero). Only slices (parameters and carried
// optimizer state) are counted, not the collectives communicators use for consistency checks and
// statistics.
//
// Under a communicator that spans processes (MpiComm, NcclComm) each process has its own ledger: the
// coordinator's counts every worker's traffic (and equals the in-process ledger byte for byte); worker w's
// process counts only what it received and sent as worker w. The trainer's RoundRecord::worker_traffic is
// the coordinator's view, shared with every process, so read per-worker bytes from the round record (or
// the metrics file's bytes_to_each_worker / bytes_from_each_worker) rather than from a ledger.
#include <cstdint>
#include <vector>

#include "ist/core/error.hpp"

namespace ist {

// One worker's traffic: what the coordinator sent it and what it sent back.
struct WorkerTraffic {
  std::uint64_t to_worker = 0;    // bytes the coordinator sent to the worker
  std::uint64_t from_worker = 0;  // bytes the worker sent back
  std::uint64_t messages = 0;
  std::uint64_t total() const noexcept { return to_worker + from_worker; }
};

class CommLedger {
 public:
  // Starts round `round` (0-based) with `workers` zeroed entries; cumulative() grows to as many.
  void begin_round(std::uint64_t round, int workers) {
    round_ = round;
    current_.assign(std::size_t(workers), WorkerTraffic{});
    if (cumulative_.size() < current_.size()) cumulative_.resize(current_.size());
  }
  // Counts `bytes` (one message) sent by the coordinator to worker w / by worker w to the coordinator in
  // the current round; w must be in [0, workers) of begin_round.
  void add_to_worker(int w, std::uint64_t bytes) {
    at(w).to_worker += bytes;
    at(w).messages += 1;
    cumulative_[std::size_t(w)].to_worker += bytes;
    cumulative_[std::size_t(w)].messages += 1;
  }
  void add_from_worker(int w, std::uint64_t bytes) {
    at(w).from_worker += bytes;
    at(w).messages += 1;
    cumulative_[std::size_t(w)].from_worker += bytes;
    cumulative_[std::size_t(w)].messages += 1;
  }
  std::uint64_t round() const noexcept { return round_; }  // of the last begin_round
  // The current round's traffic, one entry per worker (index = worker id).
  const std::vector<WorkerTraffic>& this_round() const noexcept { return current_; }
  // Every round since the ledger was made, per worker.
  const std::vector<WorkerTraffic>& cumulative() const noexcept { return cumulative_; }
  // Bytes both ways / messages, summed over the entries of `t` (this_round() or cumulative()).
  static std::uint64_t total(const std::vector<WorkerTraffic>& t) {
    std::uint64_t n = 0;
    for (const auto& w : t) n += w.total();
    return n;
  }
  static std::uint64_t messages(const std::vector<WorkerTraffic>& t) {
    std::uint64_t n = 0;
    for (const auto& w : t) n += w.messages;
    return n;
  }
  std::uint64_t round_bytes() const { return total(current_); }
  std::uint64_t total_bytes() const { return total(cumulative_); }

 private:
  WorkerTraffic& at(int w) {
    IST_CHECK(w >= 0 && std::size_t(w) < current_.size(), "ist::CommLedger: worker ", w, " is out of range [0, ",
              current_.size(), "); call begin_round first");
    return current_[std::size_t(w)];
  }
  std::uint64_t round_ = 0;
  std::vector<WorkerTraffic> current_, cumulative_;
};

}  // namespace ist
