#pragma once
// The Communicator contract (ist/comm/communicator.hpp) as one check that every communicator runs: in
// process (tests/test_conformance.cpp) and across MPI ranks (tests/mpi/test_mpi_comm.cpp). It holds where
// some workers run in other processes: each process checks what it can see.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ist/comm/communicator.hpp"
#include "ist/core/error.hpp"

namespace ist::conformance {

// What the coordinator sends worker w: 5 + w values that say who they are for.
inline std::vector<float> payload_for(int w) {
  std::vector<float> v(std::size_t(5 + w));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(w) * 100.f + float(i);
  return v;
}

template <class C>
void check_communicator_contract(C& comm) {
  static_assert(check_communicator<C>());
  const int S = comm.num_workers();
  REQUIRE(S >= 1);
  comm.ledger().begin_round(0, S);
  // Coordinator -> each worker: the values arrive where the worker runs.
  std::vector<std::vector<float>> at_worker(static_cast<std::size_t>(S));
  for (int w = 0; w < S; ++w) {
    const std::vector<float> src = payload_for(w);
    auto& dst = at_worker[std::size_t(w)];
    if (comm.is_local(w)) dst.resize(src.size());
    comm.to_worker(w, comm.is_coordinator() ? std::span<const float>(src) : std::span<const float>(), dst);
    if (comm.is_local(w)) CHECK(std::memcmp(dst.data(), src.data(), src.size() * sizeof(float)) == 0);
  }
  // run_workers runs each local worker exactly once.
  std::vector<std::atomic<int>> ran(static_cast<std::size_t>(S));
  comm.run_workers([&](int w) {
    ran[std::size_t(w)]++;
    for (auto& x : at_worker[std::size_t(w)]) x += 1.f;
  });
  for (int w = 0; w < S; ++w) CHECK(ran[std::size_t(w)] == (comm.is_local(w) ? 1 : 0));
  // Each worker -> coordinator: what the worker holds arrives at the coordinator.
  for (int w = 0; w < S; ++w) {
    std::vector<float> back(comm.is_coordinator() ? payload_for(w).size() : 0);
    comm.to_coordinator(w, comm.is_local(w) ? std::span<const float>(at_worker[std::size_t(w)]) : std::span<const float>(),
                        back);
    if (comm.is_coordinator()) {
      std::vector<float> want = payload_for(w);
      for (auto& x : want) x += 1.f;
      CHECK(back == want);
    }
    // The ledger counts each message's bytes once each way, where the coordinator or the worker runs.
    if (comm.is_coordinator() || comm.is_local(w)) {
      const auto& t = comm.ledger().this_round()[std::size_t(w)];
      CHECK(t.to_worker == payload_for(w).size() * sizeof(float));
      CHECK(t.from_worker == payload_for(w).size() * sizeof(float));
      CHECK(t.messages == 2);
    }
  }
  // Communicators that move byte payloads (transfer codecs): payloads of any length arrive whole, the
  // receiver learns the length from the message, and the ledger counts the payload's bytes.
  if constexpr (MovesBytes<C>) {
    comm.ledger().begin_round(1, S);
    for (int w = 0; w < S; ++w) {
      std::vector<std::byte> src(std::size_t(3 + 7 * w)), at(5, std::byte{0xee}), back(1);
      for (std::size_t i = 0; i < src.size(); ++i) src[i] = std::byte(std::uint8_t(w * 31 + int(i)));
      comm.to_worker_bytes(w, comm.is_coordinator() ? std::span<const std::byte>(src) : std::span<const std::byte>(), at);
      if (comm.is_local(w)) CHECK(at == src);
      std::reverse(src.begin(), src.end());
      if (comm.is_local(w)) std::reverse(at.begin(), at.end());
      comm.to_coordinator_bytes(w, comm.is_local(w) ? std::span<const std::byte>(at) : std::span<const std::byte>(), back);
      if (comm.is_coordinator()) CHECK(back == src);
      if (comm.is_coordinator() || comm.is_local(w)) {
        const auto& t = comm.ledger().this_round()[std::size_t(w)];
        CHECK(t.to_worker == src.size());
        CHECK(t.from_worker == src.size());
      }
    }
  }
  // run_workers rethrows a local worker's exception after every local worker has finished.
  bool any_local = false;
  for (int w = 0; w < S; ++w) any_local |= comm.is_local(w);
  if (any_local)
    CHECK_THROWS_WITH_AS(comm.run_workers([](int) { throw Error("worker failed on purpose"); }),
                         "worker failed on purpose", Error);
}

}  // namespace ist::conformance
