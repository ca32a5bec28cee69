#pragma once
// Helpers shared by the benchmarks: thread count from the environment, random fill.
#include <cstdlib>
#include <random>
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

}  // namespace ist::bench
