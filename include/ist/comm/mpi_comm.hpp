#pragma once
// MpiComm: one worker per MPI rank, on any number of hosts. S is the communicator's size; rank 0 is the
// coordinator (it holds the global model, sends each worker its slices, receives and merges them) and also
// runs worker 0; rank w runs worker w.
//
//   MPI_Init(&argc, &argv);
//   {
//     ist::IndependentSubnetTrainer<Net, ist::LayerwiseRandom> trainer(
//         ist::LayerwiseRandom{}, ist::HolderAverage{}, ist::CpuBackend<ist::MpiComm>(ist::MpiComm()), config);
//     trainer.fit(train, test);   // every rank calls it; rank 0 prints and holds the trained model
//   }                             // the MpiComm is freed here, before
//   MPI_Finalize();
//
// Messages:
//   - slices: point to point, MPI_Send / MPI_Recv between rank 0 and rank w (tags kTagToWorker,
//     kTagToCoordinator); worker 0's slices are a copy inside rank 0. Plans are computed on every rank
//     from (seed, round, S), so no index lists travel, only values.
//   - encoded slices (to_worker_bytes / to_coordinator_bytes, for transfer codecs): one MPI_Send of
//     MPI_BYTE (tags kTagBytesToWorker, kTagBytesToCoordinator); the receiver sizes its buffer with
//     MPI_Probe and MPI_Get_count, and the codec's decoder checks the payload.
//   - to_all_workers (every worker holds the same sub-network, Replicate): one MPI_Bcast.
//   - check_round: one MPI_Allgather of (round, fingerprint), 16 bytes per rank, per round.
//   - all_sum: one MPI_Allreduce of the trainer's per-worker statistics, per round and per evaluation.
// The ledger counts slices exactly as InProcessComm does: rank 0's ledger holds every worker's traffic
// (worker 0's local copy included) and equals the in-process ledger byte for byte; rank w's ledger holds
// the bytes it received and sent as worker w. Collectives of the consistency check and the statistics
// are not slices and are not counted.
//
// Errors: every MPI call goes through IST_MPI_CHECK; MpiComm's communicator (a duplicate of the one given)
// has MPI_ERRORS_RETURN, so failures throw ist::Error naming the call, the rank and MPI's message. A
// message of the wrong size and ranks that disagree on the round throw ist::Error too. Library code
// never aborts: a program ends a job whose rank threw with MPI_Abort at its top level (see
// examples/ist_train.cpp); the other ranks are then stopped by MPI instead of waiting.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <sstream>
#include <utility>
#include <vector>

#include "ist/comm/communicator.hpp"
#include "ist/comm/ledger.hpp"
#include "ist/comm/mpi_check.hpp"
#include "ist/core/error.hpp"

namespace ist {

class MpiComm {
 public:
  static constexpr int kCoordinator = 0;
  static constexpr int kTagToWorker = 0x157;
  static constexpr int kTagToCoordinator = 0x158;
  static constexpr int kTagBytesToWorker = 0x159;
  static constexpr int kTagBytesToCoordinator = 0x15a;

  // Duplicates `comm` (default MPI_COMM_WORLD), so that ist's messages never match the application's, and
  // sets MPI_ERRORS_RETURN on the duplicate. Collective over `comm`. MPI must be initialized; destroy the
  // MpiComm before MPI_Finalize.
  explicit MpiComm(MPI_Comm comm = MPI_COMM_WORLD) {
    int initialized = 0, finalized = 0;
    IST_MPI_CHECK(MPI_Initialized(&initialized));
    IST_MPI_CHECK(MPI_Finalized(&finalized));
    IST_CHECK(initialized && !finalized, "ist::MpiComm: MPI is ", finalized ? "already finalized" : "not initialized",
              "; call MPI_Init before and MPI_Finalize after every MpiComm's lifetime");
    IST_MPI_CHECK(MPI_Comm_dup(comm, &comm_));
    IST_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    IST_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    IST_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  }
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;
  MpiComm(MpiComm&& o) noexcept
      : comm_(std::exchange(o.comm_, MPI_COMM_NULL)), rank_(o.rank_), size_(o.size_), ledger_(std::move(o.ledger_)) {}
  MpiComm& operator=(MpiComm&& o) noexcept {
    if (this != &o) {
      release();
      comm_ = std::exchange(o.comm_, MPI_COMM_NULL);
      rank_ = o.rank_;
      size_ = o.size_;
      ledger_ = std::move(o.ledger_);
    }
    return *this;
  }
  ~MpiComm() { release(); }

  int num_workers() const { return size_; }
  int rank() const { return rank_; }
  bool is_coordinator() const { return rank_ == kCoordinator; }
  bool is_local(int w) const { return w == rank_; }
  // The duplicated communicator all of MpiComm's messages use.
  MPI_Comm handle() const { return comm_; }

