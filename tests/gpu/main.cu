// Test main of the GPU tests. Without a CUDA device it runs only the tests that need none (suite
// "cuda-device" is left out) and then, if they passed, prints "SKIPPED: no CUDA device ..." and exits with
// ist::test::kSkipExitCode (77), which ctest (SKIP_RETURN_CODE, tests/gpu/CMakeLists.txt) reports as
// skipped, not passed. The same when a test case skipped itself (IST_SKIP_TEST, e.g. no Fashion-MNIST)
// and none failed. A failure exits 1, as before.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdio>

#include "ist/backend/cuda/cuda_context.cuh"
#include "../skip.hpp"

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
  const int result = context.run();
  if (context.shouldExit() || result != 0) return result;  // --help, --list-test-cases, ...; or a failure
  if (devices == 0) {
    std::printf("SKIPPED: no CUDA device: the tests of suite cuda-device did not run\n");
    return ist::test::kSkipExitCode;
  }
  if (ist::test::skipped_tests() > 0) {
    std::printf("SKIPPED: %d test case(s) skipped themselves (see their SKIPPED lines above)\n",
                ist::test::skipped_tests().load());
    return ist::test::kSkipExitCode;
  }
  return 0;
}
