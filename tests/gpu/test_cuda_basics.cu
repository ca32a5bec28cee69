// The CUDA backend's plumbing: checking macros, CudaContext, DeviceBuffer, the per-shape caches.
#include <doctest/doctest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "gpu_test_util.cuh"
#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/compute.cuh"

namespace test_cuda_basics {

using namespace ist;

namespace {
cudaError_t failing_cuda_call() { return cudaErrorInvalidValue; }
cublasStatus_t failing_cublas_call() { return CUBLAS_STATUS_INVALID_VALUE; }
cudnnStatus_t failing_cudnn_call() { return CUDNN_STATUS_BAD_PARAM; }
}  // namespace

TEST_CASE("cuda: checking macros throw ist::Error with the call, file, line and library message") {
  CHECK_THROWS_WITH_AS(IST_CUDA_CHECK(failing_cuda_call()),
                       doctest::Contains("ist::cuda: failing_cuda_call() failed at test_cuda_basics.cu:"), Error);
  CHECK_THROWS_WITH_AS(IST_CUDA_CHECK(failing_cuda_call()), doctest::Contains("cudaErrorInvalidValue"), Error);
  CHECK_THROWS_WITH_AS(IST_CUBLAS_CHECK(failing_cublas_call()), doctest::Contains("CUBLAS_STATUS_INVALID_VALUE"),
                       Error);
  CHECK_THROWS_WITH_AS(IST_CUDNN_CHECK(failing_cudnn_call()), doctest::Contains("CUDNN_STATUS_BAD_PARAM"), Error);
  CHECK_NOTHROW(IST_CUDA_CHECK(cudaSuccess));
}

TEST_CASE("cuda: CudaContext reports a missing device or a bad device id clearly") {
  if (cuda::detail::device_count() == 0) {
    CHECK_THROWS_WITH_AS(cuda::CudaContext(), doctest::Contains("ist::cuda::CudaContext: no CUDA device"), Error);
  } else {
    CHECK_THROWS_WITH_AS(cuda::CudaContext(1000), doctest::Contains("expected a device in [0, "), Error);
  }
}

TEST_SUITE("cuda-device") {
  TEST_CASE("cuda: DeviceBuffer round trips, grows keeping its contents, and checks ranges") {
    auto& ctx = test::gpu();
    std::vector<float> h(1000);
    std::iota(h.begin(), h.end(), 1.f);
    cuda::DeviceBuffer<float> b(std::span<const float>(h), ctx.stream());
    CHECK(b.size() == 1000);
    CHECK(b.to_host(ctx.stream()) == h);
    b.resize(3000);  // grows: old contents kept, new elements 0
    const auto grown = b.to_host(ctx.stream());
    CHECK(std::equal(h.begin(), h.end(), grown.begin()));
    CHECK(grown[2999] == 0.f);
    const float* before = b.data();
    b.resize(10);  // shrinking keeps the allocation
    CHECK(b.data() == before);
    CHECK(b.capacity() == 3000);
    cuda::DeviceBuffer<float> moved = std::move(b);
    CHECK(moved.size() == 10);
    CHECK(b.data() == nullptr);
    std::vector<float> part(4);
    moved.copy_to_host(part.data(), 4, ctx.stream(), 2);
    CHECK(part == std::vector<float>{3.f, 4.f, 5.f, 6.f});
    CHECK_THROWS_WITH_AS(moved.copy_to_host(part.data(), 4, ctx.stream(), 8),
                         doctest::Contains("expected at most 10 elements, found offset 8 + count 4"), Error);
  }

  TEST_CASE("cuda: a convolution shape is planned once and reused") {
    cuda::CudaContext ctx(0);
    const ConvShape s{2, 3, 8, 8, 4, 3, 1, 1};
    cuda::DeviceBuffer<float> x(s.in_size()), w(s.weight_size()), y(s.out_size()), dx(s.in_size()),
        dw(s.weight_size());
    cuda::Compute::conv2d_forward(ctx, s, x.data(), w.data(), y.data());
    cuda::Compute::conv2d_backward(ctx, s, x.data(), w.data(), y.data(), dx.data(), dw.data());
    cuda::Compute::conv2d_forward(ctx, s, x.data(), w.data(), y.data());
    ctx.synchronize();
    CHECK(ctx.conv_plan_count() == 1);
    const ConvShape t{2, 3, 8, 8, 4, 3, 2, 1};
    cuda::DeviceBuffer<float> y2(t.out_size());
    cuda::Compute::conv2d_forward(ctx, t, x.data(), w.data(), y2.data());
    CHECK(ctx.conv_plan_count() == 2);
    CHECK_THROWS_WITH_AS(cuda::Compute::conv2d_forward(ctx, ConvShape{2, 3, 2, 2, 4, 7, 1, 0}, x.data(), w.data(),
                                                       y.data()),
                         doctest::Contains("does not fit input 2x2"), Error);
  }
}

}  // namespace test_cuda_basics
