#pragma once
// Between GraphDataset (graph.hpp: what the GCN trains on, in memory) and the ISTGRAPH file format
// (csr_graph_format.hpp), so that every graph, Planetoid or generated, goes through one path:
//
//   // Planetoid -> file: raw features (not row-normalized), the 0/1 adjacency, labels and splits
//   ist::write_csr_graph("cora.istg", ist::load_planetoid(dir, {.normalize_features = false}));
//   // file -> the GraphDataset load_planetoid(dir) gives: features row-normalized, A_hat built from the edges
//   ist::GraphDataset g = ist::to_graph_dataset(ist::open_csr_graph("cora.istg"));
//
// write_csr_graph stores the graph's adjacency pattern without the diagonal (GraphDataset holds the
// GCN-normalized A_hat; its off-diagonal entries are the edges), the features densely as they are, the labels,
// and each node's split. to_graph_dataset rebuilds A_hat (gcn_normalized_adjacency, the same bits as from the
// edge list) and sparse features (zeros dropped), row-normalized by default as load_planetoid does. The split
// id lists come back in increasing node order (Planetoid's already are).
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/data/csr_graph.hpp"
#include "ist/data/csr_graph_writer.hpp"
#include "ist/data/graph.hpp"

namespace ist {

// Writes `g` as an ISTGRAPH file (see above).
inline void write_csr_graph(const std::string& path, const GraphDataset& g,
                            FeatureDtype dtype = FeatureDtype::float32) {
  const char* who = "ist::write_csr_graph: ";
  const GraphMatrix& a = g.adjacency;
  const int n = g.num_nodes;
  IST_CHECK(n >= 1 && a.rows() == n && a.cols() == n && g.features.rows() == n &&
                g.features.cols() == g.num_features && std::int64_t(g.labels.size()) == n,
            who, path, ": graph ", g.name, " is inconsistent: ", n, " nodes, adjacency ", a.rows(), " x ", a.cols(),
            ", features ", g.features.rows(), " x ", g.features.cols(), " (num_features ", g.num_features, "), ",
            g.labels.size(), " labels");
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(n) + 1, 0);
  for (int i = 0; i < n; ++i) {
    std::int64_t d = 0;
    for (GraphMatrix::InnerIterator it(a, i); it; ++it) d += it.col() != i;
    offsets[std::size_t(i) + 1] = offsets[std::size_t(i)] + d;
  }
  std::vector<NodeSplit> splits(static_cast<std::size_t>(n), NodeSplit::none);
  auto mark = [&](const std::vector<std::int32_t>& ids, NodeSplit s) {
    for (std::size_t k = 0; k < ids.size(); ++k) {
      const std::int32_t v = ids[k];
      IST_CHECK(v >= 0 && v < n, who, path, ": graph ", g.name, ": ", node_split_name(s), " entry ", k, ": node ", v,
                " is out of range [0, ", n, ")");
      IST_CHECK(splits[std::size_t(v)] == NodeSplit::none, who, path, ": graph ", g.name, ": node ", v,
                " is in both the ", node_split_name(splits[std::size_t(v)]), " and the ", node_split_name(s),
                " split");
      splits[std::size_t(v)] = s;
    }
  };
  mark(g.train, NodeSplit::train);
  mark(g.val, NodeSplit::val);
  mark(g.test, NodeSplit::test);

  CsrGraphWriter w(path, {.num_nodes = n,
                          .num_entries = offsets.back(),
                          .num_features = g.num_features,
                          .num_classes = g.num_classes,
                          .feature_dtype = dtype});
  w.append_row_offsets(offsets);
  std::vector<std::int32_t> row;
  for (int i = 0; i < n; ++i) {
    row.clear();
    for (GraphMatrix::InnerIterator it(a, i); it; ++it)
      if (it.col() != i) row.push_back(std::int32_t(it.col()));
    std::sort(row.begin(), row.end());
    w.append_column_indices(row);
  }
  std::vector<float> dense(static_cast<std::size_t>(g.num_features));
  for (int i = 0; i < n; ++i) {
    std::fill(dense.begin(), dense.end(), 0.f);
    for (GraphMatrix::InnerIterator it(g.features, i); it; ++it) dense[std::size_t(it.col())] = it.value();
    w.append_features(dense);
  }
  w.append_labels(g.labels);
  w.append_splits(splits);
  w.finish();
}

