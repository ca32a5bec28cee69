#pragma once
// InProcessComm: S workers as threads of this process; the calling thread coordinates. A transfer is a
// copy between the coordinator's and the worker's buffers, counted in the ledger exactly as a message
// between processes would be.
#include <cstddef>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "ist/comm/communicator.hpp"
#include "ist/comm/ledger.hpp"
#include "ist/core/error.hpp"

namespace ist {

// A transfer codec's byte payload between the coordinator and worker w of one process: a copy, counted in the
// ledger as the message between processes would be. How the in-process communicators (InProcessComm here,
// cuda::StreamComm for workers on one GPU, whose codecs encode on the host too) move payloads.
enum class PayloadWay { ToWorker, ToCoordinator };
inline void copy_payload(CommLedger& ledger, PayloadWay way, int w, std::span<const std::byte> src,
                         std::vector<std::byte>& dst) {
  dst.assign(src.begin(), src.end());
  if (way == PayloadWay::ToWorker)
    ledger.add_to_worker(w, src.size());
  else
    ledger.add_from_worker(w, src.size());
}

// Runs f(w) for w in [0, workers): each on its own thread when `concurrent` (and workers > 1), else one after
// another on the calling thread. Waits for all; rethrows the first exception. The worker loop of the
// in-process communicators (InProcessComm here, cuda::StreamComm for workers on one GPU).
inline void run_on_threads(int workers, bool concurrent, const std::function<void(int)>& f) {
  std::exception_ptr first;
  std::mutex m;
  auto guarded = [&](int w) {
    try {
      f(w);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m);
      if (!first) first = std::current_exception();
    }
  };
  if (workers == 1 || !concurrent) {
    for (int w = 0; w < workers; ++w) guarded(w);
  } else {
    std::vector<std::thread> threads;
    threads.reserve(std::size_t(workers));
    for (int w = 0; w < workers; ++w) threads.emplace_back(guarded, w);
    for (auto& t : threads) t.join();
  }
  if (first) std::rethrow_exception(first);
}

class InProcessComm {
 public:
  // concurrent = false runs the workers one after another on the calling thread: slower, but each
  // worker's compute time is then measured without the others competing for cores.
  explicit InProcessComm(int workers, bool concurrent = true) : workers_(workers), concurrent_(concurrent) {
    IST_CHECK(workers >= 1, "ist::InProcessComm: expected at least 1 worker, found ", workers);
  }
  int num_workers() const { return workers_; }
  bool is_coordinator() const { return true; }
  bool is_local(int) const { return true; }

  void to_worker(int w, std::span<const float> src, std::span<float> dst) {
    copy(src, dst, "to_worker");
    ledger_.add_to_worker(w, src.size_bytes());
  }
  void to_coordinator(int w, std::span<const float> src, std::span<float> dst) {
    copy(src, dst, "to_coordinator");
    ledger_.add_from_worker(w, src.size_bytes());
  }

  // Encoded slices (ist/codec): the payload is copied; the ledger counts its bytes.
  void to_worker_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) {
    copy_payload(ledger_, PayloadWay::ToWorker, w, src, dst);
  }
  void to_coordinator_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) {
    copy_payload(ledger_, PayloadWay::ToCoordinator, w, src, dst);
  }

  void run_workers(std::function<void(int)> f) { run_on_threads(workers_, concurrent_, f); }

  CommLedger& ledger() { return ledger_; }

 private:
  static void copy(std::span<const float> src, std::span<float> dst, const char* what) {
    IST_CHECK(src.size() == dst.size(), "ist::InProcessComm::", what, ": expected equal sizes, found ", src.size(),
              " and ", dst.size());
    std::memcpy(dst.data(), src.data(), src.size_bytes());
  }
  int workers_;
  bool concurrent_;
  CommLedger ledger_;
};

static_assert(Communicator<InProcessComm> && MovesBytes<InProcessComm>);

}  // namespace ist
