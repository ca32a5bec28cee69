#pragma once
// ist::cuda::NcclComm: one worker per process and GPU, slices moved with NCCL point-to-point calls; rank 0
// coordinates (holds the global model in host memory, merges), as with ist::MpiComm.
//
//   // every process, after MPI_Init (ist/backend/cuda/nccl_mpi.cuh): the NCCL id travels over MPI
//   auto comm = ist::cuda::nccl_comm_from_mpi(MPI_COMM_WORLD);          // GPU = local rank % GPUs
//   ist::CudaBackend<ist::cuda::NcclComm> backend(std::move(comm));
//   // or one process, one GPU, one worker (ncclCommInitAll):
//   auto one = ist::cuda::NcclComm::single_process(0);
//
// Transfers: to_worker stages the coordinator's host slices on its GPU and ncclSend's them to rank w, which
// ncclRecv's into its worker's device buffer; to_coordinator is the reverse; to_worker_bytes and
// to_coordinator_bytes move a transfer codec's host payloads, staged on the GPUs. Rank 0's own worker goes
// through NCCL too (a send to itself), so a single GPU exercises the same calls. Every call returns when its data
// has arrived. The ledger counts what the CPU communicators count: on the coordinator every transfer, on a
// worker its own. check_round (ncclAllReduce of min and max of the fingerprint) and all_sum (of doubles) are
// provided, so the trainer runs on every rank as it does under MpiComm. to_all_workers is not: the trainer
// then sends each worker its slices, which moves the same bytes.
//
// Errors: every NCCL call is checked; the message names the call, file, line, rank, NCCL's error string and
// its last-error text.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/device_buffer.cuh"
#include "ist/comm/communicator.hpp"
#include "ist/comm/ledger.hpp"
#include "ist/core/error.hpp"

namespace ist::cuda {

namespace detail {

[[noreturn]] inline void throw_nccl_error(const char* call, const char* file, int line, int rank, ncclResult_t status,
                                          ncclComm_t comm) {
  std::string text = ncclGetErrorString(status);
  const char* last = ncclGetLastError(comm);
  if (last && *last) text += ::ist::detail::concat(" (", last, ")");
  ::ist::fail("ist::cuda::NcclComm: ", call, " failed at ", file_name(file), ":", line, " on rank ", rank, ": ", text);
}

}  // namespace detail

// ncclResult_t-returning calls, inside NcclComm (names the rank).
#define IST_NCCL_CHECK(call)                                                                                 \
  do {                                                                                                       \
    const ncclResult_t ist_nccl_status_ = (call);                                                            \
    if (ist_nccl_status_ != ncclSuccess)                                                                     \
      ::ist::cuda::detail::throw_nccl_error(#call, __FILE__, __LINE__, rank_, ist_nccl_status_, comm_.get()); \
  } while (0)

class NcclComm {
 public:
  // Worker-side spans are device memory (CudaBackend requires this).
  static constexpr bool accepts_device_memory = true;
  static constexpr int kCoordinator = 0;

  // Rank `rank` of `ranks`, on GPU `device`; every rank calls this with the same id (ncclGetUniqueId on one
  // rank, shared by the caller: nccl_comm_from_mpi does it over MPI).
  NcclComm(const ncclUniqueId& id, int rank, int ranks, int device) : rank_(rank), size_(ranks), device_(device) {
    IST_CHECK(ranks >= 1 && rank >= 0 && rank < ranks, "ist::cuda::NcclComm: expected 0 <= rank < ranks, found rank ",
              rank, " of ", ranks);
    select_device();
    ncclComm_t c = nullptr;
    IST_NCCL_CHECK(ncclCommInitRank(&c, ranks, id, rank));
    comm_.reset(c);
    make_stream();
  }

  // One process, one GPU, one worker: ncclCommInitAll over `device`.
  static NcclComm single_process(int device = 0) { return NcclComm(device); }

  // An id for NcclComm(id, rank, ranks, device), made on one rank and shared with the others.
  static ncclUniqueId unique_id() {
    ncclUniqueId id;
    const ncclResult_t status = ncclGetUniqueId(&id);
    if (status != ncclSuccess) fail("ist::cuda::NcclComm: ncclGetUniqueId failed: ", ncclGetErrorString(status));
    return id;
  }

  int num_workers() const { return size_; }
  int rank() const { return rank_; }
  int device() const { return device_; }
  bool is_coordinator() const { return rank_ == kCoordinator; }
  bool is_local(int w) const { return w == rank_; }

  // Coordinator (host src) -> worker w (device dst).
  void to_worker(int w, std::span<const float> src, std::span<float> dst) {
    check_worker(w, "to_worker");
    const bool sending = is_coordinator(), receiving = rank_ == w;
    if (!sending && !receiving) return;
    std::size_t n = sending ? src.size() : dst.size();
    if (sending && receiving)
      IST_CHECK(src.size() == dst.size(), "ist::cuda::NcclComm::to_worker: expected equal sizes, found ", src.size(),
                " and ", dst.size());
    if (sending) {
      staging_.resize(n);
      IST_CUDA_CHECK(cudaMemcpyAsync(staging_.data(), src.data(), src.size_bytes(), cudaMemcpyDefault, stream_.get()));
    }
    IST_NCCL_CHECK(ncclGroupStart());
    if (sending) IST_NCCL_CHECK(ncclSend(staging_.data(), n, ncclFloat, w, comm_.get(), stream_.get()));
    if (receiving) IST_NCCL_CHECK(ncclRecv(dst.data(), n, ncclFloat, kCoordinator, comm_.get(), stream_.get()));
    IST_NCCL_CHECK(ncclGroupEnd());
    IST_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    ledger_.add_to_worker(w, n * sizeof(float));
  }

  // Worker w (device src) -> coordinator (host dst). The worker's stream must be idle (run_workers ends so).
  void to_coordinator(int w, std::span<const float> src, std::span<float> dst) {
    check_worker(w, "to_coordinator");
    const bool receiving = is_coordinator(), sending = rank_ == w;
    if (!sending && !receiving) return;
    const std::size_t n = receiving ? dst.size() : src.size();
    if (sending && receiving)
      IST_CHECK(src.size() == dst.size(), "ist::cuda::NcclComm::to_coordinator: expected equal sizes, found ",
                src.size(), " and ", dst.size());
    if (receiving) staging_.resize(n);
    IST_NCCL_CHECK(ncclGroupStart());
    if (sending) IST_NCCL_CHECK(ncclSend(src.data(), n, ncclFloat, kCoordinator, comm_.get(), stream_.get()));
    if (receiving) IST_NCCL_CHECK(ncclRecv(staging_.data(), n, ncclFloat, w, comm_.get(), stream_.get()));
    IST_NCCL_CHECK(ncclGroupEnd());
    if (receiving && n > 0)
      IST_CUDA_CHECK(cudaMemcpyAsync(dst.data(), staging_.data(), n * sizeof(float), cudaMemcpyDefault, stream_.get()));
    IST_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    ledger_.add_from_worker(w, n * sizeof(float));
  }

  // Byte payloads of a transfer codec (ist/codec), host memory on both sides: staged on the GPUs, the length
  // first (the receiver does not know it), then the bytes. The ledger counts the payload's length.
  void to_worker_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) {
    check_worker(w, "to_worker_bytes");
    if (!is_coordinator() && rank_ != w) return;
    ledger_.add_to_worker(w, move_bytes(kCoordinator, w, src, dst));
  }
  void to_coordinator_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) {
    check_worker(w, "to_coordinator_bytes");
    if (!is_coordinator() && rank_ != w) return;
    ledger_.add_from_worker(w, move_bytes(w, kCoordinator, src, dst));
  }