  // Rank 0 sends src to rank w (a copy for w = 0); rank w receives into dst; other ranks do nothing.
  void to_worker(int w, std::span<const float> src, std::span<float> dst) {
    check_worker(w, "to_worker");
    if (rank_ == kCoordinator) {
      if (w == kCoordinator)
        copy(src, dst, "to_worker");
      else
        send(src, w, kTagToWorker);
      ledger_.add_to_worker(w, src.size_bytes());
    } else if (rank_ == w) {
      receive(dst, kCoordinator, kTagToWorker, "to_worker");
      ledger_.add_to_worker(w, dst.size_bytes());
    }
  }

  // Rank w sends src to rank 0 (a copy for w = 0); rank 0 receives into dst; other ranks do nothing.
  void to_coordinator(int w, std::span<const float> src, std::span<float> dst) {
    check_worker(w, "to_coordinator");
    if (rank_ == kCoordinator) {
      if (w == kCoordinator)
        copy(src, dst, "to_coordinator");
      else
        receive(dst, w, kTagToCoordinator, "to_coordinator");
      ledger_.add_from_worker(w, dst.size_bytes());
    } else if (rank_ == w) {
      send(src, kCoordinator, kTagToCoordinator);
      ledger_.add_from_worker(w, src.size_bytes());
    }
  }

