#pragma once
// A node-classification graph held in memory, ready for a GCN or a GraphSAGE: sparse node features, the
// normalized adjacency A_hat = D^-1/2 (A + I) D^-1/2 (GCN), the mean-aggregation matrix M = D^-1 A
// (GraphSAGE), labels (-1 = unlabeled) and the train / val / test node ids. load_planetoid (planetoid.hpp)
// fills one; gcn_normalized_adjacency, mean_aggregation_matrix and row_normalize build the pieces from raw
// arrays.
#include <Eigen/SparseCore>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ist/core/error.hpp"

namespace ist {

using GraphMatrix = Eigen::SparseMatrix<float, Eigen::RowMajor, int>;

struct GraphDataset {
  std::string name;    // "cora"
  std::string source;  // the folder it came from, for messages
  int num_nodes = 0, num_features = 0, num_classes = 0;
  std::int64_t num_edges = 0;            // undirected edges, self loops excluded
  GraphMatrix features;                  // [N, F], compressed
  GraphMatrix adjacency;                 // A_hat [N, N], compressed, symmetric
  GraphMatrix mean_aggregation;          // M = D^-1 A [N, N], compressed: row i averages i's neighbours
  std::vector<std::int32_t> labels;      // [N]: class in [0, num_classes), or -1 = unlabeled
  std::vector<std::int32_t> train, val, test;  // node ids; every one of them is labelled
};

namespace detail {

// The 0/1 pattern of the undirected graph of `edges` on `num_nodes` nodes (each pair once or in both
// directions; duplicates count once; pairs with u == v ignored), with every self loop added when
// `self_loops`. `who` names the caller in errors.
inline GraphMatrix undirected_pattern(int num_nodes, std::span<const std::array<std::int32_t, 2>> edges,
                                      bool self_loops, const char* who) {
  IST_CHECK(num_nodes >= 1, who, ": expected num_nodes >= 1, found ", num_nodes);
  std::vector<Eigen::Triplet<float, int>> entries;
  entries.reserve(2 * edges.size() + (self_loops ? std::size_t(num_nodes) : 0));
  for (std::size_t e = 0; e < edges.size(); ++e) {
    const auto [u, v] = edges[e];
    IST_CHECK(u >= 0 && u < num_nodes && v >= 0 && v < num_nodes, who, ": edge ", e, " (", u, ", ", v,
              ") has a node out of range [0, ", num_nodes, ")");
    if (u == v) continue;
    entries.emplace_back(u, v, 1.f);
    entries.emplace_back(v, u, 1.f);
  }
  if (self_loops)
    for (int i = 0; i < num_nodes; ++i) entries.emplace_back(i, i, 1.f);
  GraphMatrix a(num_nodes, num_nodes);
  a.setFromTriplets(entries.begin(), entries.end(), [](float x, float) { return x; });  // duplicates count once
  a.makeCompressed();
  return a;
}

}  // namespace detail

// A_hat = D^-1/2 (A + I) D^-1/2 for an undirected graph on `num_nodes` nodes. `edges` lists (u, v) pairs,
// each undirected edge once or in both directions (duplicates count once); pairs with u == v are
// ignored (the identity adds every self loop exactly once). D is the degree matrix of A + I.
inline GraphMatrix gcn_normalized_adjacency(int num_nodes, std::span<const std::array<std::int32_t, 2>> edges) {
  GraphMatrix a = detail::undirected_pattern(num_nodes, edges, true, "ist::gcn_normalized_adjacency");
  std::vector<double> inv_sqrt_degree(static_cast<std::size_t>(num_nodes));
  for (int i = 0; i < num_nodes; ++i)
    inv_sqrt_degree[std::size_t(i)] = 1.0 / std::sqrt(double(a.outerIndexPtr()[i + 1] - a.outerIndexPtr()[i]));
  for (int i = 0; i < num_nodes; ++i)
    for (GraphMatrix::InnerIterator it(a, i); it; ++it)
      it.valueRef() = float(inv_sqrt_degree[std::size_t(i)] * inv_sqrt_degree[std::size_t(it.col())]);
  return a;
}

// M = D^-1 A, GraphSAGE's mean aggregator, for the same undirected graph (same `edges` rules as
// gcn_normalized_adjacency): (M H)_i is the mean of the rows of H at i's neighbours, without i itself
// (no self loops). D is A's degree matrix; a node without neighbours has an empty row (its mean is 0).
inline GraphMatrix mean_aggregation_matrix(int num_nodes, std::span<const std::array<std::int32_t, 2>> edges) {
  GraphMatrix a = detail::undirected_pattern(num_nodes, edges, false, "ist::mean_aggregation_matrix");
  for (int i = 0; i < num_nodes; ++i) {
    const int degree = a.outerIndexPtr()[i + 1] - a.outerIndexPtr()[i];
    for (GraphMatrix::InnerIterator it(a, i); it; ++it) it.valueRef() = float(1.0 / double(degree));
  }
  return a;
}

// Divides every row by its sum, as GCN preprocesses node features; a row summing to 0 stays 0.
inline void row_normalize(GraphMatrix& m) {
  for (int i = 0; i < m.outerSize(); ++i) {
    double sum = 0;
    for (GraphMatrix::InnerIterator it(m, i); it; ++it) sum += double(it.value());
    if (sum == 0) continue;
    for (GraphMatrix::InnerIterator it(m, i); it; ++it) it.valueRef() = float(double(it.value()) / sum);
  }
}

}  // namespace ist
