// The CUDA pieces for width-wise (IST, GIST) training against their CPU counterparts: the fused Adam kernel
// against ist::optim::Adam, cuda::NovoGrad against ist::optim::NovoGrad, slice gather/scatter against ist::gather/ist::scatter, and the cuSPARSE products
// against ist::eigen::spmm / spmm_transposed_add.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "gpu_test_util.cuh"
#include "ist/backend/cuda/adam.cuh"
#include "ist/backend/cuda/novograd.cuh"
#include "ist/backend/cuda/slices.cuh"
#include "ist/backend/cuda/sparse_matmul.cuh"
#include "ist/backend/eigen/sparse_matmul.hpp"
#include "ist/core/rng.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/optim/adam.hpp"
#include "ist/optim/novograd.hpp"

namespace test_cuda_widthwise {

namespace {

using namespace ist;

TEST_SUITE("cuda-device") {

TEST_CASE("cuda::Adam follows ist::optim::Adam step for step (both lerp branches, weight decay, loaded state)") {
  auto& ctx = test::gpu();
  const std::size_t n = 50021;
  const optim::AdamConfig configs[] = {{0.01, 0.9, 0.999, 1e-8, 0.0}, {0.005, 0.3, 0.99, 1e-6, 5e-4}};
  for (const auto& cfg : configs) {
    CAPTURE(cfg.beta1);
    std::vector<float> p = test::random_floats(n, 11);
    auto dp = test::upload(p);
    optim::Adam<float> host(cfg, n);
    cuda::Adam dev(ctx, cfg, n);
    for (int step = 0; step < 5; ++step) {
      const std::vector<float> g = test::random_floats(n, 200 + std::uint64_t(step));
      auto dg = test::upload(g);
      host.step(std::span<float>(p), std::span<const float>(g), cfg.lr);
      dev.step(std::span<float>(dp.data(), n), std::span<const float>(dg.data(), n), cfg.lr);
      CHECK(test::rel_l2(test::download(dp), p) < 1e-6);
      CHECK(test::rel_l2(test::download(dev.first_moment().data(), n),
                         std::vector<float>(host.first_moment().begin(), host.first_moment().end())) < 1e-6);
      CHECK(test::rel_l2(test::download(dev.second_moment().data(), n),
                         std::vector<float>(host.second_moment().begin(), host.second_moment().end())) < 1e-6);
    }
    CHECK(dev.step_count() == host.step_count());
  }
  // Carried state: moments and step count loaded on both sides, then one step.
  const optim::AdamConfig cfg{0.01, 0.9, 0.999, 1e-8, 0.0};
  std::vector<float> p = test::random_floats(1000, 1), g = test::random_floats(1000, 2);
  std::vector<float> m = test::random_floats(1000, 3, 0.1), v = test::random_floats(1000, 4, 0.01);
  for (auto& x : v) x = std::abs(x);
  auto dp = test::upload(p), dg = test::upload(g), dm = test::upload(m), dv = test::upload(v);
  optim::Adam<float> host(cfg, 1000);
  cuda::Adam dev(ctx, cfg, 1000);
  host.load_state(std::span<const float>(m), std::span<const float>(v), 7);
  dev.load_state(std::span<const float>(dm.data(), 1000), std::span<const float>(dv.data(), 1000), 7);
  host.step(std::span<float>(p), std::span<const float>(g), 0.01);
  dev.step(std::span<float>(dp.data(), 1000), std::span<const float>(dg.data(), 1000), 0.01);
  CHECK(test::rel_l2(test::download(dp), p) < 1e-6);
  CHECK_THROWS_WITH_AS(dev.load_state(std::span<const float>(dm.data(), 999), std::span<const float>(dv.data(), 1000), 1),
                       doctest::Contains("expected moments of 1000 values"), Error);
}

TEST_CASE("cuda::NovoGrad follows ist::optim::NovoGrad within 1e-6 (3 tensors, weight decay, loaded state)") {
  auto& ctx = test::gpu();
  const optim::TensorSegments tensors = {{0, 7}, {7, 40000}, {40007, 1234}};
  const std::size_t n = 41241;
  optim::NovoGradConfig cfg;
  cfg.lr = 0.02;
  cfg.beta1 = 0.9;
  cfg.weight_decay = 1e-3;
  std::vector<float> p = test::random_floats(n, 31);
  auto dp = test::upload(p);
  optim::NovoGrad<float> host(cfg, tensors);
  cuda::NovoGrad dev(ctx, cfg, tensors);
  for (int step = 0; step < 5; ++step) {
    const std::vector<float> g = test::random_floats(n, 300 + std::uint64_t(step));
    auto dg = test::upload(g);
    host.step(std::span<float>(p), std::span<const float>(g), cfg.lr);
    dev.step(std::span<float>(dp.data(), n), std::span<const float>(dg.data(), n), cfg.lr);
    CAPTURE(step);
    CHECK(test::rel_l2(test::download(dp), p) < 1e-6);
    CHECK(test::rel_l2(test::download(dev.state_buffer(0).data(), n),
                       std::vector<float>(host.first_moment().begin(), host.first_moment().end())) < 1e-6);
    std::vector<double> v(3);
    IST_CUDA_CHECK(cudaMemcpy(v.data(), dev.second_moments().data(), 3 * sizeof(double), cudaMemcpyDeviceToHost));
    for (int k = 0; k < 3; ++k) CHECK(std::abs(v[std::size_t(k)] - host.second_moments()[std::size_t(k)]) <=
                                      1e-6 * host.second_moments()[std::size_t(k)]);
  }
  // Carried m on both sides: v starts anew, then one step.
  std::vector<float> m = test::random_floats(n, 5, 0.1), g = test::random_floats(n, 6);
  auto dm = test::upload(m), dg = test::upload(g);
  const std::vector<std::span<const float>> hb = {std::span<const float>(m)};
  const std::vector<std::span<const float>> db = {std::span<const float>(dm.data(), n)};
  host.load_state(hb, 9);
  dev.load_state(db, 9);
  host.step(std::span<float>(p), std::span<const float>(g), cfg.lr);
  dev.step(std::span<float>(dp.data(), n), std::span<const float>(dg.data(), n), cfg.lr);
  CHECK(test::rel_l2(test::download(dp), p) < 1e-6);
}

TEST_CASE("SliceIndex gather and scatter equal ist::gather and ist::scatter bit for bit on a width-wise plan") {
  auto& ctx = test::gpu();
  // A 300x200 weight with kept rows and columns, a bias with kept entries, and a whole 64x10 matrix.
  SliceSet set;
  TensorSlice w;
  w.offset = 0;
  w.num_rows = 300;
  w.num_cols = 200;
  for (int r = 0; r < 300; r += 3) w.rows.push_back(r);
  for (int c = 1; c < 200; c += 2) w.cols.push_back(c);
  TensorSlice b;
  b.offset = 60000;
  b.num_rows = 1;
  b.num_cols = 300;
  b.cols = w.rows;
  TensorSlice full;
  full.offset = 60300;
  full.num_rows = 64;
  full.num_cols = 10;
  set.slices = {w, b, full};
  const std::vector<float> global = test::random_floats(60300 + 640 + 17, 9);
  std::vector<float> compact(set.size());
  gather(std::span<const float>(global), set, std::span<float>(compact));

  cuda::SliceIndex index(ctx, set);
  CHECK(index.size() == set.size());
  auto dglobal = test::upload(global);
  cuda::DeviceBuffer<float> dcompact(set.size());
  cuda::gather(ctx, index, std::span<const float>(dglobal.data(), global.size()),
               std::span<float>(dcompact.data(), dcompact.size()));
  CHECK(test::download(dcompact) == compact);

  const std::vector<float> trained = test::random_floats(set.size(), 10);
  std::vector<float> merged = global;
  scatter(std::span<const float>(trained), set, std::span<float>(merged));
  auto dtrained = test::upload(trained);
  cuda::scatter(ctx, index, std::span<const float>(dtrained.data(), trained.size()),
                std::span<float>(dglobal.data(), global.size()));
  CHECK(test::download(dglobal) == merged);
  CHECK_THROWS_WITH_AS(cuda::gather(ctx, index, std::span<const float>(dglobal.data(), 100),
                                    std::span<float>(dcompact.data(), dcompact.size())),
                       doctest::Contains("a global one of at least 60940, found"), Error);
}

TEST_CASE("cuSPARSE spmm and spmm_transposed_add match the Eigen ops (Cora-sized, with and without new values)") {
  auto& ctx = test::gpu();
  const int rows = 2708, cols = 1433, n = 64;
  // A random sparse matrix with about 18 nonzeros per row, as Cora's features (host CSR).
  Rng rng(21);
  std::vector<Eigen::Triplet<float, int>> triplets;
  for (int r = 0; r < rows; ++r)
    for (int k = 0; k < 18; ++k) triplets.emplace_back(r, int(rng.below(cols)), float(rng.normal()));
  eigen::SparseRowMatrix<float> a(rows, cols);
  a.setFromTriplets(triplets.begin(), triplets.end());
  a.makeCompressed();
  const auto nnz = std::size_t(a.nonZeros());
  cuda::CsrMatrix da(ctx, rows, cols, std::span<const int>(a.outerIndexPtr(), std::size_t(rows) + 1),
                     std::span<const int>(a.innerIndexPtr(), nnz), std::span<const float>(a.valuePtr(), nnz));
  CHECK(da.nnz() == nnz);
  eigen::CpuContext cpu(1);
  const std::vector<float> b = test::random_floats(std::size_t(cols) * n, 22), bt = test::random_floats(std::size_t(rows) * n, 23);
  const std::vector<float> dropped = test::random_floats(nnz, 24);  // replacement values, a's storage order
  auto db = test::upload(b), dbt = test::upload(bt), dvals = test::upload(dropped);
  for (const bool override_values : {false, true}) {
    CAPTURE(override_values);
    const float* host_values = override_values ? dropped.data() : nullptr;
    const float* dev_values = override_values ? dvals.data() : nullptr;
    std::vector<float> y(std::size_t(rows) * n);
    eigen::spmm(cpu, a, b.data(), n, y.data(), host_values);
    auto dy = test::upload(std::vector<float>(y.size(), NAN));  // overwritten, never read
    cuda::spmm(ctx, da, db.data(), n, dy.data(), dev_values);
    CHECK(test::rel_l2(test::download(dy), y) < 1e-6);

    const std::vector<float> y0 = test::random_floats(std::size_t(cols) * n, 25);
    std::vector<float> yt = y0;
    eigen::spmm_transposed_add(cpu, a, bt.data(), n, yt.data(), host_values);
    auto dyt = test::upload(y0);
    cuda::spmm_transposed_add(ctx, da, dbt.data(), n, dyt.data(), dev_values);
    CHECK(test::rel_l2(test::download(dyt), yt) < 1e-6);
  }
  // Deterministic: the same product twice gives the same bits.
  auto d1 = test::upload(std::vector<float>(std::size_t(cols) * n, 0.f)), d2 = test::upload(std::vector<float>(std::size_t(cols) * n, 0.f));
  cuda::spmm_transposed_add(ctx, da, dbt.data(), n, d1.data());
  cuda::spmm_transposed_add(ctx, da, dbt.data(), n, d2.data());
  CHECK(test::download(d1) == test::download(d2));
  const std::vector<int> bad_outer(11, 0);
  CHECK_THROWS_WITH_AS(cuda::CsrMatrix(ctx, 10, 5, std::span<const int>(bad_outer), std::span<const int>(a.innerIndexPtr(), 3),
                                       std::span<const float>(a.valuePtr(), 3)),
                       doctest::Contains("expected 10 + 1 row offsets ending at nnz"), Error);
}

}  // TEST_SUITE("cuda-device")

}  // namespace

}  // namespace test_cuda_widthwise
