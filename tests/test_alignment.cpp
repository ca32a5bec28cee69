// Every Eigen-backend kernel gives bitwise the same result wherever its buffers lie: each input and output is
// placed at float offsets 0..15 from a 64-byte boundary (all at the same offset, and mixed: buffer b at
// (o + 5b) mod 16), and every result must equal the one with all buffers aligned, bit for bit. A kernel
// whose summation order follows the address (a vectorized loop that peels an unaligned head, an Eigen
// partial reduction, a coefficient-based small product) changes the last bits with the heap layout, so a
// training run would change with unrelated allocations (another flag, another process history).
// Each kernel is checked on 1 and 2 threads, each against itself. Products must also not depend on
// Eigen's own thread count (Eigen::setNbThreads).
#include <doctest/doctest.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "ist/backend/eigen/batch_norm.hpp"
#include "ist/backend/eigen/batch_norm_1d.hpp"
#include "ist/backend/eigen/conv2d.hpp"
#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/dropout.hpp"
#include "ist/backend/eigen/elementwise.hpp"
#include "ist/backend/eigen/layer_norm.hpp"
#include "ist/backend/eigen/linear.hpp"
#include "ist/backend/eigen/node_cross_entropy.hpp"
#include "ist/backend/eigen/pooling.hpp"
#include "ist/backend/eigen/softmax_cross_entropy.hpp"
#include "ist/backend/eigen/sparse_matmul.hpp"
#include "ist/core/rng.hpp"

namespace test_alignment {

using namespace ist;

namespace {

std::vector<float> randn(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(scale * rng.normal());
  return v;
}

std::string bits(float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g (0x%08x)", double(v), u);
  return buf;
}

// The buffers of one call: buffer b's contents start `offset(b)` floats after a 64-byte boundary.
class Placement {
 public:
  Placement(const std::vector<std::vector<float>>& init, const std::vector<int>& offsets) {
    for (std::size_t b = 0; b < init.size(); ++b) {
      storage_.emplace_back(init[b].size() + 64);
      float* base = storage_.back().data();
      const auto addr = reinterpret_cast<std::uintptr_t>(base);
      float* aligned = base + ((64 - addr % 64) % 64) / sizeof(float);
      float* p = aligned + offsets[b];
      std::copy(init[b].begin(), init[b].end(), p);
      ptrs_.push_back(p);
    }
  }
  std::vector<float*>& ptrs() { return ptrs_; }

