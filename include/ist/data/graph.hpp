#pragma once
// A node-classification graph held in memory, ready for a GCN or a GraphSAGE: sparse node features, the
// normalized adjacency A_hat = D^-1/2 (A + I) D^-1/2 (GCN), the mean-aggregation matrix M = D^-1 A
// (GraphSAGE), labels (-1 = unlabeled) and the train / val / test node ids. load_planetoid (planetoid.hpp)
// fills one; gcn_normalized_adjacency, mean_aggregation_matrix and row_normalize build the pieces from raw
// arrays.
#include <Eigen/SparseCore>
#include <algorithm>
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

// A partition of a graph's nodes into parts (Cluster-GCN's clusters; graph_partition.hpp computes one with
// METIS and caches it next to the graph). Empty (num_parts == 0) when the graph is not partitioned.
struct GraphPartition {
  int num_parts = 0;
  std::vector<std::int32_t> part_of;     // [N]: the part of each node, in [0, num_parts)
  std::vector<std::int64_t> offsets;     // [num_parts + 1]: part p's nodes are nodes[offsets[p], offsets[p + 1])
  std::vector<std::int32_t> nodes;       // [N]: node ids grouped by part, increasing within a part
};

// The GraphPartition with the given part of every node (parts in [0, num_parts); a part may be empty).
inline GraphPartition make_graph_partition(std::vector<std::int32_t> part_of, int num_parts) {
  IST_CHECK(num_parts >= 1 && std::size_t(num_parts) <= std::max<std::size_t>(1, part_of.size()),
            "ist::make_graph_partition: expected 1 <= num_parts <= ", std::max<std::size_t>(1, part_of.size()),
            " (the nodes), found ", num_parts);
  GraphPartition p;
  p.num_parts = num_parts;
  p.offsets.assign(std::size_t(num_parts) + 1, 0);
  for (std::size_t v = 0; v < part_of.size(); ++v) {
    const std::int32_t q = part_of[v];
    IST_CHECK(q >= 0 && q < num_parts, "ist::make_graph_partition: node ", v, " is in part ", q,
              ", expected a part in [0, ", num_parts, ")");
    ++p.offsets[std::size_t(q) + 1];
  }
  for (int q = 0; q < num_parts; ++q) p.offsets[std::size_t(q) + 1] += p.offsets[std::size_t(q)];
  p.nodes.resize(part_of.size());
  std::vector<std::int64_t> at(p.offsets.begin(), p.offsets.end() - 1);
  for (std::size_t v = 0; v < part_of.size(); ++v) p.nodes[std::size_t(at[std::size_t(part_of[v])]++)] = std::int32_t(v);
  p.part_of = std::move(part_of);
  return p;
}

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
  GraphPartition partition;              // Cluster-GCN's clusters (partition_graph), or none
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
  detail::normalize_gcn_pattern(a);
  return a;
}

