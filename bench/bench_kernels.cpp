// Kernel benchmarks of the Eigen backend on the PreAct ResNet-20 shapes (batch 128, 1x28x28 input),
// IST_THREADS threads (default 2). Reports FLOPS (rate counter) for convolutions, products and the
// linear layer, and bytes/s for batch norm, so kernels can be read against the SGEMM reference:
//
//   SGEMM/1024            square Eigen SGEMM on the same threads: the machine's practical GEMM rate
//   SGEMM/conv-16ch ...   the conv-as-GEMM shapes W[K x 9C] * col[9C x HW], one per image
//   Conv*/c16_28x28 ...   conv2d_forward, conv2d_backward (input + weight gradients) of each layer shape
//
// FLOPs of a conv: 2 * N * K * OH * OW * C * R * R forward, twice that for the backward (two products).
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "bench_common.hpp"
#include "ist/backend/eigen/batch_norm.hpp"
#include "ist/backend/eigen/conv2d.hpp"
#include "ist/backend/eigen/linear.hpp"

namespace {

// The vector instructions the kernels were compiled for, in the JSON's "context" (bench/compare_pytorch.py
// prints it next to each figure).
[[maybe_unused]] const bool simd_in_context = (benchmark::AddCustomContext("ist_simd", ist::bench::simd_isa()), true);

constexpr int kBatch = 128;

// The distinct convolutions of PreAct ResNet-20 on 1x28x28 (stem, three stages, two transitions).
struct ConvCase {
  const char* name;
  ist::ConvShape shape;
};
const ConvCase kConvs[] = {
    {"stem_1to16_28x28", {kBatch, 1, 28, 28, 16, 3, 1, 1}},
    {"c16_28x28", {kBatch, 16, 28, 28, 16, 3, 1, 1}},
    {"c16to32_s2_28x28", {kBatch, 16, 28, 28, 32, 3, 2, 1}},
    {"proj_16to32_s2", {kBatch, 16, 28, 28, 32, 1, 2, 0}},
    {"c32_14x14", {kBatch, 32, 14, 14, 32, 3, 1, 1}},
    {"c32to64_s2_14x14", {kBatch, 32, 14, 14, 64, 3, 2, 1}},
    {"proj_32to64_s2", {kBatch, 32, 14, 14, 64, 1, 2, 0}},
    {"c64_7x7", {kBatch, 64, 7, 7, 64, 3, 1, 1}},
};

void BM_ConvForward(benchmark::State& state) {
  const auto& cc = kConvs[state.range(0)];
  const auto& s = cc.shape;
  ist::eigen::CpuContext ctx(ist::bench::threads_from_env());
  const auto x = ist::bench::random_vector<float>(s.in_size(), 1);
  const auto w = ist::bench::random_vector<float>(s.weight_size(), 2);
  std::vector<float> y(s.out_size());
  for (auto _ : state) {
    ist::eigen::conv2d_forward(ctx, s, x.data(), w.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(cc.name);
  state.counters["FLOPS"] = benchmark::Counter(s.flops() * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_ConvBackward(benchmark::State& state) {
  const auto& cc = kConvs[state.range(0)];
  const auto& s = cc.shape;
  ist::eigen::CpuContext ctx(ist::bench::threads_from_env());
  const auto x = ist::bench::random_vector<float>(s.in_size(), 1);
  const auto w = ist::bench::random_vector<float>(s.weight_size(), 2);
  const auto dy = ist::bench::random_vector<float>(s.out_size(), 3);
  std::vector<float> dx(s.in_size()), dw(s.weight_size(), 0.0f);
  for (auto _ : state) {
    ist::eigen::conv2d_backward(ctx, s, x.data(), w.data(), dy.data(), dx.data(), dw.data());
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(cc.name);
  state.counters["FLOPS"] =
      benchmark::Counter(2 * s.flops() * double(state.iterations()), benchmark::Counter::kIsRate);
}

// Weight gradient only (dx = nullptr), as for the stem; FLOPs of one product.
void BM_ConvBackwardWeights(benchmark::State& state) {
  const auto& cc = kConvs[state.range(0)];
  const auto& s = cc.shape;
  ist::eigen::CpuContext ctx(ist::bench::threads_from_env());
  const auto x = ist::bench::random_vector<float>(s.in_size(), 1);
  const auto w = ist::bench::random_vector<float>(s.weight_size(), 2);
  const auto dy = ist::bench::random_vector<float>(s.out_size(), 3);
  std::vector<float> dw(s.weight_size(), 0.0f);
  for (auto _ : state) {
    ist::eigen::conv2d_backward(ctx, s, x.data(), w.data(), dy.data(), static_cast<float*>(nullptr), dw.data());
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(cc.name);
  state.counters["FLOPS"] = benchmark::Counter(s.flops() * double(state.iterations()), benchmark::Counter::kIsRate);
}

void conv_args(benchmark::internal::Benchmark* b) {
  for (int i = 0; i < int(std::size(kConvs)); ++i) b->Arg(i);
}
BENCHMARK(BM_ConvForward)->Apply(conv_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConvBackward)->Apply(conv_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConvBackwardWeights)->Apply(conv_args)->Unit(benchmark::kMillisecond)->UseRealTime();

// Eigen SGEMM C[m x n] = A[m x k] * B[k x n], `batch` independent products spread over the threads
// (Eigen's own threading is off in ist, so this is how ist uses GEMM).
void BM_Sgemm(benchmark::State& state) {
  const int m = int(state.range(0)), k = int(state.range(1)), n = int(state.range(2)), batch = int(state.range(3));
  const int threads = ist::bench::threads_from_env();
  Eigen::setNbThreads(batch == 1 ? threads : 1);
  using Mat = Eigen::MatrixXf;
  std::vector<Mat> A, B, C;
  for (int i = 0; i < batch; ++i) {
    A.push_back(Mat::Random(m, k));
    B.push_back(Mat::Random(k, n));
    C.push_back(Mat::Zero(m, n));
  }
  for (auto _ : state) {
#pragma omp parallel for num_threads(threads) schedule(static) if (batch > 1)
    for (int i = 0; i < batch; ++i) C[std::size_t(i)].noalias() = A[std::size_t(i)] * B[std::size_t(i)];
    benchmark::DoNotOptimize(C[0].data());
    benchmark::ClobberMemory();
  }
  Eigen::setNbThreads(1);
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * m * n * k * batch * double(state.iterations()), benchmark::Counter::kIsRate);
}
// {m, k, n, batch}: square 1024 (Eigen threads), then the per-image conv-as-GEMM shapes of the 3 stages.
BENCHMARK(BM_Sgemm)->Name("SGEMM/1024")->Args({1024, 1024, 1024, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Sgemm)->Name("SGEMM/conv-16ch")->Args({16, 144, 784, kBatch})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Sgemm)->Name("SGEMM/conv-32ch")->Args({32, 288, 196, kBatch})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Sgemm)->Name("SGEMM/conv-64ch")->Args({64, 576, 49, kBatch})->Unit(benchmark::kMillisecond)->UseRealTime();

// Batch norm + ReLU, training forward and backward. Bytes: forward reads x twice (statistics, then
// normalize) and writes y; backward reads x, y, dy and writes dx. Counted as the minimum traffic
// (forward: read x + write y; backward: read x, y, dy + write dx) so GB/s compares across versions.
struct BnCase {
  const char* name;
  ist::BatchNormShape shape;
};
const BnCase kBns[] = {
    {"c16_28x28", {kBatch, 16, 784}},
    {"c32_14x14", {kBatch, 32, 196}},
    {"c64_7x7", {kBatch, 64, 49}},
};

void BM_BatchNormForward(benchmark::State& state) {
  const auto& bc = kBns[state.range(0)];
  const auto& s = bc.shape;
  ist::eigen::CpuContext ctx(ist::bench::threads_from_env());
  const auto x = ist::bench::random_vector<float>(s.size(), 1);
  const auto gamma = ist::bench::random_vector<float>(std::size_t(s.c), 2, 0.5f, 1.5f);
  const auto beta = ist::bench::random_vector<float>(std::size_t(s.c), 3);
  std::vector<float> y(s.size()), mean(std::size_t(s.c)), invstd(std::size_t(s.c));
  for (auto _ : state) {
    ist::eigen::batch_norm_forward_train(ctx, s, x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                         invstd.data(), true);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(bc.name);
  state.counters["bytes_per_s"] = benchmark::Counter(2.0 * sizeof(float) * double(s.size()) * double(state.iterations()),
                                                     benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
}

void BM_BatchNormBackward(benchmark::State& state) {
  const auto& bc = kBns[state.range(0)];
  const auto& s = bc.shape;
  ist::eigen::CpuContext ctx(ist::bench::threads_from_env());
  const auto x = ist::bench::random_vector<float>(s.size(), 1);
  const auto gamma = ist::bench::random_vector<float>(std::size_t(s.c), 2, 0.5f, 1.5f);
  const auto beta = ist::bench::random_vector<float>(std::size_t(s.c), 3);
  const auto dy = ist::bench::random_vector<float>(s.size(), 4);
  std::vector<float> y(s.size()), dx(s.size()), mean(std::size_t(s.c)), invstd(std::size_t(s.c));
  std::vector<float> dgamma(std::size_t(s.c)), dbeta(std::size_t(s.c));
  ist::eigen::batch_norm_forward_train(ctx, s, x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                       invstd.data(), true);
  for (auto _ : state) {
    ist::eigen::batch_norm_backward(ctx, s, x.data(), y.data(), dy.data(), gamma.data(), mean.data(), invstd.data(),
                                    dx.data(), dgamma.data(), dbeta.data(), true);
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(bc.name);
  state.counters["bytes_per_s"] = benchmark::Counter(4.0 * sizeof(float) * double(s.size()) * double(state.iterations()),
                                                     benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
}
BENCHMARK(BM_BatchNormForward)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_BatchNormBackward)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The classifier: linear 64 -> 10 on the batch, forward + backward.
void BM_Linear(benchmark::State& state) {
  const int n = kBatch, in = int(state.range(0)), out = int(state.range(1));
  ist::eigen::CpuContext ctx(ist::bench::threads_from_env());
  const auto x = ist::bench::random_vector<float>(std::size_t(n) * in, 1);
  const auto w = ist::bench::random_vector<float>(std::size_t(in) * out, 2);
  const auto b = ist::bench::random_vector<float>(std::size_t(out), 3);
  const auto dy = ist::bench::random_vector<float>(std::size_t(n) * out, 4);
  std::vector<float> y(std::size_t(n) * out), dx(std::size_t(n) * in), dw(w.size()), db(b.size());
  for (auto _ : state) {
    ist::eigen::linear_forward(ctx, n, in, out, x.data(), w.data(), b.data(), y.data());
    ist::eigen::linear_backward(ctx, n, in, out, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOPS"] =
      benchmark::Counter(3 * 2.0 * n * in * out * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Linear)->Args({64, 10})->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
