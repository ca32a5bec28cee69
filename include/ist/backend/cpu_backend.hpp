#pragma once
// CpuBackend: Eigen compute plus a communicator. Each worker gets its own CpuContext with
// threads_per_worker threads.
#include <utility>

#include "ist/backend/backend.hpp"
#include "ist/backend/eigen/compute.hpp"
#include "ist/comm/in_process_comm.hpp"

namespace ist {

template <class Comm = InProcessComm>
class CpuBackend {
 public:
  using Compute = eigen::Compute;
  using Communicator = Comm;

  CpuBackend(Comm comm, int threads_per_worker = 1) : comm_(std::move(comm)), threads_(threads_per_worker) {
    IST_CHECK(threads_per_worker >= 1, "ist::CpuBackend: expected threads_per_worker >= 1, found ",
              threads_per_worker);
  }
  Comm& comm() { return comm_; }
  int threads_per_worker() const { return threads_; }
  // The context a worker computes with.
  eigen::CpuContext make_context() const { return eigen::CpuContext(threads_); }
  // A context with `threads` threads: the engine evaluates the global model with the threads of all of this
  // process's workers (TrainerConfig::eval_threads).
  eigen::CpuContext make_context(int threads) const { return eigen::CpuContext(threads); }

 private:
  Comm comm_;
  int threads_;
};

static_assert(Backend<CpuBackend<>>);

}  // namespace ist