namespace detail {
// The 0/1 pattern, compressed, of the CSR adjacency of an undirected graph without self loops (each edge in
// both rows, columns increasing within a row, as an ISTGRAPH file holds it, csr_graph.hpp): row_offsets
// [N + 1], column_indices [M]; with the diagonal inserted in place when `self_loops`. `who` names the caller.
inline GraphMatrix csr_pattern(std::span<const std::int64_t> row_offsets, std::span<const std::int32_t> column_indices,
                               bool self_loops, const char* who) {
  IST_CHECK(row_offsets.size() >= 2 && row_offsets.size() - 1 <= std::size_t(std::numeric_limits<int>::max()) &&
                column_indices.size() + row_offsets.size() <= std::size_t(std::numeric_limits<int>::max()),
            who, ": expected 1 <= N < 2^31 nodes and N + M < 2^31 entries, found N = ", row_offsets.size() - 1,
            ", M = ", column_indices.size());
  const int n = int(row_offsets.size() - 1);
  GraphMatrix a(n, n);
  a.resizeNonZeros(Eigen::Index(column_indices.size()) + (self_loops ? n : 0));
  int* outer = a.outerIndexPtr();
  int* inner = a.innerIndexPtr();
  int at = 0;
  IST_CHECK(row_offsets[0] == 0 && row_offsets[std::size_t(n)] == std::int64_t(column_indices.size()), who,
            ": expected row offsets from 0 to M = ", column_indices.size(), ", found ", row_offsets[0], " to ",
            row_offsets[std::size_t(n)]);
  for (int i = 0; i < n; ++i) {
    outer[i] = at;
    bool diagonal = !self_loops;
    IST_CHECK(row_offsets[std::size_t(i) + 1] >= row_offsets[std::size_t(i)], who, ": row offsets decrease at row ",
              i);
    for (std::int64_t k = row_offsets[std::size_t(i)]; k < row_offsets[std::size_t(i) + 1]; ++k) {
      const std::int32_t c = column_indices[std::size_t(k)];
      IST_CHECK(c >= 0 && c < n && c != i, who, ": row ", i, ": expected a neighbour in [0, ", n,
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
  std::fill_n(a.valuePtr(), at, 1.f);
  return a;
}

// Sets every stored value of the (compressed) pattern `a` to 1 / (the number of entries in its row).
inline void normalize_mean_pattern(GraphMatrix& a) {
  for (int i = 0; i < int(a.outerSize()); ++i) {
    const int degree = a.outerIndexPtr()[i + 1] - a.outerIndexPtr()[i];
    for (GraphMatrix::InnerIterator it(a, i); it; ++it) it.valueRef() = float(1.0 / double(degree));
  }
}
}  // namespace detail

// The same A_hat from the CSR adjacency of an undirected graph without self loops (each edge in both rows,
// columns increasing within a row, as an ISTGRAPH file holds it, csr_graph.hpp): row_offsets [N + 1],
// column_indices [M]. Equal, bit for bit, to the edge-list version on the same edges.
inline GraphMatrix gcn_normalized_adjacency(std::span<const std::int64_t> row_offsets,
                                            std::span<const std::int32_t> column_indices) {
  GraphMatrix a = detail::csr_pattern(row_offsets, column_indices, true, "ist::gcn_normalized_adjacency");
  detail::normalize_gcn_pattern(a);
  return a;
}

// Cluster-GCN's diagonal enhancement of the same CSR adjacency: A~ + lambda diag(A~), with
// A~ = (D + I)^-1 (A + I) (each row of A + I divided by its number of entries). lambda >= 0.
inline GraphMatrix diagonal_enhanced_adjacency(std::span<const std::int64_t> row_offsets,
                                               std::span<const std::int32_t> column_indices, double lambda) {
  IST_CHECK(lambda >= 0 && std::isfinite(lambda), "ist::diagonal_enhanced_adjacency: expected lambda >= 0, found ",
            lambda);
  GraphMatrix a = detail::csr_pattern(row_offsets, column_indices, true, "ist::diagonal_enhanced_adjacency");
  for (int i = 0; i < int(a.outerSize()); ++i) {
    const double inv = 1.0 / double(a.outerIndexPtr()[i + 1] - a.outerIndexPtr()[i]);
    for (GraphMatrix::InnerIterator it(a, i); it; ++it) it.valueRef() = float(it.col() == i ? (1 + lambda) * inv : inv);
  }
  return a;
}

// M = D^-1 A, GraphSAGE's mean aggregator, for the same undirected graph (same `edges` rules as
// gcn_normalized_adjacency): (M H)_i is the mean of the rows of H at i's neighbours, without i itself
// (no self loops). D is A's degree matrix; a node without neighbours has an empty row (its mean is 0).
inline GraphMatrix mean_aggregation_matrix(int num_nodes, std::span<const std::array<std::int32_t, 2>> edges) {
  GraphMatrix a = detail::undirected_pattern(num_nodes, edges, false, "ist::mean_aggregation_matrix");
  detail::normalize_mean_pattern(a);
  return a;
}

// The same M from a CSR adjacency without self loops (as gcn_normalized_adjacency's CSR version takes it).
// Equal, bit for bit, to the edge-list version on the same edges.
inline GraphMatrix mean_aggregation_matrix(std::span<const std::int64_t> row_offsets,
                                           std::span<const std::int32_t> column_indices) {
  GraphMatrix a = detail::csr_pattern(row_offsets, column_indices, false, "ist::mean_aggregation_matrix");
  detail::normalize_mean_pattern(a);
  return a;
}

// Divides the n values of one feature row by their sum (in double, in order), as GCN preprocesses node
// features; a row summing to 0 stays as it is. row_normalize and the Cluster-GCN batches read from a mapped
// file (cluster_batch.hpp) both use it, so their features agree bit for bit.
inline void normalize_row_values(float* values, std::size_t n) {
  double sum = 0;
  for (std::size_t j = 0; j < n; ++j) sum += double(values[j]);
  if (sum == 0) return;
  for (std::size_t j = 0; j < n; ++j) values[j] = float(double(values[j]) / sum);
}

// Divides every row by its sum, as GCN preprocesses node features; a row summing to 0 stays 0.
inline void row_normalize(GraphMatrix& m) {
  m.makeCompressed();
  for (int i = 0; i < m.outerSize(); ++i)
    normalize_row_values(m.valuePtr() + m.outerIndexPtr()[i], std::size_t(m.outerIndexPtr()[i + 1] - m.outerIndexPtr()[i]));
}

}  // namespace ist
