// The sparse-dense products of the graph convolutional networks (ist/backend/eigen/sparse_matmul.hpp) on
// Cora-sized random inputs, IST_THREADS threads (default 2). FLOPS = 2 x nonzeros x dense columns.
//
//   Spmm/adjacency/n:<n>      A_hat H: 2708 x 2708, 5 nonzeros a row (Cora has 3.9 edges a node + the
//                             self-loop), times H [2708 x n]
//   Spmm/features/n:<n>       X W: 2708 x 1433 bag-of-words features at Cora's 1.27 % density, times W
//   SpmmT/adjacency/n:<n>     A_hat^T G (the backward of A_hat H), accumulating
//
//   build-bench/bench/ist_bench_sparse --benchmark_out=sparse.json --benchmark_out_format=json
#include <benchmark/benchmark.h>

#include <Eigen/SparseCore>
#include <random>
#include <vector>

#include "bench_common.hpp"
#include "ist/backend/eigen/sparse_matmul.hpp"

namespace {

using Sparse = ist::eigen::SparseRowMatrix<float>;

// rows x cols with about `per_row` random nonzeros a row (and the diagonal when square), values in [0, 1).
Sparse random_sparse(int rows, int cols, double per_row, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> col(0, cols - 1);
  std::uniform_real_distribution<float> val(0.f, 1.f);
  std::vector<Eigen::Triplet<float, int>> t;
  for (int i = 0; i < rows; ++i) {
    if (rows == cols) t.emplace_back(i, i, val(rng));
    for (int k = 0; k < int(per_row); ++k) t.emplace_back(i, col(rng), val(rng));
  }
  Sparse a(rows, cols);
  a.setFromTriplets(t.begin(), t.end());
  a.makeCompressed();
  return a;
}

void run(benchmark::State& state, const Sparse& a, bool transposed) {
  const int n = int(state.range(0));
  ist::eigen::CpuContext ctx(ist::bench::threads_from_env());
  const auto b = ist::bench::random_vector<float>(std::size_t(transposed ? a.rows() : a.cols()) * std::size_t(n), 1);
  std::vector<float> y(std::size_t(transposed ? a.cols() : a.rows()) * std::size_t(n), 0.f);
  for (auto _ : state) {
    if (transposed)
      ist::eigen::spmm_transposed_add(ctx, a, b.data(), n, y.data());
    else
      ist::eigen::spmm(ctx, a, b.data(), n, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["nnz"] = double(a.nonZeros());
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * double(a.nonZeros()) * n * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_SpmmAdjacency(benchmark::State& state) {
  static const Sparse a = random_sparse(2708, 2708, 4, 7);
  run(state, a, false);
}
void BM_SpmmFeatures(benchmark::State& state) {
  static const Sparse a = random_sparse(2708, 1433, 0.0127 * 1433, 8);
  run(state, a, false);
}
void BM_SpmmTAdjacency(benchmark::State& state) {
  static const Sparse a = random_sparse(2708, 2708, 4, 7);
  run(state, a, true);
}
BENCHMARK(BM_SpmmAdjacency)->Name("Spmm/adjacency")->ArgName("n")->Arg(16)->Arg(64)->Arg(256)
    ->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_SpmmFeatures)->Name("Spmm/features")->ArgName("n")->Arg(16)->Arg(64)->Arg(256)
    ->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_SpmmTAdjacency)->Name("SpmmT/adjacency")->ArgName("n")->Arg(16)->Arg(64)->Arg(256)
    ->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