  // Encoded slices (ist/codec): rank 0 sends src to rank w (a copy for w = 0), rank w receives a payload of
  // any length into dst. Counted as the payload's bytes.
  void to_worker_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) {
    check_worker(w, "to_worker_bytes");
    if (rank_ == kCoordinator) {
      if (w == kCoordinator)
        dst.assign(src.begin(), src.end());
      else
        send_bytes(src, w, kTagBytesToWorker, "to_worker_bytes");
      ledger_.add_to_worker(w, src.size());
    } else if (rank_ == w) {
      receive_bytes(dst, kCoordinator, kTagBytesToWorker, "to_worker_bytes");
      ledger_.add_to_worker(w, dst.size());
    }
  }
  void to_coordinator_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) {
    check_worker(w, "to_coordinator_bytes");
    if (rank_ == kCoordinator) {
      if (w == kCoordinator)
        dst.assign(src.begin(), src.end());
      else
        receive_bytes(dst, w, kTagBytesToCoordinator, "to_coordinator_bytes");
      ledger_.add_from_worker(w, dst.size());
    } else if (rank_ == w) {
      send_bytes(src, kCoordinator, kTagBytesToCoordinator, "to_coordinator_bytes");
      ledger_.add_from_worker(w, src.size());
    }
  }

  // The same values to every worker: one MPI_Bcast from rank 0 (src there; every rank's dst receives).
  // Every rank must call it with dst of the same size. On rank 0, src may be dst itself (worker 0's buffer,
  // as the trainer passes it): then nothing is copied. Counted as to_worker(w, ...) for every w on rank 0,
  // and for its own worker on rank w.
  void to_all_workers(std::span<const float> src, std::span<float> dst) {
    std::span<float> buffer = dst;
    if (rank_ == kCoordinator) {
      if (src.data() != dst.data() || src.size() != dst.size()) copy(src, dst, "to_all_workers");
      buffer = std::span<float>(const_cast<float*>(src.data()), src.size());  // MPI_Bcast only reads at the root
    }
    for (std::size_t at = 0; at < buffer.size(); at += kMaxChunk) {
      const int n = int(std::min(kMaxChunk, buffer.size() - at));
      IST_MPI_CHECK(MPI_Bcast(buffer.data() + at, n, MPI_FLOAT, kCoordinator, comm_));
    }
    const std::uint64_t bytes = buffer.size_bytes();
    if (rank_ == kCoordinator) {
      for (int w = 0; w < size_; ++w) ledger_.add_to_worker(w, bytes);
    } else {
      ledger_.add_to_worker(rank_, bytes);
    }
  }

  // Runs this rank's worker on the calling thread.
  void run_workers(std::function<void(int)> f) { f(rank_); }

  // Every rank passes the same (round, fingerprint), or every rank throws ist::Error naming the ranks that
  // differ from rank 0. One MPI_Allgather of 16 bytes per rank.
  void check_round(std::uint64_t round, std::uint64_t fingerprint) {
    const std::uint64_t mine[2] = {round, fingerprint};
    all_.resize(2 * std::size_t(size_));
    IST_MPI_CHECK(MPI_Allgather(mine, 2, MPI_UINT64_T, all_.data(), 2, MPI_UINT64_T, comm_));
    std::vector<int> differ;
    for (int r = 1; r < size_; ++r)
      if (all_[2 * std::size_t(r)] != all_[0] || all_[2 * std::size_t(r) + 1] != all_[1]) differ.push_back(r);
    if (differ.empty()) return;
    std::ostringstream os;
    os << std::hex;
    const auto describe = [&](int r) {
      os << "rank " << std::dec << r << " is at round " << all_[2 * std::size_t(r)] << " with fingerprint 0x"
         << std::hex << all_[2 * std::size_t(r) + 1];
    };
    describe(0);
    for (std::size_t i = 0; i < differ.size() && i < 8; ++i) {
      os << (i == 0 ? ", but " : ", ");
      describe(differ[i]);
    }
    if (differ.size() > 8) os << " (and " << std::dec << differ.size() - 8 << " more ranks differ)";
    fail("ist::MpiComm::check_round: this is rank ", rank_, " of ", size_, ": the ranks disagree on the round: ",
         os.str(),
         ". Every rank must compute the same plan from (seed, round, S): run the same program with the same "
         "seed, model, decomposer and options on every rank");
  }

  // values[i] becomes the sum of values[i] over all ranks, on every rank (MPI_Allreduce).
  void all_sum(std::span<double> values) {
    for (std::size_t at = 0; at < values.size(); at += kMaxChunk) {
      const int n = int(std::min(kMaxChunk, values.size() - at));
      IST_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values.data() + at, n, MPI_DOUBLE, MPI_SUM, comm_));
    }
  }

  // Waits until every rank has called it.
  void barrier() { IST_MPI_CHECK(MPI_Barrier(comm_)); }

  CommLedger& ledger() { return ledger_; }

 private:
  // MPI counts are int: longer messages go in pieces of at most 2^30 values.
  static constexpr std::size_t kMaxChunk = std::size_t(1) << 30;

  void check_worker(int w, const char* what) const {
    IST_CHECK(w >= 0 && w < size_, "ist::MpiComm::", what, ": worker ", w, " is out of range [0, ", size_,
              ") (one worker per rank)");
  }

  void send(std::span<const float> src, int to, int tag) {
    for (std::size_t at = 0; at < src.size() || at == 0; at += kMaxChunk) {
      const int n = int(std::min(kMaxChunk, src.size() - at));
      IST_MPI_CHECK(MPI_Send(src.data() + at, n, MPI_FLOAT, to, tag, comm_));
      if (src.empty()) break;
    }
  }

  void receive(std::span<float> dst, int from, int tag, const char* what) {
    for (std::size_t at = 0; at < dst.size() || at == 0; at += kMaxChunk) {
      const int n = int(std::min(kMaxChunk, dst.size() - at));
      MPI_Status status;
      const int rc = MPI_Recv(dst.data() + at, n, MPI_FLOAT, from, tag, comm_, &status);
      if (rc != MPI_SUCCESS) {
        int cls = rc;
        MPI_Error_class(rc, &cls);
        if (cls == MPI_ERR_TRUNCATE)
          fail("ist::MpiComm::", what, ": rank ", rank_, " expected ", dst.size(), " values from rank ", from,
               ", but rank ", from, " sent more (MPI_ERR_TRUNCATE); the ranks disagree on the sub-network sizes");
        detail::throw_mpi_error("MPI_Recv", __FILE__, __LINE__, rc);
      }
      int got = 0;
      IST_MPI_CHECK(MPI_Get_count(&status, MPI_FLOAT, &got));
      IST_CHECK(got == n, "ist::MpiComm::", what, ": rank ", rank_, " expected ", dst.size(), " values from rank ",
                from, ", received ", std::size_t(got) + at, "; the ranks disagree on the sub-network sizes");
      if (dst.empty()) break;
    }
  }

  void send_bytes(std::span<const std::byte> src, int to, int tag, const char* what) {
    IST_CHECK(src.size() <= std::size_t(INT_MAX), "ist::MpiComm::", what, ": rank ", rank_, ": expected a payload of at "
              "most ", INT_MAX, " bytes, found ", src.size());
    IST_MPI_CHECK(MPI_Send(src.data(), int(src.size()), MPI_BYTE, to, tag, comm_));
  }
  void receive_bytes(std::vector<std::byte>& dst, int from, int tag, const char* what) {
    MPI_Status status;
    IST_MPI_CHECK(MPI_Probe(from, tag, comm_, &status));
    int n = 0;
    IST_MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &n));
    IST_CHECK(n >= 0, "ist::MpiComm::", what, ": rank ", rank_, ": expected a byte count from rank ", from,
              ", found none");
    dst.resize(std::size_t(n));
    IST_MPI_CHECK(MPI_Recv(dst.data(), n, MPI_BYTE, from, tag, comm_, MPI_STATUS_IGNORE));
  }

  void copy(std::span<const float> src, std::span<float> dst, const char* what) const {
    IST_CHECK(src.size() == dst.size(), "ist::MpiComm::", what, ": rank ", rank_, ": expected equal sizes, found ",
              src.size(), " and ", dst.size());
    if (!src.empty()) std::memcpy(dst.data(), src.data(), src.size_bytes());
  }

  // From the destructor: status codes are ignored (nothing may throw there), and after MPI_Finalize the
  // communicator is gone already.
  void release() noexcept {
    if (comm_ == MPI_COMM_NULL) return;
    int finalized = 1;
    if (MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Comm_free(&comm_);
    comm_ = MPI_COMM_NULL;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  CommLedger ledger_;
  std::vector<std::uint64_t> all_;
};

static_assert(Communicator<MpiComm>);
static_assert(ChecksRounds<MpiComm> && BroadcastsToWorkers<MpiComm> && SumsOverProcesses<MpiComm> && MovesBytes<MpiComm>);

}  // namespace ist
