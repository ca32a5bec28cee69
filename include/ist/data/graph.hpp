#pragma once
// A node-classification graph held in memory, ready for a GCN: sparse node features, the normalized
// adjacency A_hat = D^-1/2 (A + I) D^-1/2, labels (-1 = unlabeled) and the train / val / test node ids.
// load_planetoid (planetoid.hpp) fills one; gcn_normalized_adjacency and row_normalize build the pieces
// from raw arrays.
#include <Eigen/SparseCore>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
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
  std::vector<std::int32_t> labels;      // [N]: class in [0, num_classes), or -1 = unlabeled
  std::vector<std::int32_t> train, val, test;  // node ids; every one of them is labelled
};

namespace detail {
// Sets the values of the pattern of A + I (compressed, symmetric, the diagonal included) to those of
// A_hat = D^-1/2 (A + I) D^-1/2, with D the number of entries in each row.
inline void normalize_gcn_pattern(GraphMatrix& a) {
  const int n = int(a.outerSize());
  std::vector<double> inv_sqrt_degree(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    inv_sqrt_degree[std::size_t(i)] = 1.0 / std::sqrt(double(a.outerIndexPtr()[i + 1] - a.outerIndexPtr()[i]));
  for (int i = 0; i < n; ++i)
    for (GraphMatrix::InnerIterator it(a, i); it; ++it)
      it.valueRef() = float(inv_sqrt_degree[std::size_t(i)] * inv_sqrt_degree[std::size_t(it.col())]);
}
}  // namespace detail

// A_hat = D^-1/2 (A + I) D^-1/2 for an undirected graph on `num_nodes` nodes. `edges` lists (u, v) pairs,
// each undirected edge once or in both directions (duplicates count once); pairs with u == v are
// ignored (the identity adds every self loop exactly once). D is the degree matrix of A + I.
inline GraphMatrix gcn_normalized_adjacency(int num_nodes, std::span<const std::array<std::int32_t, 2>> edges) {
  IST_CHECK(num_nodes >= 1, "ist::gcn_normalized_adjacency: expected num_nodes >= 1, found ", num_nodes);
  std::vector<Eigen::Triplet<float, int>> entries;
  entries.reserve(2 * edges.size() + std::size_t(num_nodes));
  for (std::size_t e = 0; e < edges.size(); ++e) {
    const auto [u, v] = edges[e];
    IST_CHECK(u >= 0 && u < num_nodes && v >= 0 && v < num_nodes, "ist::gcn_normalized_adjacency: edge ", e, " (", u,
              ", ", v, ") has a node out of range [0, ", num_nodes, ")");
    if (u == v) continue;
    entries.emplace_back(u, v, 1.f);
    entries.emplace_back(v, u, 1.f);
  }
  for (int i = 0; i < num_nodes; ++i) entries.emplace_back(i, i, 1.f);
  GraphMatrix a(num_nodes, num_nodes);
  a.setFromTriplets(entries.begin(), entries.end(), [](float x, float) { return x; });  // duplicates count once
  a.makeCompressed();
  detail::normalize_gcn_pattern(a);
  return a;
}

// The same A_hat from the CSR adjacency of an undirected graph without self loops (each edge in both rows,
// columns increasing within a row, as an ISTGRAPH file holds it, csr_graph.hpp): row_offsets [N + 1],
// column_indices [M]. Equal, bit for bit, to the edge-list version on the same edges.
inline GraphMatrix gcn_normalized_adjacency(std::span<const std::int64_t> row_offsets,
                                            std::span<const std::int32_t> column_indices) {
  IST_CHECK(row_offsets.size() >= 2 && row_offsets.size() - 1 <= std::size_t(std::numeric_limits<int>::max()) &&
                column_indices.size() + row_offsets.size() <= std::size_t(std::numeric_limits<int>::max()),
            "ist::gcn_normalized_adjacency: expected 1 <= N < 2^31 nodes and N + M < 2^31 entries, found N = ",
            row_offsets.size() - 1, ", M = ", column_indices.size());
  const int n = int(row_offsets.size() - 1);
  GraphMatrix a(n, n);
  a.resizeNonZeros(Eigen::Index(column_indices.size()) + n);
  int* outer = a.outerIndexPtr();
  int* inner = a.innerIndexPtr();
  int at = 0;
  const char* who = "ist::gcn_normalized_adjacency: ";
  IST_CHECK(row_offsets[0] == 0 && row_offsets[std::size_t(n)] == std::int64_t(column_indices.size()), who,
            "expected row offsets from 0 to M = ", column_indices.size(), ", found ", row_offsets[0], " to ",
            row_offsets[std::size_t(n)]);
  for (int i = 0; i < n; ++i) {
    outer[i] = at;
    bool diagonal = false;
    IST_CHECK(row_offsets[std::size_t(i) + 1] >= row_offsets[std::size_t(i)], who, "row offsets decrease at row ", i);
    for (std::int64_t k = row_offsets[std::size_t(i)]; k < row_offsets[std::size_t(i) + 1]; ++k) {
      const std::int32_t c = column_indices[std::size_t(k)];
      IST_CHECK(c >= 0 && c < n && c != i, who, "row ", i, ": expected a neighbour in [0, ", n,
                ") other than the row itself, found ", c);
      if (!diagonal && c > i) {
        inner[at++] = i;
        diagonal = true;
      }
      inner[at++] = c;
    }
    if (!diagonal) inner[at++] = i;
  }
  outer[n] = at;
  detail::normalize_gcn_pattern(a);
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