  // f(rank): this process's worker, with its GPU current.
  void run_workers(std::function<void(int)> f) {
    select_device();
    f(rank_);
  }

  // Throws on every rank when the ranks disagree on the round or its fingerprint.
  void check_round(std::uint64_t round, std::uint64_t fingerprint) {
    const std::uint64_t mine[2] = {round, fingerprint};
    std::uint64_t lo[2], hi[2];
    all_reduce_u64(mine, lo, ncclMin);
    all_reduce_u64(mine, hi, ncclMax);
    IST_CHECK(lo[0] == hi[0] && lo[1] == hi[1], "ist::cuda::NcclComm::check_round: this is rank ", rank_, " of ", size_,
              ": the ranks disagree on the round (rounds ", lo[0], "..", hi[0], ", fingerprints differ: ",
              lo[1] != hi[1] ? "yes" : "no", "). Every rank must compute the same plan from (seed, round, S): run "
              "the same program with the same seed, model, decomposer and options on every rank");
  }

  // values[i] becomes the sum over ranks, on every rank.
  void all_sum(std::span<double> values) {
    if (values.empty()) return;
    sums_.resize(values.size());
    IST_CUDA_CHECK(cudaMemcpyAsync(sums_.data(), values.data(), values.size_bytes(), cudaMemcpyHostToDevice,
                                   stream_.get()));
    IST_NCCL_CHECK(ncclAllReduce(sums_.data(), sums_.data(), values.size(), ncclFloat64, ncclSum, comm_.get(),
                                 stream_.get()));
    IST_CUDA_CHECK(cudaMemcpyAsync(values.data(), sums_.data(), values.size_bytes(), cudaMemcpyDeviceToHost,
                                   stream_.get()));
    IST_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  }

  CommLedger& ledger() { return ledger_; }

 private:
  struct CommDeleter {
    void operator()(ncclComm_t c) const noexcept { ncclCommDestroy(c); }
  };
  struct StreamDeleter {
    void operator()(cudaStream_t s) const noexcept {
      cudaStreamSynchronize(s);
      cudaStreamDestroy(s);
    }
  };

