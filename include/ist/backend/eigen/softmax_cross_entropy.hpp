#pragma once
// Softmax cross-entropy averaged over the batch, with its gradient in the same pass.
// logits, dlogits: [n, classes]; labels: [n], each in [0, classes).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "ist/core/error.hpp"

namespace ist::eigen {

struct LossResult {
  double loss = 0;  // mean over the batch
  int correct = 0;  // argmax == label
};

// dlogits (may be null) = (softmax(logits) - onehot(label)) / n: the gradient of the mean loss.
template <class T>
LossResult softmax_cross_entropy(int n, int classes, const T* logits, const std::int32_t* labels, T* dlogits) {
  LossResult r;
  for (int i = 0; i < n; ++i) {
    const T* z = logits + std::size_t(i) * classes;
    const int y = labels[i];
    IST_CHECK(y >= 0 && y < classes, "ist::softmax_cross_entropy: sample ", i, ": expected a label in [0, ",
              classes, "), found ", y);
    const int arg = int(std::max_element(z, z + classes) - z);
    const T zmax = z[arg];
    double sum = 0;
    for (int j = 0; j < classes; ++j) sum += std::exp(double(z[j] - zmax));
    const double log_sum = std::log(sum);
    r.loss += log_sum - double(z[y] - zmax);
    r.correct += arg == y;
    if (dlogits) {
      T* d = dlogits + std::size_t(i) * classes;
      for (int j = 0; j < classes; ++j) {
        const double p = std::exp(double(z[j] - zmax) - log_sum);
        d[j] = T((p - (j == y ? 1.0 : 0.0)) / n);
      }
    }
  }
  r.loss /= n;
  return r;
}

}  // namespace ist::eigen