 private:
  std::vector<std::vector<float>> storage_;
  std::vector<float*> ptrs_;
};

// run(ctx, buffers) calls the kernel on the placed buffers and returns its scalar results (if any).
using Kernel = std::function<std::vector<double>(eigen::CpuContext&, std::vector<float*>&)>;

// Runs `kernel` with every placement and checks all buffers (outputs and inputs) and returned scalars
// against the all-aligned run, on 1 and 2 threads. Returns the number of placements that differed.
int check_placements(const std::string& name, const std::vector<std::vector<float>>& init, const Kernel& kernel) {
  int failed = 0;
  for (int threads : {1, 2}) {
    eigen::CpuContext ctx(threads);
    std::vector<std::vector<float>> ref_bufs;
    std::vector<double> ref_scalars;
    {
      Placement p(init, std::vector<int>(init.size(), 0));
      ref_scalars = kernel(ctx, p.ptrs());
      for (std::size_t b = 0; b < init.size(); ++b) ref_bufs.emplace_back(p.ptrs()[b], p.ptrs()[b] + init[b].size());
    }
    for (int mixed = 0; mixed < 2; ++mixed)
      for (int o = 0; o < 16; ++o) {
        if (!mixed && o == 0) continue;
        std::vector<int> offsets(init.size());
        for (std::size_t b = 0; b < init.size(); ++b) offsets[b] = mixed ? int((o + 5 * b) % 16) : o;
        Placement p(init, offsets);
        const std::vector<double> scalars = kernel(ctx, p.ptrs());
        std::string where = name + ", " + std::to_string(threads) + " thread(s), float offsets {";
        for (std::size_t b = 0; b < offsets.size(); ++b) {
          if (b) where += ',';
          where += std::to_string(offsets[b]);
        }
        where += "}";
        bool differs = false;
        for (std::size_t b = 0; b < init.size() && !differs; ++b)
          for (std::size_t i = 0; i < init[b].size(); ++i)
            if (std::memcmp(&p.ptrs()[b][i], &ref_bufs[b][i], sizeof(float)) != 0) {
              FAIL_CHECK(where << ": buffer " << b << " element " << i << ": expected " << bits(ref_bufs[b][i])
                               << " (aligned), found " << bits(p.ptrs()[b][i]));
              differs = true;
              break;
            }
        for (std::size_t k = 0; k < scalars.size() && !differs; ++k)
          if (std::memcmp(&scalars[k], &ref_scalars[k], sizeof(double)) != 0) {
            FAIL_CHECK(where << ": scalar result " << k << ": expected " << ref_scalars[k] << " (aligned), found "
                             << scalars[k]);
            differs = true;
          }
        failed += differs;
      }
  }
  return failed;
}

struct LinearCase {
  int n, in, out;
};
// GEMM-sized, small (Eigen's coefficient-based product), matrix-vector and inner-product shapes.
const LinearCase kLinearCases[] = {{32, 128, 10}, {32, 64, 37}, {3, 5, 4}, {1, 20, 7}, {6, 9, 1}, {1, 7, 1}, {2, 1, 3}};

std::string linear_name(const char* op, const LinearCase& c) {
  return std::string(op) + " n=" + std::to_string(c.n) + " in=" + std::to_string(c.in) +
         " out=" + std::to_string(c.out);
}

const ConvShape kConvShapes[] = {
    {2, 3, 7, 7, 5, 3, 1, 1},    // direct "same" 3x3
    {3, 8, 6, 6, 4, 3, 1, 1},    // direct, transposed weight gradient (c a multiple of the packet)
    {2, 16, 8, 8, 16, 3, 1, 1},  // direct, whole register blocks
    {2, 8, 8, 8, 8, 3, 2, 1},    // stride 2 on phase planes
    {2, 3, 9, 9, 4, 3, 2, 1},    // stride 2: phases forward, im2col backward
    {2, 4, 5, 5, 6, 1, 1, 0},    // pointwise
    {2, 4, 6, 6, 8, 1, 2, 0},    // 1x1 stride-2 projection (im2col)
    {2, 2, 6, 6, 3, 3, 1, 0},    // im2col, no padding
    {2, 3, 12, 12, 20, 5, 1, 2}, // direct 5x5
};

std::string conv_name(const char* op, const ConvShape& s) {
  return std::string(op) + " n=" + std::to_string(s.n) + " c=" + std::to_string(s.c) + " " + std::to_string(s.h) +
         "x" + std::to_string(s.w) + " k=" + std::to_string(s.k) + " r=" + std::to_string(s.r) +
         " stride=" + std::to_string(s.stride) + " pad=" + std::to_string(s.pad);
}

}  // namespace

TEST_CASE("alignment: linear forward and backward are independent of buffer placement") {
  for (const auto& c : kLinearCases) {
    const std::size_t nx = std::size_t(c.n) * c.in, nw = std::size_t(c.in) * c.out, ny = std::size_t(c.n) * c.out;
    CHECK(check_placements(linear_name("linear_forward", c),
                           {randn(nx, 1), randn(nw, 2), randn(std::size_t(c.out), 3), std::vector<float>(ny)},
                           [c](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::linear_forward(ctx, c.n, c.in, c.out, b[0], b[1], b[2], b[3]);
                             return std::vector<double>{};
                           }) == 0);
    CHECK(check_placements(linear_name("linear_forward (no bias)", c),
                           {randn(nx, 4), randn(nw, 5), std::vector<float>(ny)},
                           [c](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::linear_forward(ctx, c.n, c.in, c.out, b[0], b[1], static_cast<const float*>(nullptr),
                                                   b[2]);
                             return std::vector<double>{};
                           }) == 0);
    // dw and db accumulate onto nonzero values; dx is overwritten.
    CHECK(check_placements(linear_name("linear_backward", c),
                           {randn(nx, 6), randn(nw, 7), randn(ny, 8), std::vector<float>(nx), randn(nw, 9, 0.1f),
                            randn(std::size_t(c.out), 10, 0.1f)},
                           [c](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::linear_backward(ctx, c.n, c.in, c.out, b[0], b[1], b[2], b[3], b[4], b[5]);
                             return std::vector<double>{};
                           }) == 0);
  }
  for (const auto& [n, out] : {std::pair{32, 10}, std::pair{5, 37}}) {
    const std::size_t ny = std::size_t(n) * out;
    CHECK(check_placements("scale_add_bias n=" + std::to_string(n) + " out=" + std::to_string(out),
                           {randn(std::size_t(out), 11), randn(ny, 12)},
                           [n, out](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::scale_add_bias(ctx, n, out, 0.7f, b[0], b[1]);
                             return std::vector<double>{};
                           }) == 0);
    CHECK(check_placements("bias_grad_add n=" + std::to_string(n) + " out=" + std::to_string(out),
                           {randn(ny, 13), randn(std::size_t(out), 14)},
                           [n, out](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::bias_grad_add(ctx, n, out, b[0], b[1]);
                             return std::vector<double>{};
                           }) == 0);
  }
}

TEST_CASE("alignment: batch norm (NCHW) is independent of buffer placement") {
  for (const BatchNormShape s : {BatchNormShape{4, 3, 49}, BatchNormShape{2, 5, 64}, BatchNormShape{3, 4, 9}}) {
    const std::size_t sz = s.size(), c = std::size_t(s.c);
    const std::string shape = " n=" + std::to_string(s.n) + " c=" + std::to_string(s.c) + " hw=" + std::to_string(s.hw);
    for (bool relu : {false, true}) {
      const std::string tag = shape + (relu ? " relu" : "");
      std::vector<float> x = randn(sz, 20);
      for (auto& v : x) v += 3.0f;
      CHECK(check_placements("batch_norm_forward_train" + tag,
                             {x, randn(c, 21), randn(c, 22), std::vector<float>(sz), std::vector<float>(c),
                              std::vector<float>(c), randn(c, 23), std::vector<float>(c, 1.0f)},
                             [s, relu](eigen::CpuContext& ctx, std::vector<float*>& b) {
                               eigen::batch_norm_forward_train(ctx, s, b[0], b[1], b[2], b[3], b[4], b[5], relu,
                                                               1e-5f, RunningStats<float>{b[6], b[7], 0.1f});
                               return std::vector<double>{};
                             }) == 0);
      std::vector<float> var = randn(c, 24);
      for (auto& v : var) v = v * v + 0.5f;
      CHECK(check_placements("batch_norm_forward_infer" + tag,
                             {x, randn(c, 21), randn(c, 22), randn(c, 25), var, std::vector<float>(sz)},
                             [s, relu](eigen::CpuContext& ctx, std::vector<float*>& b) {
                               eigen::batch_norm_forward_infer(ctx, s, b[0], b[1], b[2], b[3], b[4], b[5], relu);
                               return std::vector<double>{};
                             }) == 0);
      // Backward from a forward output computed once (aligned).
      eigen::CpuContext ctx(1);
      std::vector<float> gamma = randn(c, 21), beta = randn(c, 22), y(sz), mean(c), invstd(c);
      eigen::batch_norm_forward_train(ctx, s, x.data(), gamma.data(), beta.data(), y.data(), mean.data(), invstd.data(),
                                      relu);
      CHECK(check_placements("batch_norm_backward" + tag,
                             {x, y, randn(sz, 26), gamma, mean, invstd, std::vector<float>(sz), randn(c, 27, 0.1f),
                              randn(c, 28, 0.1f)},
                             [s, relu](eigen::CpuContext& ctx, std::vector<float*>& b) {
                               eigen::batch_norm_backward(ctx, s, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8],
                                                          relu);
                               return std::vector<double>{};
                             }) == 0);
    }
  }
}

