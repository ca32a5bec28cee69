#pragma once
// Finite-difference gradient checking for tests. The loss is always L = sum(out .* probe) for a fixed
// random probe, so dL/dout = probe.
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "ist/core/rng.hpp"

namespace ist::test {

inline std::vector<double> random_vector(std::size_t n, std::uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<double> v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Relative error of an analytic gradient against central differences:
//   ||analytic - numeric||_2 / ||numeric||_2   over the checked entries (every `stride`-th).
// `loss` recomputes the scalar loss; `x` is perturbed in place and restored.
inline double max_rel_error(std::vector<double>& x, const std::vector<double>& analytic,
                            const std::function<double()>& loss, double h = 1e-5, std::size_t stride = 1) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < x.size(); i += stride) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = loss();
    x[i] = keep - h;
    const double down = loss();
    x[i] = keep;
    const double numeric = (up - down) / (2 * h);
    diff += (analytic[i] - numeric) * (analytic[i] - numeric);
    norm += numeric * numeric;
  }
  return std::sqrt(diff / std::max(norm, 1e-300));
}

}  // namespace ist::test
