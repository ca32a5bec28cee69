// MpiComm on its own: the concept, point-to-point slices both ways and what every rank's ledger counts,
// the broadcast, the per-round consistency check, all_sum, and clear errors for wrong sizes.
#include <doctest/doctest.h>

#include <numeric>
#include <string>
#include <vector>

#include "ist/backend/cpu_backend.hpp"
#include "ist/comm/any_comm.hpp"
#include "ist/comm/mpi_comm.hpp"
#include "../communicator_conformance.hpp"
#include "mpi_test.hpp"
#include "../skip.hpp"

namespace test_mpi_comm {

using namespace ist;
using ist::mpi_test::world_rank;
using ist::mpi_test::world_size;

static_assert(Communicator<MpiComm>);
static_assert(Backend<CpuBackend<MpiComm>>);

namespace {
// What rank 0 sends worker w: n values that say who they are for.
std::vector<float> payload(int w, std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = float(w) * 1000.f + float(i % 997);
  return v;
}
}  // namespace

TEST_CASE("mpi comm: one worker per rank, rank 0 coordinates") {
  MPI_RANK_INFO();
  MpiComm comm;
  CHECK(comm.num_workers() == world_size());
  CHECK(comm.rank() == world_rank());
  CHECK(comm.is_coordinator() == (world_rank() == 0));
  for (int w = 0; w < comm.num_workers(); ++w) CHECK(comm.is_local(w) == (w == world_rank()));
  // A moved-from MpiComm hands over its communicator.
  MpiComm moved(std::move(comm));
  CHECK(moved.num_workers() == world_size());
  CHECK(moved.handle() != MPI_COMM_NULL);
}

TEST_CASE("mpi comm: slices go to each worker and back, and every rank's ledger counts them") {
  MPI_RANK_INFO();
  MpiComm comm;
  const int S = comm.num_workers(), me = comm.rank();
  const auto size_of = [](int w) { return std::size_t(100 + 37 * w); };  // a different size per worker
  comm.ledger().begin_round(0, S);

  // Coordinator -> workers.
  std::vector<float> mine(size_of(me), -1.f);
  for (int w = 0; w < S; ++w) {
    const std::vector<float> src = comm.is_coordinator() ? payload(w, size_of(w)) : std::vector<float>();
    comm.to_worker(w, src, w == me ? std::span<float>(mine) : std::span<float>());
  }
  CHECK(mine == payload(me, size_of(me)));

  // The worker changes its values; workers -> coordinator.
  for (auto& v : mine) v += 0.5f;
  std::vector<std::vector<float>> back(static_cast<std::size_t>(S));
  comm.run_workers([&](int w) { CHECK(w == me); });
  for (int w = 0; w < S; ++w) {
    back[std::size_t(w)].resize(comm.is_coordinator() ? size_of(w) : 0);
    comm.to_coordinator(w, w == me ? std::span<const float>(mine) : std::span<const float>(),
                        std::span<float>(back[std::size_t(w)]));
  }
  if (comm.is_coordinator()) {
    for (int w = 0; w < S; ++w) {
      auto expect = payload(w, size_of(w));
      for (auto& v : expect) v += 0.5f;
      CHECK(back[std::size_t(w)] == expect);
    }
  }

  // Rank 0 counts every worker's traffic (worker 0's local copy too); rank w counts its own.
  const auto& t = comm.ledger().this_round();
  REQUIRE(t.size() == std::size_t(S));
  for (int w = 0; w < S; ++w) {
    const bool counted = comm.is_coordinator() || w == me;
    CHECK(t[std::size_t(w)].to_worker == (counted ? size_of(w) * 4 : 0));
    CHECK(t[std::size_t(w)].from_worker == (counted ? size_of(w) * 4 : 0));
    CHECK(t[std::size_t(w)].messages == (counted ? 2u : 0u));
  }
}

TEST_CASE("mpi comm: to_all_workers broadcasts once and is counted as one message per worker") {
  MPI_RANK_INFO();
  MpiComm comm;
  const int S = comm.num_workers();
  comm.ledger().begin_round(7, S);
  const std::size_t n = 3000;
  const std::vector<float> src = comm.is_coordinator() ? payload(5, n) : std::vector<float>();
  std::vector<float> dst(n, 0.f);
  comm.to_all_workers(src, dst);
  CHECK(dst == payload(5, n));
  // On rank 0 the source may be the worker's own buffer (as the trainer passes it).
  std::vector<float> own = comm.is_coordinator() ? payload(6, n) : std::vector<float>(n, 0.f);
  comm.to_all_workers(comm.is_coordinator() ? std::span<const float>(own) : std::span<const float>(), own);
  CHECK(own == payload(6, n));
  const auto& t = comm.ledger().this_round();
  for (int w = 0; w < S; ++w) {
    const bool counted = comm.is_coordinator() || w == comm.rank();
    CHECK(t[std::size_t(w)].to_worker == (counted ? 2 * n * 4 : 0));
    CHECK(t[std::size_t(w)].messages == (counted ? 2u : 0u));
  }
}

TEST_CASE("mpi comm: all_sum adds element-wise over ranks, on every rank") {
  MPI_RANK_INFO();
  MpiComm comm;
  const int S = comm.num_workers();
  std::vector<double> v = {1.0, double(comm.rank()), 0.25};
  comm.all_sum(v);
  CHECK(v[0] == S);
  CHECK(v[1] == S * (S - 1) / 2);
  CHECK(v[2] == 0.25 * S);
}

TEST_CASE("mpi comm: check_round passes when all ranks agree and names the ranks that do not") {
  MPI_RANK_INFO();
  MpiComm comm;
  CHECK_NOTHROW(comm.check_round(3, 0xabcdef));
  if (comm.num_workers() < 2)
    IST_SKIP_TEST("needs at least 2 MPI ranks, found " + std::to_string(comm.num_workers()));
  // Rank 1 computed another plan: every rank throws, so no rank is left waiting.
  const std::uint64_t fp = comm.rank() == 1 ? 0x1234 : 0xabcdef;
  CHECK_THROWS_WITH_AS(comm.check_round(4, fp),
                       doctest::Contains("the ranks disagree on the round: rank 0 is at round 4 with fingerprint "
                                         "0xabcdef, but rank 1 is at round 4 with fingerprint 0x1234"),
                       Error);
  // A rank that is a round behind.
  const std::uint64_t round = comm.rank() == comm.num_workers() - 1 ? 5 : 6;
  CHECK_THROWS_WITH_AS(comm.check_round(round, 1), doctest::Contains("is at round 5"), Error);
  // The communicator still works afterwards.
  CHECK_NOTHROW(comm.check_round(7, 1));
}

TEST_CASE("mpi comm: a worker expecting a different size gets a clear error, not a hang") {
  MPI_RANK_INFO();
  MpiComm comm;
  if (comm.num_workers() < 2)
    IST_SKIP_TEST("needs at least 2 MPI ranks, found " + std::to_string(comm.num_workers()));
  comm.ledger().begin_round(0, comm.num_workers());
  // Rank 0 sends 10 values to worker 1, which expects 12 and then 8.
  const std::vector<float> src(10, 1.f);
  if (comm.is_coordinator()) {
    comm.to_worker(1, src, {});
    comm.to_worker(1, src, {});
  } else if (comm.rank() == 1) {
    std::vector<float> more(12), fewer(8);
    CHECK_THROWS_WITH_AS(comm.to_worker(1, {}, more),
                         doctest::Contains("rank 1 expected 12 values from rank 0, received 10"), Error);
    CHECK_THROWS_WITH_AS(comm.to_worker(1, {}, fewer),
                         doctest::Contains("rank 1 expected 8 values from rank 0, but rank 0 sent more"), Error);
  }
  comm.barrier();
  // Out-of-range workers and unequal local copies are misuse.
  CHECK_THROWS_WITH_AS(comm.to_worker(comm.num_workers(), {}, {}), doctest::Contains("is out of range"), Error);
  if (comm.is_coordinator()) {
    std::vector<float> small(3);
    CHECK_THROWS_WITH_AS(comm.to_worker(0, src, small), doctest::Contains("expected equal sizes, found 10 and 3"),
                         Error);
  }
}

// The Communicator contract every communicator runs (tests/communicator_conformance.hpp), across ranks.
namespace {
struct OverMpi {
  static MpiComm make() { return MpiComm(); }
};
struct AnyOverMpi {
  static AnyComm make() { return MpiComm(); }
};
}  // namespace
TEST_CASE_TEMPLATE_DEFINE("mpi comm: communicator conformance", F, mpi_communicator_conformance) {
  MPI_RANK_INFO();
  auto comm = F::make();
  conformance::check_communicator_contract(comm);
}
TEST_CASE_TEMPLATE_INVOKE(mpi_communicator_conformance, OverMpi, AnyOverMpi);

}  // namespace test_mpi_comm