struct CsrGraphDatasetOptions {
  bool normalize_features = true;  // divide each feature row by its sum (GCN preprocessing, as load_planetoid)
  // Build GraphDataset::adjacency (A_hat, a GCN's aggregation). A GraphSAGE aggregates with mean_aggregation only
  // and can leave it empty (0 x 0): on products-like it is 124 M entries, about 1 GB.
  bool gcn_adjacency = true;
};

// Feature rows of a mapped graph file as a sparse matrix, as a GraphDataset holds them: row i is node
// node_of(i)'s nonzeros in column order, divided by their sum with `normalize` (row_normalize). Two passes over
// the rows, counting the nonzeros and then filling, so that the matrix is built in place at its exact size:
// growing buffers and a copy peak at about three times the matrix (6 GB for products-like's whole graph).
template <class NodeOf>
void read_feature_rows(const CsrGraph& csr, std::int64_t rows, NodeOf node_of, bool normalize, GraphMatrix& out) {
  const std::int64_t f = csr.num_features();
  std::vector<float> row(static_cast<std::size_t>(f));
  std::int64_t nnz = 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    csr.feature_row(node_of(i), row);
    nnz += std::count_if(row.begin(), row.end(), [](float x) { return x != 0.f; });
  }
  IST_CHECK(nnz < std::int64_t(1) << 31, "ist::read_feature_rows: ", csr.path(), ": ", rows, " rows hold ", nnz,
            " nonzero features, expected fewer than 2^31 (int indices)");
  out.resize(Eigen::Index(rows), Eigen::Index(f));
  out.resizeNonZeros(Eigen::Index(nnz));
  int at = 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    out.outerIndexPtr()[i] = at;
    csr.feature_row(node_of(i), row);
    for (std::int64_t j = 0; j < f; ++j)
      if (row[std::size_t(j)] != 0.f) {
        out.innerIndexPtr()[at] = int(j);
        out.valuePtr()[at] = row[std::size_t(j)];
        ++at;
      }
  }
  out.outerIndexPtr()[rows] = at;
  if (normalize) row_normalize(out);
}

// The GraphDataset of a mapped graph (see above). The graph must fit GraphDataset's int indices: N + M < 2^31.
inline GraphDataset to_graph_dataset(const CsrGraph& csr, const CsrGraphDatasetOptions& opt = {}) {
  const std::int64_t n = csr.num_nodes(), f = csr.num_features();
  IST_CHECK(n * f < std::int64_t(1) << 31, "ist::to_graph_dataset: ", csr.path(), ": ", n, " x ", f,
            " features do not fit a GraphDataset (int indices); use the CsrGraph view directly");
  GraphDataset g;
  g.name = std::filesystem::path(csr.path()).stem().string();
  g.source = csr.path();
  g.num_nodes = int(n);
  g.num_features = int(f);
  g.num_classes = int(csr.num_classes());
  g.num_edges = csr.num_edges();
  if (opt.gcn_adjacency) g.adjacency = gcn_normalized_adjacency(csr.row_offsets(), csr.column_indices());
  g.mean_aggregation = mean_aggregation_matrix(csr.row_offsets(), csr.column_indices());
  read_feature_rows(csr, n, [](std::int64_t v) { return v; }, opt.normalize_features, g.features);
  g.labels.assign(csr.labels().begin(), csr.labels().end());
  g.train = csr.split_nodes(NodeSplit::train);
  g.val = csr.split_nodes(NodeSplit::val);
  g.test = csr.split_nodes(NodeSplit::test);
  return g;
}

}  // namespace ist
