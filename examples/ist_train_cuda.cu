// ist-train --backend cuda: the same training loop (train_run.hpp) on ist::CudaBackend, with the S workers as
// CUDA streams on one GPU (ist::cuda::StreamComm). Compiled into ist-train when the CUDA backend is built.
#include <string>

#include "ist/backend/cuda/cuda_backend.cuh"
#include "model_registry.hpp"
#include "train_run.hpp"

namespace ist::examples {

int run_on_cuda(const TrainOptions& o, const ImageDataset& train, const ImageDataset& test) {
  cuda::CudaOptions options;
  options.allow_tf32 = o.tf32;
  options.deterministic = !o.cudnn_benchmark;
  options.conv_search = o.cudnn_benchmark ? cuda::ConvAlgoSearch::Benchmark : cuda::ConvAlgoSearch::Heuristic;
  const int workers = o.protocol == "single" ? 1 : o.workers;
  const std::string where = "as CUDA streams on GPU " + std::to_string(o.gpu) + (o.tf32 ? " (TF32)" : " (FP32)");
  return with_model(o.model, train.c, [&]<class Net>() {
    return run<Net>(o, CudaBackend<cuda::StreamComm>(cuda::StreamComm(workers, o.gpu, !o.sequential), options),
                    where, train, test);
  });
}

}  // namespace ist::examples