TEST_CASE("alignment: batch norm 1d and layer norm are independent of buffer placement") {
  for (const auto& [n, c] : {std::pair{16, 37}, std::pair{7, 130}}) {
    const std::size_t sz = std::size_t(n) * c, cc = std::size_t(c);
    for (bool relu : {false, true}) {
      const std::string tag = " n=" + std::to_string(n) + " c=" + std::to_string(c) + (relu ? " relu" : "");
      CHECK(check_placements("batch_norm_1d_forward_train" + tag,
                             {randn(sz, 30), randn(cc, 31), randn(cc, 32), std::vector<float>(sz), std::vector<float>(cc),
                              std::vector<float>(cc)},
                             [n, c, relu](eigen::CpuContext& ctx, std::vector<float*>& b) {
                               eigen::batch_norm_1d_forward_train(ctx, n, c, b[0], b[1], b[2], b[3], b[4], b[5], relu);
                               return std::vector<double>{};
                             }) == 0);
      eigen::CpuContext ctx(1);
      std::vector<float> x = randn(sz, 30), gamma = randn(cc, 31), beta = randn(cc, 32), y(sz), mean(cc), invstd(cc);
      eigen::batch_norm_1d_forward_train(ctx, n, c, x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                         invstd.data(), relu);
      CHECK(check_placements("batch_norm_1d_backward" + tag,
                             {x, y, randn(sz, 33), gamma, mean, invstd, std::vector<float>(sz), randn(cc, 34, 0.1f),
                              randn(cc, 35, 0.1f)},
                             [n, c, relu](eigen::CpuContext& ctx, std::vector<float*>& b) {
                               eigen::batch_norm_1d_backward(ctx, n, c, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                                                             b[8], relu);
                               return std::vector<double>{};
                             }) == 0);
    }
  }
  for (const auto& [rows, cols] : {std::pair{5, 37}, std::pair{1, 300}, std::pair{9, 16}}) {
    const std::size_t sz = std::size_t(rows) * cols, rr = std::size_t(rows);
    const std::string tag = " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols);
    CHECK(check_placements("layer_norm_forward" + tag,
                           {randn(sz, 40), std::vector<float>(sz), std::vector<float>(rr), std::vector<float>(rr)},
                           [rows, cols](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::layer_norm_forward(ctx, std::size_t(rows), std::size_t(cols), b[0], b[1], b[2], b[3]);
                             return std::vector<double>{};
                           }) == 0);
    CHECK(check_placements("layer_norm_backward" + tag,
                           {randn(sz, 41), randn(sz, 42), randn(rr, 43), std::vector<float>(sz)},
                           [rows, cols](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::layer_norm_backward(ctx, std::size_t(rows), std::size_t(cols), b[0], b[1], b[2],
                                                        b[3]);
                             return std::vector<double>{};
                           }) == 0);
  }
}

