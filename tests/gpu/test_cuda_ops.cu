// Each op of ist::cuda::Compute against the same op of ist::eigen::Compute on random inputs (relative
// L2 error below 1e-4 in float; the loss to 1e-6).
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "gpu_test_util.cuh"
#include "ist/backend/cuda/compute.cuh"
#include "ist/backend/eigen/compute.hpp"

namespace test_cuda_ops {

using namespace ist;
using test::download;
using test::random_floats;
using test::rel_l2;
using test::upload;

namespace {
constexpr double op_tol = 1e-4;
}

TEST_SUITE("cuda-device") {
  TEST_CASE("cuda ops: conv2d forward and backward match Eigen") {
    auto& ctx = test::gpu();
    eigen::CpuContext cpu(2);
    const ConvShape shapes[] = {
        {3, 5, 9, 7, 6, 3, 1, 1},     // 3x3, odd sizes
        {2, 4, 9, 9, 8, 3, 2, 1},     // 3x3 stride 2 (down-sampling block)
        {2, 6, 8, 8, 5, 1, 2, 0},     // 1x1 stride 2 (projection shortcut)
        {2, 6, 5, 5, 7, 1, 1, 0},     // pointwise
        {4, 16, 28, 28, 16, 3, 1, 1}  // a ResNet-20 stage-1 layer
    };
    std::uint64_t seed = 100;
    for (const ConvShape& s : shapes) {
      CAPTURE(s.n); CAPTURE(s.c); CAPTURE(s.h); CAPTURE(s.k); CAPTURE(s.r); CAPTURE(s.stride);
      const auto x = random_floats(s.in_size(), ++seed), w = random_floats(s.weight_size(), ++seed, 0.3);
      const auto dy = random_floats(s.out_size(), ++seed), dw0 = random_floats(s.weight_size(), ++seed);
      const auto dx0 = random_floats(s.in_size(), ++seed);
      auto X = upload(x), W = upload(w), DY = upload(dy);

      std::vector<float> y(s.out_size());
      eigen::Compute::conv2d_forward(cpu, s, x.data(), w.data(), y.data());
      cuda::DeviceBuffer<float> Y(s.out_size());
      cuda::Compute::conv2d_forward(ctx, s, X.data(), W.data(), Y.data());
      CHECK(rel_l2(download(Y), y) < op_tol);

      for (const bool accumulate : {false, true}) {
        CAPTURE(accumulate);
        auto dx = dx0, dw = dw0;
        eigen::Compute::conv2d_backward(cpu, s, x.data(), w.data(), dy.data(), dx.data(), dw.data(), accumulate);
        auto DX = upload(dx0), DW = upload(dw0);
        cuda::Compute::conv2d_backward(ctx, s, X.data(), W.data(), DY.data(), DX.data(), DW.data(), accumulate);
        CHECK(rel_l2(download(DX), dx) < op_tol);
        CHECK(rel_l2(download(DW), dw) < op_tol);
      }
      // No input gradient wanted.
      auto dw = dw0;
      eigen::Compute::conv2d_backward(cpu, s, x.data(), w.data(), dy.data(), static_cast<float*>(nullptr), dw.data());
      auto DW = upload(dw0);
      cuda::Compute::conv2d_backward(ctx, s, X.data(), W.data(), DY.data(), nullptr, DW.data());
      CHECK(rel_l2(download(DW), dw) < op_tol);
    }
  }

  TEST_CASE("cuda ops: batch norm (train, infer, backward; with and without ReLU) matches Eigen") {
    auto& ctx = test::gpu();
    eigen::CpuContext cpu(2);
    const BatchNormShape shapes[] = {{4, 6, 25}, {16, 16, 49}, {8, 3, 1}};
    std::uint64_t seed = 200;
    for (const BatchNormShape& s : shapes) {
      for (const bool relu : {false, true}) {
        CAPTURE(s.n); CAPTURE(s.c); CAPTURE(s.hw); CAPTURE(relu);
        const std::size_t c = std::size_t(s.c);
        const auto x = random_floats(s.size(), ++seed, 2.0, 0.5);
        const auto gamma = random_floats(c, ++seed, 0.3, 1.0), beta = random_floats(c, ++seed, 0.3);
        const auto rmean0 = random_floats(c, ++seed, 0.1);
        auto rvar0 = random_floats(c, ++seed, 0.1, 1.0);
        const auto dy = random_floats(s.size(), ++seed);
        const auto dgamma0 = random_floats(c, ++seed), dbeta0 = random_floats(c, ++seed);

        // Training forward, updating running statistics.
        std::vector<float> y(s.size()), mean(c), invstd(c), rmean = rmean0, rvar = rvar0;
        eigen::Compute::batch_norm_forward_train(cpu, s, x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                                 invstd.data(), relu, 1e-5f,
                                                 RunningStats<float>{rmean.data(), rvar.data(), 0.1f});
        auto X = upload(x), G = upload(gamma), B = upload(beta), RM = upload(rmean0), RV = upload(rvar0);
        cuda::DeviceBuffer<float> Y(s.size()), M(c), I(c);
        cuda::Compute::batch_norm_forward_train(ctx, s, X.data(), G.data(), B.data(), Y.data(), M.data(), I.data(), relu,
                                                1e-5f, RunningStats<float>{RM.data(), RV.data(), 0.1f});
        CHECK(rel_l2(download(Y), y) < op_tol);
        CHECK(rel_l2(download(M), mean) < op_tol);
        CHECK(rel_l2(download(I), invstd) < op_tol);
        CHECK(rel_l2(download(RM), rmean) < op_tol);
        CHECK(rel_l2(download(RV), rvar) < op_tol);

        // Backward: dgamma and dbeta accumulate.
        std::vector<float> dx(s.size()), dgamma = dgamma0, dbeta = dbeta0;
        eigen::Compute::batch_norm_backward(cpu, s, x.data(), y.data(), dy.data(), gamma.data(), mean.data(),
                                            invstd.data(), dx.data(), dgamma.data(), dbeta.data(), relu);
        auto DY = upload(dy), DG = upload(dgamma0), DB = upload(dbeta0);
        cuda::DeviceBuffer<float> DX(s.size());
        cuda::Compute::batch_norm_backward(ctx, s, X.data(), Y.data(), DY.data(), G.data(), M.data(), I.data(),
                                           DX.data(), DG.data(), DB.data(), relu);
        CHECK(rel_l2(download(DX), dx) < op_tol);
        CHECK(rel_l2(download(DG), dgamma) < op_tol);
        CHECK(rel_l2(download(DB), dbeta) < op_tol);

        // Inference with given statistics.
        std::vector<float> yi(s.size());
        eigen::Compute::batch_norm_forward_infer(cpu, s, x.data(), gamma.data(), beta.data(), rmean0.data(),
                                                 rvar0.data(), yi.data(), relu);
        auto RM0 = upload(rmean0), RV0 = upload(rvar0);
        cuda::DeviceBuffer<float> YI(s.size());
        cuda::Compute::batch_norm_forward_infer(ctx, s, X.data(), G.data(), B.data(), RM0.data(), RV0.data(), YI.data(),
                                                relu);
        CHECK(rel_l2(download(YI), yi) < op_tol);
      }
    }
  }

  TEST_CASE("cuda ops: residual_add, scale_copy, add_to match Eigen") {
    auto& ctx = test::gpu();
    eigen::CpuContext cpu(1);
    for (const std::size_t count : {std::size_t(1), std::size_t(1000), std::size_t(100003)}) {
      CAPTURE(count);
      const auto a = random_floats(count, 300 + count), b = random_floats(count, 301 + count);
      auto A = upload(a), B = upload(b);
      auto out = b;
      eigen::Compute::residual_add(cpu, count, 0.25f, a.data(), out.data());
      cuda::Compute::residual_add(ctx, count, 0.25f, A.data(), B.data());
      CHECK(rel_l2(download(B), out) < op_tol);
      std::vector<float> y(count);
      eigen::Compute::scale_copy(cpu, count, -1.5f, a.data(), y.data());
      cuda::DeviceBuffer<float> Y(count);
      cuda::Compute::scale_copy(ctx, count, -1.5f, A.data(), Y.data());
      CHECK(rel_l2(download(Y), y) < op_tol);
      eigen::Compute::add_to(cpu, count, a.data(), y.data());
      cuda::Compute::add_to(ctx, count, A.data(), Y.data());
      CHECK(rel_l2(download(Y), y) < op_tol);
    }
  }

  TEST_CASE("cuda ops: global average pooling matches Eigen") {
    auto& ctx = test::gpu();
    eigen::CpuContext cpu(1);
    const int dims[][3] = {{4, 8, 49}, {2, 3, 1}, {3, 5, 784}, {128, 64, 7 * 7}};
    std::uint64_t seed = 400;
    for (const auto& d : dims) {
      const int n = d[0], c = d[1], hw = d[2];
      CAPTURE(n); CAPTURE(c); CAPTURE(hw);
      const std::size_t in = std::size_t(n) * c * hw, out = std::size_t(n) * c;
      const auto x = random_floats(in, ++seed), dy = random_floats(out, ++seed);
      std::vector<float> y(out), dx(in);
      eigen::Compute::global_avg_pool_forward(cpu, n, c, hw, x.data(), y.data());
      eigen::Compute::global_avg_pool_backward(cpu, n, c, hw, dy.data(), dx.data());
      auto X = upload(x), DY = upload(dy);
      cuda::DeviceBuffer<float> Y(out), DX(in);
      cuda::Compute::global_avg_pool_forward(ctx, n, c, hw, X.data(), Y.data());
      cuda::Compute::global_avg_pool_backward(ctx, n, c, hw, DY.data(), DX.data());
      CHECK(rel_l2(download(Y), y) < op_tol);
      CHECK(rel_l2(download(DX), dx) < op_tol);
    }
  }

  TEST_CASE("cuda ops: linear forward and backward (with and without bias) match Eigen") {
    auto& ctx = test::gpu();
    eigen::CpuContext cpu(1);
    const int n = 16, in = 64, out = 10;
    const auto x = random_floats(std::size_t(n) * in, 500), w = random_floats(std::size_t(out) * in, 501, 0.2);
    const auto b = random_floats(std::size_t(out), 502), dy = random_floats(std::size_t(n) * out, 503);
    const auto dw0 = random_floats(w.size(), 504), db0 = random_floats(b.size(), 505);
    auto X = upload(x), W = upload(w), B = upload(b), DY = upload(dy);
    for (const bool bias : {true, false}) {
      CAPTURE(bias);
      std::vector<float> y(std::size_t(n) * out);
      eigen::Compute::linear_forward(cpu, n, in, out, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
      cuda::DeviceBuffer<float> Y(y.size());
      cuda::Compute::linear_forward(ctx, n, in, out, X.data(), W.data(), bias ? B.data() : nullptr, Y.data());
      CHECK(rel_l2(download(Y), y) < op_tol);

      std::vector<float> dx(x.size()), dw = dw0, db = db0;
      eigen::Compute::linear_backward(cpu, n, in, out, x.data(), w.data(), dy.data(), bias ? dx.data() : nullptr,
                                      dw.data(), bias ? db.data() : nullptr);
      cuda::DeviceBuffer<float> DX(x.size());
      auto DW = upload(dw0), DB = upload(db0);
      cuda::Compute::linear_backward(ctx, n, in, out, X.data(), W.data(), DY.data(), bias ? DX.data() : nullptr,
                                     DW.data(), bias ? DB.data() : nullptr);
      if (bias) {
        CHECK(rel_l2(download(DX), dx) < op_tol);
        CHECK(rel_l2(download(DB), db) < op_tol);
      } else {
        CHECK(download(DB) == db0);  // untouched without a bias
      }
      CHECK(rel_l2(download(DW), dw) < op_tol);
    }
  }

  TEST_CASE("cuda ops: softmax cross-entropy matches Eigen and reports bad labels") {
    auto& ctx = test::gpu();
    const int n = 300, classes = 10;  // more samples than the kernel's threads
    const auto logits = random_floats(std::size_t(n) * classes, 600, 3.0);
    std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
    Rng rng(601);
    for (auto& l : labels) l = std::int32_t(rng.below(classes));
    std::vector<float> dlogits(logits.size());
    const auto want = eigen::Compute::softmax_cross_entropy(n, classes, logits.data(), labels.data(), dlogits.data());
    auto L = upload(logits);
    cuda::DeviceBuffer<std::int32_t> Y(std::span<const std::int32_t>(labels), ctx.stream());
    cuda::DeviceBuffer<float> D(dlogits.size());
    const auto got = cuda::Compute::softmax_cross_entropy(ctx, n, classes, L.data(), Y.data(), D.data());
    CHECK(got.loss == doctest::Approx(want.loss).epsilon(1e-6));
    CHECK(got.correct == want.correct);
    CHECK(rel_l2(download(D), dlogits) < 1e-6);
    const auto no_grad = cuda::Compute::softmax_cross_entropy(ctx, n, classes, L.data(), Y.data(), nullptr);
    CHECK(no_grad.loss == got.loss);  // the same sums in the same order

    auto bad = labels;
    bad[7] = 12;
    bad[40] = -1;
    cuda::DeviceBuffer<std::int32_t> YB(std::span<const std::int32_t>(bad), ctx.stream());
    CHECK_THROWS_WITH_AS(cuda::Compute::softmax_cross_entropy(ctx, n, classes, L.data(), YB.data(), D.data()),
                         doctest::Contains("sample 7: expected a label in [0, 10), found 12"), Error);
  }
}

}  // namespace test_cuda_ops
