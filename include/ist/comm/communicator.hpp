#pragma once
// The Communicator concept: how slices move between the coordinator (which holds the global model) and
// the workers, and where workers run.
//
// Required members (c is a C&):
//   int c.num_workers() const
//   bool c.is_coordinator() const      this process holds the global model and merges
//   bool c.is_local(int w) const       worker w runs in this process
//   void c.to_worker(int w, std::span<const float> src, std::span<float> dst)
//       Coordinator -> worker w. src is read where the coordinator is, dst written where w runs (the same
//       size). Counted in the ledger as src.size() * 4 bytes to worker w.
//   void c.to_coordinator(int w, std::span<const float> src, std::span<float> dst)
//       Worker w -> coordinator, counted as bytes from worker w.
//   void c.run_workers(std::function<void(int)> f)
//       Runs f(w) for every local worker, concurrently; waits for all; rethrows the first exception.
//   CommLedger& c.ledger()
//
// Optional members, used where present (communicators spanning several processes need them):
//   void c.check_round(std::uint64_t round, std::uint64_t fingerprint)
//       Called on every process once per round, before any slice moves, with a hash of everything that
//       decides the round's messages (the plan, slice sizes, S, L). Throws ist::Error on every process when
//       they differ, naming the processes: otherwise they would wait on each other's messages forever.
//   void c.to_all_workers(std::span<const float> src, std::span<float> dst)
//       Coordinator -> every worker, the same values, for rounds in which all workers hold the same
//       sub-network (Replicate). dst is the buffer of this process's worker (on the coordinator, src may
//       be that same buffer); a communicator offering it runs at most one worker per process. Counted as
//       to_worker(w, src, ...) for every w.
//   void c.all_sum(std::span<double> values)
//       Element-wise sum over processes, the result on every process. The trainer collects per-worker
//       statistics and the coordinator's evaluation with it, so that every process reports the same.
#include <concepts>
#include <cstdint>
#include <functional>
#include <span>

#include "ist/comm/ledger.hpp"

namespace ist {

template <class C>
concept Communicator = requires(C& c, const C& cc, int w, std::span<const float> src, std::span<float> dst,
                                std::function<void(int)> f) {
  { cc.num_workers() } -> std::same_as<int>;
  { cc.is_coordinator() } -> std::same_as<bool>;
  { cc.is_local(w) } -> std::same_as<bool>;
  c.to_worker(w, src, dst);
  c.to_coordinator(w, src, dst);
  c.run_workers(f);
  { c.ledger() } -> std::same_as<CommLedger&>;
};

// The optional members above, one concept each.
template <class C>
concept ChecksRounds = requires(C& c, std::uint64_t round, std::uint64_t fingerprint) {
  c.check_round(round, fingerprint);
};
template <class C>
concept BroadcastsToWorkers = requires(C& c, std::span<const float> src, std::span<float> dst) {
  c.to_all_workers(src, dst);
};
template <class C>
concept SumsOverProcesses = requires(C& c, std::span<double> values) { c.all_sum(values); };

}  // namespace ist