TEST_CASE("alignment: conv2d forward and backward are independent of buffer placement") {
  for (const ConvShape& s : kConvShapes) {
    CHECK(check_placements(conv_name("conv2d_forward", s),
                           {randn(s.in_size(), 50), randn(s.weight_size(), 51, 0.3f), std::vector<float>(s.out_size())},
                           [s](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::conv2d_forward(ctx, s, b[0], b[1], b[2]);
                             return std::vector<double>{};
                           }) == 0);
    for (bool accumulate : {false, true})
      CHECK(check_placements(conv_name(accumulate ? "conv2d_backward (accumulate dx)" : "conv2d_backward", s),
                             {randn(s.in_size(), 52), randn(s.weight_size(), 53, 0.3f), randn(s.out_size(), 54),
                              randn(s.in_size(), 55), randn(s.weight_size(), 56, 0.1f)},
                             [s, accumulate](eigen::CpuContext& ctx, std::vector<float*>& b) {
                               eigen::conv2d_backward(ctx, s, b[0], b[1], b[2], b[3], b[4], accumulate);
                               return std::vector<double>{};
                             }) == 0);
    CHECK(check_placements(conv_name("conv2d_backward (no dx)", s),
                           {randn(s.in_size(), 57), randn(s.weight_size(), 58, 0.3f), randn(s.out_size(), 59),
                            randn(s.weight_size(), 60, 0.1f)},
                           [s](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::conv2d_backward(ctx, s, b[0], b[1], b[2], static_cast<float*>(nullptr), b[3]);
                             return std::vector<double>{};
                           }) == 0);
  }
}

