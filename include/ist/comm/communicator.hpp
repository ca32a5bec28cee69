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
//   bool c.broadcasts_to_workers() const
//       For a communicator chosen at run time (AnyComm, any_comm.hpp): whether to_all_workers may be called.
//       Without it, having to_all_workers means yes.
//   void c.all_sum(std::span<double> values)
//       Element-wise sum over processes, the result on every process. The trainer collects per-worker
//       statistics and the coordinator's evaluation with it, so that every process reports the same.
//   void c.to_worker_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst)
//   void c.to_coordinator_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst)
//       Encoded slices (a transfer codec other than float32, ist/codec/codec.hpp): like to_worker /
//       to_coordinator, but a byte payload whose length the receiver learns from the message; dst is resized
//       to it. Counted in the ledger as the payload's bytes (what travels). Needed only for such codecs.
#include <cstddef>
#include <vector>
#include <algorithm>
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
concept MovesBytes = requires(C& c, int w, std::span<const std::byte> src, std::vector<std::byte>& dst) {
  c.to_worker_bytes(w, src, dst);
  c.to_coordinator_bytes(w, src, dst);
};
// Whether c's to_all_workers may be called: BroadcastsToWorkers, and c.broadcasts_to_workers() where c has it.
template <class C>
bool offers_broadcast(const C& c) {
  if constexpr (!BroadcastsToWorkers<C>)
    return false;
  else if constexpr (requires { { c.broadcasts_to_workers() } -> std::same_as<bool>; })
    return c.broadcasts_to_workers();
  else
    return true;
}
template <class C>
concept SumsOverProcesses = requires(C& c, std::span<double> values) { c.all_sum(values); };

// One static_assert per required member, so a type that misses one gets a single sentence naming it; a member
// that exists but is not const where it must be gets a sentence saying so.
template <class C>
consteval bool check_communicator() {
  constexpr bool has_workers = requires(const C& c) { { c.num_workers() } -> std::same_as<int>; };
  constexpr bool has_coordinator = requires(const C& c) { { c.is_coordinator() } -> std::same_as<bool>; };
  constexpr bool has_local = requires(const C& c, int w) { { c.is_local(w) } -> std::same_as<bool>; };
  constexpr bool workers_not_const = !has_workers && requires(C& c) { { c.num_workers() } -> std::same_as<int>; };
  constexpr bool coordinator_not_const =
      !has_coordinator && requires(C& c) { { c.is_coordinator() } -> std::same_as<bool>; };
  constexpr bool local_not_const = !has_local && requires(C& c, int w) { { c.is_local(w) } -> std::same_as<bool>; };
  constexpr bool has_to_worker = requires(C& c, int w, std::span<const float> s, std::span<float> d) {
    c.to_worker(w, s, d);
  };
  constexpr bool has_to_coordinator = requires(C& c, int w, std::span<const float> s, std::span<float> d) {
    c.to_coordinator(w, s, d);
  };
  constexpr bool has_run = requires(C& c, std::function<void(int)> f) { c.run_workers(f); };
  constexpr bool has_ledger = requires(C& c) { { c.ledger() } -> std::same_as<CommLedger&>; };
  static_assert(has_workers || workers_not_const, "ist::Communicator: missing member `int num_workers() const`");
  static_assert(!workers_not_const,
                "ist::Communicator: member `num_workers` is not const: declare it `int num_workers() const`");
  static_assert(has_coordinator || coordinator_not_const,
                "ist::Communicator: missing member `bool is_coordinator() const`");
  static_assert(!coordinator_not_const,
                "ist::Communicator: member `is_coordinator` is not const: declare it `bool is_coordinator() const`");
  static_assert(has_local || local_not_const, "ist::Communicator: missing member `bool is_local(int worker) const`");
  static_assert(!local_not_const,
                "ist::Communicator: member `is_local` is not const: declare it `bool is_local(int worker) const`");
  static_assert(has_to_worker,
                "ist::Communicator: missing member `void to_worker(int, std::span<const float>, std::span<float>)`");
  static_assert(has_to_coordinator, "ist::Communicator: missing member "
                                    "`void to_coordinator(int, std::span<const float>, std::span<float>)`");
  static_assert(has_run, "ist::Communicator: missing member `void run_workers(std::function<void(int)>)`");
  static_assert(has_ledger, "ist::Communicator: missing member `CommLedger& ledger()`");
  return has_workers && has_coordinator && has_local && has_to_worker && has_to_coordinator && has_run && has_ledger;
}

namespace archetypes {
// The smallest Communicator: one worker in this process, which is also the coordinator.
class CommunicatorArchetype {
 public:
  int num_workers() const { return 1; }
  bool is_coordinator() const { return true; }
  bool is_local(int) const { return true; }
  void to_worker(int w, std::span<const float> src, std::span<float> dst) {
    std::copy(src.begin(), src.end(), dst.begin());
    ledger_.add_to_worker(w, src.size_bytes());
  }
  void to_coordinator(int w, std::span<const float> src, std::span<float> dst) {
    std::copy(src.begin(), src.end(), dst.begin());
    ledger_.add_from_worker(w, src.size_bytes());
  }
  void run_workers(std::function<void(int)> f) { f(0); }
  CommLedger& ledger() { return ledger_; }

 private:
  CommLedger ledger_;
};
static_assert(Communicator<archetypes::CommunicatorArchetype>);
}  // namespace archetypes

}  // namespace ist
