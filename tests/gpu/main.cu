// Test main of the GPU tests. Without a CUDA device it says so and runs only the tests that need none
// (suite "cuda-device" is skipped), so ctest passes on machines without a GPU.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdio>

#include "ist/backend/cuda/cuda_context.cuh"

int main(int argc, char** argv) {
  doctest::Context context;
  const int devices = ist::cuda::detail::device_count();
  if (devices == 0) {
    std::printf("skipped: no CUDA device (only the tests that need no device run)\n");
    context.addFilter("test-suite-exclude", "cuda-device");
  } else {
    cudaDeviceProp prop{};
    int runtime = 0, driver = 0;
    cudaGetDeviceProperties(&prop, 0);
    cudaRuntimeGetVersion(&runtime);
    cudaDriverGetVersion(&driver);
    std::printf("device 0: %s (sm_%d%d, %d SMs, %.1f GiB); CUDA runtime %d, driver %d; cuDNN %zu (headers %d.%d.%d)\n",
                prop.name, prop.major, prop.minor, prop.multiProcessorCount,
                double(prop.totalGlobalMem) / (1024.0 * 1024 * 1024), runtime, driver, cudnnGetVersion(), CUDNN_MAJOR,
                CUDNN_MINOR, CUDNN_PATCHLEVEL);
  }
  context.applyCommandLine(argc, argv);
  return context.run();
}