TEST_CASE("alignment: pooling, losses and element-wise ops are independent of buffer placement") {
  for (const auto& [n, c, hw] : {std::tuple{3, 5, 49}, std::tuple{2, 7, 64}, std::tuple{4, 3, 1}}) {
    const std::size_t big = std::size_t(n) * c * hw, small = std::size_t(n) * c;
    const std::string tag = " n=" + std::to_string(n) + " c=" + std::to_string(c) + " hw=" + std::to_string(hw);
    CHECK(check_placements("global_avg_pool_forward" + tag, {randn(big, 70), std::vector<float>(small)},
                           [n, c, hw](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::global_avg_pool_forward(ctx, n, c, hw, b[0], b[1]);
                             return std::vector<double>{};
                           }) == 0);
    CHECK(check_placements("global_avg_pool_backward" + tag, {randn(small, 71), std::vector<float>(big)},
                           [n, c, hw](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::global_avg_pool_backward(ctx, n, c, hw, b[0], b[1]);
                             return std::vector<double>{};
                           }) == 0);
  }
  for (const auto& [n, classes] : {std::pair{7, 10}, std::pair{32, 10}, std::pair{5, 3}}) {
    std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
    Rng rng(72);
    for (auto& l : labels) l = std::int32_t(rng.below(std::uint64_t(classes)));
    CHECK(check_placements("softmax_cross_entropy n=" + std::to_string(n) + " classes=" + std::to_string(classes),
                           {randn(std::size_t(n) * classes, 73, 2.0f), std::vector<float>(std::size_t(n) * classes)},
                           [n, classes, labels](eigen::CpuContext&, std::vector<float*>& b) {
                             const auto r = eigen::softmax_cross_entropy(n, classes, b[0], labels.data(), b[1]);
                             return std::vector<double>{r.loss, double(r.correct)};
                           }) == 0);
  }
  {
    const int rows = 9, classes = 5;
    std::vector<std::int32_t> labels = {0, 4, -1, 2, 3, 1, -1, 4, 2};
    std::vector<std::int32_t> nodes = {0, 1, 3, 5, 7, 8};
    CHECK(check_placements("node_cross_entropy", {randn(std::size_t(rows) * classes, 74, 2.0f),
                                                  std::vector<float>(std::size_t(rows) * classes)},
                           [&](eigen::CpuContext&, std::vector<float*>& b) {
                             const auto r = eigen::node_cross_entropy(std::size_t(rows), classes, b[0], labels.data(),
                                                                      std::span<const std::int32_t>(nodes), b[1]);
                             return std::vector<double>{r.loss, double(r.correct)};
                           }) == 0);
  }
  const std::size_t count = 5003;
  CHECK(check_placements("dropout_forward", {randn(count, 80), std::vector<float>(count), std::vector<float>(count)},
                         [count](eigen::CpuContext& ctx, std::vector<float*>& b) {
                           eigen::dropout_forward(ctx, count, 0.3, 81, b[0], b[1], b[2]);
                           return std::vector<double>{};
                         }) == 0);
  CHECK(check_placements("relu, residual_add, scale_copy, add_to, dropout_backward",
                         {randn(count, 82), randn(count, 83), randn(count, 84), std::vector<float>(count),
                          std::vector<float>(count), randn(count, 85)},
                         [count](eigen::CpuContext& ctx, std::vector<float*>& b) {
                           eigen::relu_forward(ctx, count, b[0], b[3]);
                           eigen::relu_backward(ctx, count, b[3], b[1], b[4]);
                           eigen::residual_add(ctx, count, 0.5f, b[2], b[4]);
                           eigen::scale_copy(ctx, count, 1.5f, b[4], b[3]);
                           eigen::add_to(ctx, count, b[3], b[1]);
                           eigen::dropout_backward(ctx, count, b[5], b[1], b[2]);
                           return std::vector<double>{};
                         }) == 0);
}