  explicit NcclComm(int device) : rank_(0), size_(1), device_(device) {
    select_device();
    ncclComm_t c = nullptr;
    IST_NCCL_CHECK(ncclCommInitAll(&c, 1, &device_));
    comm_.reset(c);
    make_stream();
  }

  void select_device() {
    const int count = detail::device_count();
    IST_CHECK(count > 0, "ist::cuda::NcclComm: no CUDA device (rank ", rank_, ")");
    IST_CHECK(device_ >= 0 && device_ < count, "ist::cuda::NcclComm: rank ", rank_, ": expected a device in [0, ",
              count, "), found ", device_);
    IST_CUDA_CHECK(cudaSetDevice(device_));
  }
  void make_stream() {
    cudaStream_t s = nullptr;
    IST_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    stream_.reset(s);
  }
  void check_worker(int w, const char* what) const {
    IST_CHECK(w >= 0 && w < size_, "ist::cuda::NcclComm::", what, ": expected a worker in [0, ", size_, "), found ", w);
  }
  void all_reduce_u64(const std::uint64_t (&in)[2], std::uint64_t (&out)[2], ncclRedOp_t op) {
    u64_.resize(2);
    IST_CUDA_CHECK(cudaMemcpyAsync(u64_.data(), in, sizeof(in), cudaMemcpyHostToDevice, stream_.get()));
    IST_NCCL_CHECK(ncclAllReduce(u64_.data(), u64_.data(), 2, ncclUint64, op, comm_.get(), stream_.get()));
    IST_CUDA_CHECK(cudaMemcpyAsync(out, u64_.data(), sizeof(out), cudaMemcpyDeviceToHost, stream_.get()));
    IST_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
  }

  // Rank `from` sends src, rank `to` receives it into dst (resized to the sent length); either may be this
  // rank, or both (rank 0's own worker). Returns the payload's length in bytes.
  std::size_t move_bytes(int from, int to, std::span<const std::byte> src, std::vector<std::byte>& dst) {
    const bool sending = rank_ == from, receiving = rank_ == to;
    select_device();
    length_.resize(2);  // [0] the length sent, [1] the length received
    std::uint64_t length = src.size();
    if (sending)
      IST_CUDA_CHECK(cudaMemcpyAsync(length_.data(), &length, sizeof(length), cudaMemcpyHostToDevice, stream_.get()));
    IST_NCCL_CHECK(ncclGroupStart());
    if (sending) IST_NCCL_CHECK(ncclSend(length_.data(), 1, ncclUint64, to, comm_.get(), stream_.get()));
    if (receiving) IST_NCCL_CHECK(ncclRecv(length_.data() + 1, 1, ncclUint64, from, comm_.get(), stream_.get()));
    IST_NCCL_CHECK(ncclGroupEnd());
    if (receiving)
      IST_CUDA_CHECK(
          cudaMemcpyAsync(&length, length_.data() + 1, sizeof(length), cudaMemcpyDeviceToHost, stream_.get()));
    IST_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    if (length == 0) {
      if (receiving) dst.clear();
      return 0;
    }
    if (sending) {
      bytes_out_.resize(length);
      IST_CUDA_CHECK(cudaMemcpyAsync(bytes_out_.data(), src.data(), length, cudaMemcpyHostToDevice, stream_.get()));
    }
    if (receiving) bytes_in_.resize(length);
    IST_NCCL_CHECK(ncclGroupStart());
    if (sending) IST_NCCL_CHECK(ncclSend(bytes_out_.data(), length, ncclUint8, to, comm_.get(), stream_.get()));
    if (receiving) IST_NCCL_CHECK(ncclRecv(bytes_in_.data(), length, ncclUint8, from, comm_.get(), stream_.get()));
    IST_NCCL_CHECK(ncclGroupEnd());
    if (receiving) {
      dst.resize(length);
      IST_CUDA_CHECK(cudaMemcpyAsync(dst.data(), bytes_in_.data(), length, cudaMemcpyDeviceToHost, stream_.get()));
    }
    IST_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    return std::size_t(length);
  }

  int rank_, size_, device_;
  std::unique_ptr<ncclComm, CommDeleter> comm_;
  std::unique_ptr<CUstream_st, StreamDeleter> stream_;
  DeviceBuffer<float> staging_;
  DeviceBuffer<double> sums_;
  DeviceBuffer<std::uint64_t> u64_, length_;
  DeviceBuffer<std::uint8_t> bytes_out_, bytes_in_;
  CommLedger ledger_;
};

static_assert(Communicator<NcclComm> && MovesBytes<NcclComm>);
static_assert(ChecksRounds<NcclComm> && SumsOverProcesses<NcclComm> && !BroadcastsToWorkers<NcclComm>);

}  // namespace ist::cuda
