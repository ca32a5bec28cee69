#pragma once
// ist::cuda::StreamComm: S workers on one GPU, each on its own host thread driving its own CUDA stream
// (the CudaContext the backend gives it); the calling thread coordinates and holds the global model in host
// memory. A transfer is one cudaMemcpyAsync between the coordinator's host buffer and the worker's device
// buffer, on a copy stream of this communicator, counted in the ledger exactly as a message between
// processes would be. This is how one GPU runs (and tests) S > 1.
//
//   ist::CudaBackend<ist::cuda::StreamComm> backend(ist::cuda::StreamComm(4));   // 4 workers on device 0
//
// Spans given to to_worker / to_coordinator: the coordinator's side is host memory, the worker's side device
// memory (any memory works: the copy kind is inferred from the pointers, cudaMemcpyDefault).
#include <cuda_runtime.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/comm/communicator.hpp"
#include "ist/comm/in_process_comm.hpp"
#include "ist/comm/ledger.hpp"
#include "ist/core/error.hpp"

namespace ist::cuda {

class StreamComm {
 public:
  // Worker-side spans are device memory (CudaBackend requires this).
  static constexpr bool accepts_device_memory = true;
  // Throws ist::Error when there is no CUDA device (or `device` does not exist).
  // concurrent = false runs the workers one after another on the calling thread.
  explicit StreamComm(int workers, int device = 0, bool concurrent = true)
      : workers_(workers), device_(device), concurrent_(concurrent) {
    IST_CHECK(workers >= 1, "ist::cuda::StreamComm: expected at least 1 worker, found ", workers);
    const int count = detail::device_count();
    IST_CHECK(count > 0, "ist::cuda::StreamComm: no CUDA device (workers as streams need one GPU)");
    IST_CHECK(device >= 0 && device < count, "ist::cuda::StreamComm: expected a device in [0, ", count, "), found ",
              device);
    IST_CUDA_CHECK(cudaSetDevice(device_));
    cudaStream_t s = nullptr;
    IST_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    copy_stream_.reset(s);
  }

  int num_workers() const { return workers_; }
  int device() const { return device_; }
  bool is_coordinator() const { return true; }
  bool is_local(int) const { return true; }

  // Coordinator (host) -> worker w (device). Returns when the copy is complete.
  void to_worker(int w, std::span<const float> src, std::span<float> dst) {
    copy(src, dst, "to_worker");
    ledger_.add_to_worker(w, src.size_bytes());
  }
  // Worker w (device) -> coordinator (host). The worker's stream must be idle (run_workers ends so).
  void to_coordinator(int w, std::span<const float> src, std::span<float> dst) {
    copy(src, dst, "to_coordinator");
    ledger_.add_from_worker(w, src.size_bytes());
  }

  // Byte payloads of a transfer codec (ist/codec): encoded and decoded on the host on both sides (the worker
  // uploads what it decoded, and downloads what it encodes), so a payload moves as a host copy; the ledger
  // counts its length, as a message between processes would be counted.
  void to_worker_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) {
    copy_payload(ledger_, PayloadWay::ToWorker, w, src, dst);
  }
  void to_coordinator_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) {
    copy_payload(ledger_, PayloadWay::ToCoordinator, w, src, dst);
  }

  // f(w) for every worker, each on its own thread with this communicator's device current.
  void run_workers(std::function<void(int)> f) {
    run_on_threads(workers_, concurrent_, [&](int w) {
      IST_CUDA_CHECK(cudaSetDevice(device_));
      f(w);
    });
  }

  CommLedger& ledger() { return ledger_; }

 private:
  struct StreamDeleter {
    void operator()(cudaStream_t s) const noexcept {
      cudaStreamSynchronize(s);
      cudaStreamDestroy(s);
    }
  };

  void copy(std::span<const float> src, std::span<float> dst, const char* what) {
    IST_CHECK(src.size() == dst.size(), "ist::cuda::StreamComm::", what, ": expected equal sizes, found ", src.size(),
              " and ", dst.size());
    if (src.empty()) return;
    IST_CUDA_CHECK(cudaSetDevice(device_));
    IST_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.size_bytes(), cudaMemcpyDefault, copy_stream_.get()));
    IST_CUDA_CHECK(cudaStreamSynchronize(copy_stream_.get()));
  }

  int workers_, device_;
  bool concurrent_;
  std::unique_ptr<CUstream_st, StreamDeleter> copy_stream_;
  CommLedger ledger_;
};

static_assert(Communicator<StreamComm> && MovesBytes<StreamComm>);

}  // namespace ist::cuda