TEST_CASE("alignment: sparse products are independent of buffer placement") {
  const int rows = 20, cols = 15;
  eigen::SparseRowMatrix<float> a(rows, cols);
  {
    std::vector<Eigen::Triplet<float>> t;
    Rng rng(90);
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j)
        if (rng.uniform() < 0.3) t.emplace_back(i, j, float(rng.normal()));
    a.setFromTriplets(t.begin(), t.end());
    a.makeCompressed();
  }
  const std::size_t nnz = std::size_t(a.nonZeros());
  for (int n : {13, 40}) {
    const std::string tag = " n=" + std::to_string(n);
    CHECK(check_placements("spmm" + tag,
                           {randn(std::size_t(cols) * n, 91), std::vector<float>(std::size_t(rows) * n), randn(nnz, 92)},
                           [&a, n](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::spmm(ctx, a, b[0], n, b[1]);
                             return std::vector<double>{};
                           }) == 0);
    CHECK(check_placements("spmm (values)" + tag,
                           {randn(std::size_t(cols) * n, 91), std::vector<float>(std::size_t(rows) * n), randn(nnz, 92)},
                           [&a, n](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::spmm(ctx, a, b[0], n, b[1], b[2]);
                             return std::vector<double>{};
                           }) == 0);
    CHECK(check_placements("spmm_transposed_add" + tag,
                           {randn(std::size_t(rows) * n, 93), randn(std::size_t(cols) * n, 94), randn(nnz, 95)},
                           [&a, n](eigen::CpuContext& ctx, std::vector<float*>& b) {
                             eigen::spmm_transposed_add(ctx, a, b[0], n, b[1]);
                             eigen::spmm_transposed_add(ctx, a, b[0], n, b[1], b[2]);
                             return std::vector<double>{};
                           }) == 0);
  }
}

// Eigen parallelizes a large product itself when its thread count (Eigen::setNbThreads, default: all
// cores) is above 1, with other blocking sizes, hence other sums. ist's products must give the same bits
// whatever Eigen's thread count is.
TEST_CASE("alignment: products do not depend on Eigen's thread count") {
  const LinearCase c{256, 384, 320};
  const std::size_t nx = std::size_t(c.n) * c.in, nw = std::size_t(c.in) * c.out, ny = std::size_t(c.n) * c.out;
  const ConvShape s{4, 64, 16, 16, 96, 1, 1, 0};
  const std::vector<float> x = randn(nx, 100), w = randn(nw, 101), dy = randn(ny, 102);
  const std::vector<float> cx = randn(s.in_size(), 103), cw = randn(s.weight_size(), 104), cdy = randn(s.out_size(), 105);
  auto run = [&](int eigen_threads) {
    eigen::CpuContext ctx(1);
    Eigen::setNbThreads(eigen_threads);
    std::vector<float> y(ny), dx(nx), dw(nw), db(std::size_t(c.out)), cy(s.out_size()), cdx(s.in_size()),
        cdw(s.weight_size());
    eigen::linear_forward(ctx, c.n, c.in, c.out, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
    eigen::linear_backward(ctx, c.n, c.in, c.out, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    eigen::conv2d_forward(ctx, s, cx.data(), cw.data(), cy.data());
    eigen::conv2d_backward(ctx, s, cx.data(), cw.data(), cdy.data(), cdx.data(), cdw.data());
    Eigen::setNbThreads(0);  // back to Eigen's default: follow OpenMP (nothing set)
    return std::vector<std::vector<float>>{y, dx, dw, db, cy, cdx, cdw};
  };
  const auto one = run(1), two = run(2);
  const std::string names[] = {"linear y", "linear dx", "linear dw", "linear db", "conv y", "conv dx", "conv dw"};
  for (std::size_t k = 0; k < one.size(); ++k) {
    const auto mismatch = std::mismatch(one[k].begin(), one[k].end(), two[k].begin(),
                                        [](float p, float q) { return std::memcmp(&p, &q, sizeof p) == 0; });
    if (mismatch.first != one[k].end())
      FAIL_CHECK(names[k] << " element " << (mismatch.first - one[k].begin()) << ": expected " << bits(*mismatch.first)
                          << " (1 Eigen thread), found " << bits(*mismatch.second) << " (2 Eigen threads)");
  }
}

}  // namespace test_alignment
