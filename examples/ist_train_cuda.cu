// ist-train --backend cuda: the same training loop (train_run.hpp) on ist::CudaBackend, with the S workers as
// CUDA streams on one GPU (ist::cuda::StreamComm), or under mpirun one worker per rank and GPU
// (ist::cuda::NcclComm). Compiled into ist-train when the CUDA backend is built.
#include <string>

#include "ist/backend/cuda/adam.cuh"
#include "ist/backend/cuda/cuda_backend.cuh"
#include "ist/backend/cuda/novograd.cuh"  // the CUDA side of each optimizer in optimizer_registry.hpp
#include "ist/backend/cuda/sgd.cuh"
#if IST_WITH_MPI && IST_WITH_NCCL
#include "ist/backend/cuda/nccl_mpi.cuh"
#endif
#include "model_registry.hpp"
#include "train_run.hpp"

namespace ist::examples {

int run_on_cuda(const TrainOptions& o, const ImageDataset& train, const ImageDataset& test) {
  cuda::CudaOptions options;
  options.allow_tf32 = o.tf32;
  options.deterministic = !o.cudnn_benchmark;
  options.conv_search = o.cudnn_benchmark ? cuda::ConvAlgoSearch::Benchmark : cuda::ConvAlgoSearch::Heuristic;
  if (o.under_mpi) {
#if IST_WITH_MPI && IST_WITH_NCCL
    // One worker per rank and GPU; slices move with NCCL. --gpu is ignored: each rank takes its node-local GPU.
    return with_model(o.model, train.c, [&]<class Net>() {
      return run<Net>(o, CudaBackend<cuda::NcclComm>(cuda::nccl_comm_from_mpi(MPI_COMM_WORLD), options),
                      std::string("(MPI ranks, one GPU each, NCCL)") + (o.tf32 ? " (TF32)" : " (FP32)"), train, test);
    });
#else
    fail("--backend cuda under mpirun: this ist-train was built without NCCL or MPI (ist::nccl, ist::mpi); run "
         "one process with the workers as streams on one GPU, or rebuild where NCCL and MPI are found");
#endif
  }
  const int workers = o.protocol == "single" ? 1 : o.workers;
  const std::string where = "as CUDA streams on GPU " + std::to_string(o.gpu) + (o.tf32 ? " (TF32)" : " (FP32)");
  return with_model(o.model, train.c, [&]<class Net>() {
    return run<Net>(o, CudaBackend<cuda::StreamComm>(cuda::StreamComm(workers, o.gpu, !o.sequential), options),
                    where, train, test);
  });
}

}  // namespace ist::examples
