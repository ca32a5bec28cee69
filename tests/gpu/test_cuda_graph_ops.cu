// The graph networks' GPU ops (ist/backend/cuda/graph_ops.cuh) against the Eigen ops on random inputs: layer
// norm per node and over the whole matrix (relative L2 error below 1e-5), dropout masks and outputs bit for
// bit, row concatenation and split, the transposes and the ReLU bit for bit, the node cross-entropy (loss to
// 1e-6, gradient to 1e-5) and its errors. The device random streams are also checked on the host, where no GPU
// is needed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "gpu_test_util.cuh"
#include "ist/backend/cuda/elementwise.cuh"
#include "ist/backend/cuda/graph_ops.cuh"
#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/dropout.hpp"
#include "ist/backend/eigen/graph_ops.hpp"
#include "ist/backend/eigen/layer_norm.hpp"
#include "ist/backend/eigen/node_cross_entropy.hpp"
#include "ist/backend/eigen/packet_loops.hpp"
#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"

namespace test_cuda_graph_ops {

using namespace ist;
using test::download;
using test::random_floats;
using test::rel_l2;
using test::upload;

namespace {

constexpr double norm_tol = 1e-5;

// Index of the first element whose bits differ (or the shorter size), -1 when got and want are the same bits.
std::ptrdiff_t first_difference(const std::vector<float>& got, const std::vector<float>& want) {
  for (std::size_t i = 0; i < got.size() && i < want.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) return std::ptrdiff_t(i);
  return got.size() == want.size() ? -1 : std::ptrdiff_t(std::min(got.size(), want.size()));
}

cuda::DeviceBuffer<std::int32_t> upload_ints(const std::vector<std::int32_t>& v) {
  return cuda::DeviceBuffer<std::int32_t>(std::span<const std::int32_t>(v), test::gpu().stream());
}

}  // namespace

TEST_CASE("cuda graph ops: the device random streams and dropout chunks equal ist::Rng and eigen::dropout_mask") {
  // Runs on the host (the helpers are __host__ __device__), so it needs no GPU.
  static_assert(cuda::detail::dropout_chunk == eigen::detail::kDropoutChunk);
  bool seeds_equal = true, draws_equal = true;
  for (const std::uint64_t seed : {0ull, 1ull, 42ull, 0xdeadbeef12345678ull})
    for (const std::uint64_t id : {0ull, 1ull, 7ull, 4095ull, 1ull << 40}) {
      seeds_equal = seeds_equal && cuda::detail::device_derive_seed(seed, id) == derive_seed(seed, {id});
      Rng rng(seed, {id});
      Rng device_rng(cuda::detail::device_derive_seed(seed, id));
      for (int j = 0; j < 100; ++j) draws_equal = draws_equal && device_rng() == rng();
    }
  CHECK(seeds_equal);
  CHECK(draws_equal);

  eigen::CpuContext cpu(2);
  const std::size_t chunk = cuda::detail::dropout_chunk;
  std::uint64_t seed = 900;
  for (const std::size_t count : {std::size_t(1), std::size_t(2), std::size_t(3), chunk - 1, chunk, chunk + 1,
                                  3 * chunk + 1, 16 * chunk, 17 * chunk + 5})
    for (const double p : {0.0, 0.1, 0.5, 0.75, 0.999}) {
      CAPTURE(count);
      CAPTURE(p);
      ++seed;
      std::vector<float> want(count), got(count, -1.0f);
      eigen::dropout_mask(cpu, count, p, seed, want.data());
      const cuda::detail::DropoutDraw d = cuda::detail::dropout_draw(p);
      for (std::size_t k = 0; k * chunk < count; ++k)
        cuda::detail::dropout_mask_chunk(seed, k, d, k * chunk, std::min(count, (k + 1) * chunk), nullptr, nullptr,
                                         got.data());
      CHECK(first_difference(got, want) == -1);
    }
}

TEST_SUITE("cuda-device") {
  TEST_CASE("cuda graph ops: layer norm forward and backward match Eigen, per node and over the whole matrix") {
    auto& ctx = test::gpu();
    eigen::CpuContext cpu(2);
    struct Shape {
      std::size_t rows, cols;
    };
    const Shape shapes[] = {
        {1, 5'000'003},  // GraphNorm::Whole: one row split over many blocks
        {3, 200'000},    // few long rows: split
        {2, 40'001},     // split into uneven parts
        {1, 1025},       // one block per row
        {64, 8192},      // one block per row
        {1, 700},        // one warp per row
        {5, 1024},       // one warp per row, the widest
        {2000, 16},      // per node, narrow
        {3000, 100},     // per node
    };
    std::uint64_t seed = 1000;
    for (const Shape& s : shapes) {
      CAPTURE(s.rows);
      CAPTURE(s.cols);
      const std::size_t n = s.rows * s.cols;
      const auto x = random_floats(n, ++seed, 2.0, 0.5), dy = random_floats(n, ++seed);
      std::vector<float> y(n), mean(s.rows), invstd(s.rows), dx(n);
      eigen::layer_norm_forward(cpu, s.rows, s.cols, x.data(), y.data(), mean.data(), invstd.data());
      eigen::layer_norm_backward(cpu, s.rows, s.cols, y.data(), dy.data(), invstd.data(), dx.data());

      auto X = upload(x);
      cuda::DeviceBuffer<float> Y(n), M(s.rows), I(s.rows);
      cuda::layer_norm_forward(ctx, s.rows, s.cols, X.data(), Y.data(), M.data(), I.data());
      const auto got_y = download(Y);
      CHECK(rel_l2(got_y, y) < norm_tol);
      CHECK(rel_l2(download(M), mean) < norm_tol);
      CHECK(rel_l2(download(I), invstd) < norm_tol);
      cuda::layer_norm_forward(ctx, s.rows, s.cols, X.data(), X.data(), M.data(), I.data());  // in place
      CHECK(first_difference(download(X), got_y) == -1);

      // Backward from Eigen's forward results, so only the backward differs.
      auto YE = upload(y), DY = upload(dy), IE = upload(invstd);
      cuda::DeviceBuffer<float> DX(n);
      cuda::layer_norm_backward(ctx, s.rows, s.cols, YE.data(), DY.data(), IE.data(), DX.data());
      const auto got_dx = download(DX);
      CHECK(rel_l2(got_dx, dx) < norm_tol);
      cuda::layer_norm_backward(ctx, s.rows, s.cols, YE.data(), DY.data(), IE.data(), DY.data());  // in place
      CHECK(first_difference(download(DY), got_dx) == -1);
    }
    CHECK_THROWS_AS(cuda::layer_norm_forward(ctx, 3, 0, nullptr, nullptr, nullptr, nullptr), Error);
  }

  TEST_CASE("cuda graph ops: dropout masks and outputs equal Eigen's bit for bit") {
    auto& ctx = test::gpu();
    eigen::CpuContext cpu(2);
    const std::size_t chunk = cuda::detail::dropout_chunk;
    std::uint64_t seed = 2000;
    for (const std::size_t count : {std::size_t(1), std::size_t(3), chunk, chunk + 1, std::size_t(10001),
                                    17 * chunk + 5})
      for (const double p : {0.0, 0.3, 0.5, 0.9}) {
        CAPTURE(count);
        CAPTURE(p);
        ++seed;
        const auto x = random_floats(count, seed), dy = random_floats(count, seed + 5000);
        std::vector<float> y(count), mask(count), dx(count);
        eigen::dropout_forward(cpu, count, p, seed, x.data(), y.data(), mask.data());
        eigen::dropout_backward(cpu, count, mask.data(), dy.data(), dx.data());

        auto X = upload(x), DY = upload(dy);
        cuda::DeviceBuffer<float> Y(count), MASK(count), DX(count);
        cuda::dropout_forward(ctx, count, p, seed, X.data(), Y.data(), MASK.data());
        CHECK(first_difference(download(MASK), mask) == -1);
        CHECK(first_difference(download(Y), y) == -1);
        cuda::dropout_forward(ctx, count, p, seed, X.data(), X.data(), MASK.data());  // in place
        CHECK(first_difference(download(X), y) == -1);

        cuda::dropout_backward(ctx, count, MASK.data(), DY.data(), DX.data());
        CHECK(first_difference(download(DX), dx) == -1);
        cuda::dropout_backward(ctx, count, MASK.data(), DY.data(), DY.data());  // in place
        CHECK(first_difference(download(DY), dx) == -1);
      }
    cuda::DeviceBuffer<float> B(4);
    CHECK_THROWS_AS(cuda::dropout_forward(ctx, 4, 1.0, 1, B.data(), B.data(), B.data()), Error);
    CHECK_THROWS_AS(cuda::dropout_forward(ctx, 4, -0.1, 1, B.data(), B.data(), B.data()), Error);
  }

  TEST_CASE("cuda graph ops: concat_rows then split_rows gives back the inputs exactly") {
    auto& ctx = test::gpu();
    struct Shape {
      std::size_t n, a_cols, b_cols;
    };
    const Shape shapes[] = {{1000, 7, 13}, {5, 64, 64}, {3, 0, 4}, {4, 5, 0}, {1, 1, 1}};
    std::uint64_t seed = 3000;
    for (const Shape& s : shapes) {
      CAPTURE(s.n);
      CAPTURE(s.a_cols);
      CAPTURE(s.b_cols);
      const std::size_t w = s.a_cols + s.b_cols;
      const auto a = random_floats(s.n * s.a_cols, ++seed), b = random_floats(s.n * s.b_cols, ++seed);
      std::vector<float> want(s.n * w);
      for (std::size_t i = 0; i < s.n; ++i) {
        for (std::size_t j = 0; j < s.a_cols; ++j) want[i * w + j] = a[i * s.a_cols + j];
        for (std::size_t j = 0; j < s.b_cols; ++j) want[i * w + s.a_cols + j] = b[i * s.b_cols + j];
      }
      auto A = upload(a), B = upload(b);
      cuda::DeviceBuffer<float> C(s.n * w), A2(a.size()), B2(b.size());
      cuda::concat_rows(ctx, s.n, s.a_cols, A.data(), s.b_cols, B.data(), C.data());
      CHECK(first_difference(download(C), want) == -1);
      cuda::split_rows(ctx, s.n, s.a_cols, s.b_cols, C.data(), A2.data(), B2.data());
      CHECK(first_difference(download(A2), a) == -1);
      CHECK(first_difference(download(B2), b) == -1);
    }
  }

  TEST_CASE("cuda graph ops: transpose, transpose_add and fill_zero equal the Eigen ops bit for bit") {
    auto& ctx = test::gpu();
    eigen::CpuContext cpu(1);
    struct Shape {
      int rows, cols;
    };
    const Shape shapes[] = {{256, 1433}, {7, 3}, {1, 50}, {50, 1}, {0, 4}};
    std::uint64_t seed = 3500;
    for (const Shape& s : shapes) {
      CAPTURE(s.rows);
      CAPTURE(s.cols);
      const std::size_t n = std::size_t(s.rows) * std::size_t(s.cols);
      const auto src = random_floats(n, ++seed), base = random_floats(n, ++seed);
      std::vector<float> t(n), sum = base;
      eigen::transpose(cpu, s.rows, s.cols, src.data(), t.data());
      eigen::transpose_add(cpu, s.rows, s.cols, src.data(), sum.data());
      auto S = upload(src), D = upload(base);
      cuda::DeviceBuffer<float> T(n);
      cuda::transpose(ctx, s.rows, s.cols, S.data(), T.data());
      CHECK(first_difference(download(T), t) == -1);
      cuda::transpose_add(ctx, s.rows, s.cols, S.data(), D.data());
      CHECK(first_difference(download(D), sum) == -1);
      cuda::fill_zero(ctx, n, D.data());
      CHECK(first_difference(download(D), std::vector<float>(n, 0.0f)) == -1);
    }
  }

  TEST_CASE("cuda graph ops: relu_forward and relu_backward equal eigen::detail::relu and relu_mask bit for bit") {
    auto& ctx = test::gpu();
    auto x = random_floats(10'007, 4000);
    const float specials[] = {-0.0f, 0.0f, std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::denorm_min(), -std::numeric_limits<float>::denorm_min()};
    for (std::size_t i = 0; i < std::size(specials); ++i) x[100 * i] = specials[i];
    auto dy = random_floats(x.size(), 4001);
    dy[3] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> h(x.size()), dx(x.size());
    eigen::detail::relu(x.data(), h.data(), x.size());
    eigen::detail::relu_mask(h.data(), dy.data(), dx.data(), x.size());

    auto X = upload(x), DY = upload(dy);
    cuda::DeviceBuffer<float> H(x.size()), DX(x.size());
    cuda::relu_forward(ctx, x.size(), X.data(), H.data());
    CHECK(first_difference(download(H), h) == -1);
    cuda::relu_backward(ctx, x.size(), H.data(), DY.data(), DX.data());
    CHECK(first_difference(download(DX), dx) == -1);
    cuda::relu_backward(ctx, x.size(), H.data(), DY.data(), DY.data());  // in place
    CHECK(first_difference(download(DY), dx) == -1);
  }

  TEST_CASE("cuda graph ops: node cross-entropy matches Eigen and reports bad nodes and labels") {
    auto& ctx = test::gpu();
    struct Shape {
      std::size_t rows;
      int classes;
      std::size_t scored;  // nodes scored, at most the labelled rows
    };
    const Shape shapes[] = {{500, 7, 300}, {20'000, 40, 15'000}, {3, 2, 1}};
    std::uint64_t seed = 5000;
    for (const Shape& s : shapes) {
      CAPTURE(s.rows);
      CAPTURE(s.classes);
      const auto logits = random_floats(s.rows * std::size_t(s.classes), ++seed, 3.0);
      Rng rng(++seed);
      std::vector<std::int32_t> labels(s.rows), nodes;
      for (std::size_t i = 0; i < s.rows; ++i) {
        labels[i] = i % 10 == 9 ? -1 : std::int32_t(rng.below(std::uint64_t(s.classes)));
        if (labels[i] >= 0) nodes.push_back(std::int32_t(i));
      }
      rng.shuffle(std::span<std::int32_t>(nodes));
      nodes.resize(s.scored);
      std::vector<float> dlogits(logits.size());
      const auto want = eigen::node_cross_entropy(s.rows, s.classes, logits.data(), labels.data(),
                                                  std::span<const std::int32_t>(nodes), dlogits.data());
      auto L = upload(logits);
      auto Y = upload_ints(labels), N = upload_ints(nodes);
      auto D = upload(std::vector<float>(logits.size(), 7.0f));  // every row is overwritten
      const auto got = cuda::node_cross_entropy(ctx, s.rows, s.classes, L.data(), Y.data(), N.data(), nodes.size(),
                                                D.data());
      CHECK(got.loss == doctest::Approx(want.loss).epsilon(1e-6));
      CHECK(got.correct == want.correct);
      const auto got_d = download(D);
      CHECK(rel_l2(got_d, dlogits) < norm_tol);
      std::vector<char> scored(s.rows, 0);
      for (const std::int32_t node : nodes) scored[std::size_t(node)] = 1;
      bool unscored_zero = true;
      for (std::size_t i = 0; i < got_d.size(); ++i)
        if (!scored[i / std::size_t(s.classes)]) unscored_zero = unscored_zero && got_d[i] == 0.0f;
      CHECK(unscored_zero);
      const auto no_grad = cuda::node_cross_entropy(ctx, s.rows, s.classes, L.data(), Y.data(), N.data(),
                                                    nodes.size(), nullptr);
      CHECK(no_grad.loss == got.loss);  // the same sums in the same order
      CHECK(no_grad.correct == got.correct);
    }

    // Errors name the first bad entry of `nodes`, as the Eigen op does.
    const std::size_t rows = 50;
    const int classes = 4;
    const auto logits = random_floats(rows * classes, 5100);
    std::vector<std::int32_t> labels(rows), nodes(rows);
    for (std::size_t i = 0; i < rows; ++i) labels[i] = std::int32_t(i % classes);
    std::iota(nodes.begin(), nodes.end(), 0);
    labels[17] = -1;
    labels[30] = 9;
    auto L = upload(logits);
    auto Y = upload_ints(labels), N = upload_ints(nodes);
    cuda::DeviceBuffer<float> D(logits.size());
    CHECK_THROWS_WITH_AS(cuda::node_cross_entropy(ctx, rows, classes, L.data(), Y.data(), N.data(), rows, D.data()),
                         doctest::Contains("node 17: expected a label in [0, 4), found -1 (unlabeled)"), Error);
    CHECK_THROWS_WITH_AS(
        cuda::node_cross_entropy(ctx, rows, classes, L.data(), Y.data(), N.data() + 20, rows - 20, D.data()),
        doctest::Contains("node 30: expected a label in [0, 4), found 9"), Error);
    nodes[5] = std::int32_t(rows) + 2;
    auto NB = upload_ints(nodes);
    CHECK_THROWS_WITH_AS(cuda::node_cross_entropy(ctx, rows, classes, L.data(), Y.data(), NB.data(), rows, D.data()),
                         doctest::Contains("node 52 is out of range [0, 50)"), Error);
    CHECK_THROWS_AS(cuda::node_cross_entropy(ctx, rows, classes, L.data(), Y.data(), NB.data(), 0, D.data()), Error);
  }
}  // TEST_SUITE("cuda-device")

}  // namespace test_cuda_graph_ops
