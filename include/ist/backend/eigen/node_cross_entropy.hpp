#pragma once
// Softmax cross-entropy over a subset of the rows of a logits matrix: the loss of full-batch node
// classification, where the whole graph runs forward but only the training nodes are labelled.
//
// logits, dlogits: [rows, classes] row-major; labels: [rows] (-1 = unlabeled); nodes: the rows to score.
// The loss is the mean over `nodes`. dlogits (may be null) is overwritten: (softmax - onehot) / |nodes| on
// the scored rows, 0 on every other row. A scored row must have a label in [0, classes): an unlabeled
// node (-1) is never used as a class index, it is an error.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/softmax_cross_entropy.hpp"
#include "ist/core/error.hpp"

namespace ist::eigen {

template <class T>
LossResult node_cross_entropy(std::size_t rows, int classes, const T* logits, const std::int32_t* labels,
                              std::span<const std::int32_t> nodes, T* dlogits) {
  IST_CHECK(!nodes.empty(), "ist::eigen::node_cross_entropy: expected at least one node to score, found none");
  if (dlogits) std::fill(dlogits, dlogits + rows * std::size_t(classes), T(0));
  LossResult r;
  const double inv_n = 1.0 / double(nodes.size());
  for (const std::int32_t node : nodes) {
    IST_CHECK(node >= 0 && std::size_t(node) < rows, "ist::eigen::node_cross_entropy: node ", node,
              " is out of range [0, ", rows, ")");
    const int y = labels[node];
    IST_CHECK(y >= 0 && y < classes, "ist::eigen::node_cross_entropy: node ", node, ": expected a label in [0, ",
              classes, "), found ", y, y == -1 ? " (unlabeled)" : "");
    const T* z = logits + std::size_t(node) * classes;
    const int arg = int(std::max_element(z, z + classes) - z);
    const double zmax = double(z[arg]);
    double sum = 0;
    for (int j = 0; j < classes; ++j) sum += std::exp(double(z[j]) - zmax);
    const double log_sum = std::log(sum);
    r.loss += log_sum - (double(z[y]) - zmax);
    r.correct += arg == y;
    if (dlogits) {
      T* d = dlogits + std::size_t(node) * classes;
      for (int j = 0; j < classes; ++j)
        d[j] = T((std::exp(double(z[j]) - zmax - log_sum) - (j == y ? 1.0 : 0.0)) * inv_n);
    }
  }
  r.loss *= inv_n;
  return r;
}

// node_cross_entropy with the context first and the labels and the node list in host memory, the form the graph
// training loop (ist::GraphBatches) calls on every compute policy: logits and dlogits are the policy's memory
// (ist::cuda::score_nodes uploads the two lists). labels: [rows].
template <class T>
LossResult score_nodes(CpuContext&, std::size_t rows, int classes, const T* logits,
                       std::span<const std::int32_t> labels, std::span<const std::int32_t> nodes, T* dlogits) {
  IST_CHECK(labels.size() == rows, "ist::eigen::score_nodes: expected ", rows, " labels (one per row), found ",
            labels.size());
  return node_cross_entropy(rows, classes, logits, labels.data(), nodes, dlogits);
}

}  // namespace ist::eigen
