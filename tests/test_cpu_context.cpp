// CpuContext and Eigen's threads: ist leaves Eigen's process-wide thread count (Eigen::setNbThreads) to the
// user, and still runs its own matrix products on the calling thread, so that results do not depend on the
// OpenMP thread count of the thread that trains.
#include <doctest/doctest.h>
#include <omp.h>

#include <Eigen/Core>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "ist/backend/eigen/conv2d.hpp"
#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/linear.hpp"

namespace test_cpu_context {

namespace {

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(gen);
  return v;
}

// Runs every ist op that calls an Eigen matrix product: linear forward/backward, and a 1x1 and a 3x3
// convolution forward/backward (the 3x3 one through im2col). Returns all outputs, concatenated.
std::vector<float> run_product_ops(ist::eigen::CpuContext& ctx) {
  std::vector<float> out;
  const int n = 64, in = 512, width = 384;
  const auto x = random_floats(std::size_t(n) * in, 1), w = random_floats(std::size_t(width) * in, 2),
             dy = random_floats(std::size_t(n) * width, 3);
  std::vector<float> y(std::size_t(n) * width), dx(x.size()), dw(w.size(), 0.0f);
  ist::eigen::linear_forward(ctx, n, in, width, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
  ist::eigen::linear_backward(ctx, n, in, width, x.data(), w.data(), dy.data(), dx.data(), dw.data(),
                              static_cast<float*>(nullptr));
  for (const auto* v : {&y, &dx, &dw}) out.insert(out.end(), v->begin(), v->end());
  for (int r : {1, 3}) {
    ist::ConvShape s;
    s.n = 2, s.c = 64, s.h = 16, s.w = 16, s.k = 64, s.r = r, s.stride = 1, s.pad = r / 2;
    const auto cx = random_floats(s.in_size(), 4), cw = random_floats(s.weight_size(), 5),
               cdy = random_floats(s.out_size(), 6);
    std::vector<float> cy(s.out_size()), cdx(s.in_size()), cdw(s.weight_size(), 0.0f);
    ist::eigen::conv2d_forward(ctx, s, cx.data(), cw.data(), cy.data());
    ist::eigen::conv2d_backward(ctx, s, cx.data(), cw.data(), cdy.data(), cdx.data(), cdw.data());
    for (const auto* v : {&cy, &cdx, &cdw}) out.insert(out.end(), v->begin(), v->end());
  }
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Restores this thread's OpenMP thread count and Eigen's "not set" state (setNbThreads(0): Eigen then
// follows omp_get_max_threads()) at scope exit, so that later test cases in the same process start clean.
struct RestoreThreads {
  int omp = omp_get_max_threads();
  ~RestoreThreads() {
    omp_set_num_threads(omp);
    Eigen::setNbThreads(0);
  }
};

}  // namespace

TEST_CASE("CpuContext: without Eigen::setNbThreads, Eigen still follows OpenMP after a context and ist ops") {
  RestoreThreads restore;
  omp_set_num_threads(3);
  REQUIRE_MESSAGE(Eigen::nbThreads() == 3, "Eigen::nbThreads(): expected 3 (this thread's omp_get_max_threads(), "
                                           "nothing having called Eigen::setNbThreads), found ", Eigen::nbThreads());
  ist::eigen::CpuContext ctx(2);
  CHECK_MESSAGE(Eigen::nbThreads() == 3, "after constructing a CpuContext: expected 3, found ", Eigen::nbThreads());
  (void)run_product_ops(ctx);
  ist::eigen::CpuContext one;
  (void)run_product_ops(one);
  CHECK_MESSAGE(Eigen::nbThreads() == 3, "after ist ops: expected 3, found ", Eigen::nbThreads());
  CHECK(omp_get_max_threads() == 3);
}

TEST_CASE("CpuContext: a user's own Eigen::setNbThreads value is left as it was") {
  RestoreThreads restore;
  Eigen::setNbThreads(2);
  ist::eigen::CpuContext ctx;
  CHECK_MESSAGE(Eigen::nbThreads() == 2, "after constructing a CpuContext: expected 2, found ", Eigen::nbThreads());
  (void)run_product_ops(ctx);
  CHECK_MESSAGE(Eigen::nbThreads() == 2, "after ist ops: expected 2, found ", Eigen::nbThreads());
}

TEST_CASE("CpuContext: ist's products give the same bits whatever the calling thread's OpenMP thread count") {
  RestoreThreads restore;
  ist::eigen::CpuContext ctx;
  omp_set_num_threads(1);
  const auto serial = run_product_ops(ctx);
  for (int threads : {2, 4}) {
    CAPTURE(threads);
    omp_set_num_threads(threads);
    CHECK(same_bits(run_product_ops(ctx), serial));
    // The same on a fresh thread (an in-process worker), whose OpenMP count is the process default.
    std::vector<float> on_worker;
    std::thread t([&] {
      omp_set_num_threads(threads);
      ist::eigen::CpuContext worker_ctx;
      on_worker = run_product_ops(worker_ctx);
    });
    t.join();
    CHECK(same_bits(on_worker, serial));
  }
}

}  // namespace test_cpu_context
