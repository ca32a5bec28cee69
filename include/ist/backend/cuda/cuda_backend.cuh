#pragma once
// CudaBackend: the CUDA compute policy (cuDNN, cuBLAS and this folder's kernels) plus a communicator. Each
// worker gets its own CudaContext (stream, cuBLAS and cuDNN handles, algorithm caches) on the backend's
// device. The trainer, models, decomposers and aggregators are the CPU ones, unchanged:
//
//   ist::IndependentSubnetTrainer<Net, ist::LayerwiseRandom, ist::HolderAverage,
//                                 ist::CudaBackend<ist::cuda::StreamComm>>
//       trainer(ist::LayerwiseRandom{}, ist::HolderAverage{}, ist::CudaBackend(ist::cuda::StreamComm(4)), config);
//
// The coordinator keeps the global model in host memory; a worker's sub-network, gradients and optimizer
// state live on the GPU. Include from .cu files only.
#include <utility>

#include "ist/backend/backend.hpp"
#include "ist/backend/cuda/compute.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/cuda_options.cuh"
#include "ist/backend/cuda/evaluate.cuh"
#include "ist/backend/cuda/local_steps.cuh"
#include "ist/backend/cuda/sgd.cuh"  // the default optimizer (TrainerConfig::sgd)
#include "ist/backend/cuda/stream_comm.cuh"
#include "ist/comm/communicator.hpp"

namespace ist {

// A communicator for CudaBackend writes into and reads from workers' device buffers; it says so with
// `static constexpr bool accepts_device_memory = true` (cuda::StreamComm, cuda::NcclComm). The CPU ones
// (InProcessComm, MpiComm) copy with memcpy and MPI on host memory, so they are refused at compile time.
template <class C>
concept DeviceMemoryCommunicator = Communicator<C> && requires {
  requires C::accepts_device_memory;
};

template <class Comm = cuda::StreamComm>
class CudaBackend {
  static_assert(DeviceMemoryCommunicator<Comm>,
                "ist::CudaBackend: the communicator must move slices to and from device memory "
                "(cuda::StreamComm, cuda::NcclComm; one declaring static constexpr bool accepts_device_memory = "
                "true); InProcessComm and MpiComm copy host memory only");

 public:
  using Compute = cuda::Compute;
  using Communicator = Comm;

  // device: where the workers' contexts live (StreamComm: its own device is used when this is -1).
  explicit CudaBackend(Comm comm, cuda::CudaOptions options = {}, int device = -1)
      : comm_(std::move(comm)), options_(options), device_(device) {
    if constexpr (requires { comm_.device(); }) {
      if (device_ < 0) device_ = comm_.device();
    }
    if (device_ < 0) device_ = 0;
  }
  Comm& comm() { return comm_; }
  // One host thread drives each worker's stream.
  int threads_per_worker() const { return 1; }
  cuda::CudaContext make_context() const { return cuda::CudaContext(device_, options_); }
  const cuda::CudaOptions& options() const { return options_; }
  int device() const { return device_; }

 private:
  Comm comm_;
  cuda::CudaOptions options_;
  int device_;
};

static_assert(Backend<CudaBackend<>>);

}  // namespace ist
