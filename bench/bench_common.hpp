#pragma once
// Helpers shared by the benchmarks: thread count from the environment, random fill, the vector instruction
// set the kernels were compiled for.
#include <Eigen/Core>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace ist::bench {

// Threads per benchmark: IST_THREADS (default 2, the machine these numbers are quoted for).
inline int threads_from_env() {
  const char* s = std::getenv("IST_THREADS");
  const int t = s ? std::atoi(s) : 2;
  return t > 0 ? t : 2;
}

template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed, T lo = T(-1), T hi = T(1)) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<T> d(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// The vector instructions ist's Eigen kernels were compiled for (set by the compiler flags, e.g. ist::native's
// -march): "AVX-512 + FMA, 16 floats per packet". A figure is only comparable with this next to it: without
// -march flags an x86-64 build gets SSE2 (4 floats, no FMA); "scalar" means no vectorization at all.
inline std::string simd_isa() {
#if defined(EIGEN_VECTORIZE_AVX512)
  std::string s = "AVX-512";
#elif defined(EIGEN_VECTORIZE_AVX2)
  std::string s = "AVX2";
#elif defined(EIGEN_VECTORIZE_AVX)
  std::string s = "AVX";
#elif defined(EIGEN_VECTORIZE_SSE2)
  std::string s = "SSE2";
#elif defined(EIGEN_VECTORIZE_NEON)
  std::string s = "NEON";
#elif defined(EIGEN_VECTORIZE)
  std::string s = "vector";
#else
  std::string s = "scalar";
#endif
#if defined(EIGEN_VECTORIZE_FMA)
  s += " + FMA";
#endif
  return s + ", " + std::to_string(Eigen::internal::packet_traits<float>::size) + " floats per packet";
}

}  // namespace ist::bench
