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
#include <concepts>
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

}  // namespace ist
