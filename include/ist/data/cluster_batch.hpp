#pragma once
// A Cluster-GCN mini-batch: the subgraph induced by a few parts of a partitioned graph (GraphDataset::
// partition), with every edge between those parts restored, as a GraphDataset of its own, so that a GCN or a
// GraphSAGE trains on it exactly as on a whole graph:
//   - nodes: the parts' nodes in increasing id order; batch node i is graph node nodes[i];
//   - adjacency: A_hat of the subgraph (D^-1/2 (A + I) D^-1/2, degrees counted inside the batch), or
//     Cluster-GCN's diagonal enhancement (ClusterBatchOptions::diag_lambda >= 0, diagonal_enhanced_adjacency);
//   - mean_aggregation: the mean over each node's neighbours inside the batch;
//   - features and labels: the nodes' rows; train: the batch's training nodes (batch ids); no val or test.
//
//   ist::ClusterBatcher batcher(g);                       // g.partition set (partition_graph)
//   const ist::ClusterBatch& b = batcher.build(parts);    // parts: ids in [0, g.partition.num_parts)
//   net.forward(params, layout, b.graph.features, b.graph.adjacency, opt);
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/data/graph.hpp"

namespace ist {

struct ClusterBatchOptions {
  // < 0: the batch's A_hat, as a GCN on the whole graph; >= 0: Cluster-GCN's (D + I)^-1 (A + I) + lambda diag.
  double diag_lambda = -1;
};

struct ClusterBatch {
  std::vector<std::int32_t> nodes;  // graph node id of each batch node, increasing
  GraphDataset graph;               // the induced subgraph
};

// Builds batches of one graph, reusing its buffers; one per worker (not thread-safe). The graph must outlive it.
class ClusterBatcher {
 public:
  explicit ClusterBatcher(const GraphDataset& g, ClusterBatchOptions opt = {}) : g_(&g), opt_(opt) {
    const char* who = "ist::ClusterBatcher";
    IST_CHECK(g.partition.num_parts >= 1 && g.partition.part_of.size() == std::size_t(g.num_nodes), who, ": ",
              g.source, ": the graph is not partitioned (expected GraphDataset::partition over its ", g.num_nodes,
              " nodes, found ", g.partition.num_parts, " parts over ", g.partition.part_of.size(),
              " nodes): set it with ist::partition_graph");
    IST_CHECK(g.mean_aggregation.rows() == g.num_nodes && g.mean_aggregation.isCompressed(), who, ": ", g.source,
              ": expected the graph's mean_aggregation matrix (", g.num_nodes,
              " rows; load_planetoid and to_graph_dataset fill it), found ", g.mean_aggregation.rows(), " rows");
    IST_CHECK(g.features.rows() == g.num_nodes && g.labels.size() == std::size_t(g.num_nodes), who, ": ", g.source,
              ": features and labels must have ", g.num_nodes, " rows");
    local_.assign(std::size_t(g.num_nodes), -1);
    is_train_.assign(std::size_t(g.num_nodes), 0);
    for (const std::int32_t v : g.train) is_train_[std::size_t(v)] = 1;
  }

  // The batch of the given parts (distinct part ids). Valid until the next build().
  const ClusterBatch& build(std::span<const std::int32_t> parts) {
    const GraphDataset& g = *g_;
    const GraphPartition& p = g.partition;
    std::vector<std::int32_t>& nodes = batch_.nodes;
    nodes.clear();
    for (const std::int32_t q : parts) {
      IST_CHECK(q >= 0 && q < p.num_parts, "ist::ClusterBatcher::build: expected a part in [0, ", p.num_parts,
                "), found ", q);
      nodes.insert(nodes.end(), p.nodes.begin() + p.offsets[std::size_t(q)], p.nodes.begin() + p.offsets[std::size_t(q) + 1]);
    }
    std::sort(nodes.begin(), nodes.end());
    IST_CHECK(std::adjacent_find(nodes.begin(), nodes.end()) == nodes.end(),
              "ist::ClusterBatcher::build: a part is listed twice");
    const std::size_t n = nodes.size();
    for (std::size_t i = 0; i < n; ++i) local_[std::size_t(nodes[i])] = std::int32_t(i);

    // The induced subgraph's CSR adjacency: graph columns increase within a row and local ids increase with
    // graph ids, so the batch's columns increase too.
    offsets_.assign(n + 1, 0);
    columns_.clear();
    const GraphMatrix& m = g.mean_aggregation;
    for (std::size_t i = 0; i < n; ++i) {
      const int v = nodes[i];
      for (int k = m.outerIndexPtr()[v]; k < m.outerIndexPtr()[v + 1]; ++k) {
        const std::int32_t c = local_[std::size_t(m.innerIndexPtr()[k])];
        if (c >= 0) columns_.push_back(c);
      }
      offsets_[i + 1] = std::int64_t(columns_.size());
    }

    GraphDataset& b = batch_.graph;
    b.name = g.name;
    b.source = g.source;
    b.num_nodes = int(n);
    b.num_features = g.num_features;
    b.num_classes = g.num_classes;
    b.num_edges = std::int64_t(columns_.size()) / 2;
    if (n == 0) {
      b.adjacency.resize(0, 0);
      b.mean_aggregation.resize(0, 0);
    } else {
      b.adjacency = opt_.diag_lambda < 0 ? gcn_normalized_adjacency(offsets_, columns_)
                                         : diagonal_enhanced_adjacency(offsets_, columns_, opt_.diag_lambda);
      b.mean_aggregation = mean_aggregation_matrix(offsets_, columns_);
    }
    copy_feature_rows(g.features, nodes, b.features);
    b.labels.resize(n);
    b.train.clear();
    for (std::size_t i = 0; i < n; ++i) {
      b.labels[i] = g.labels[std::size_t(nodes[i])];
      if (is_train_[std::size_t(nodes[i])]) b.train.push_back(std::int32_t(i));
    }
    b.val.clear();
    b.test.clear();
    for (const std::int32_t v : nodes) local_[std::size_t(v)] = -1;
    return batch_;
  }

 private:
  static void copy_feature_rows(const GraphMatrix& x, std::span<const std::int32_t> rows, GraphMatrix& out) {
    std::size_t nnz = 0;
    for (const std::int32_t v : rows) nnz += std::size_t(x.outerIndexPtr()[v + 1] - x.outerIndexPtr()[v]);
    out.resize(Eigen::Index(rows.size()), x.cols());
    out.resizeNonZeros(Eigen::Index(nnz));
    int at = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      out.outerIndexPtr()[i] = at;
      const int begin = x.outerIndexPtr()[rows[i]], end = x.outerIndexPtr()[rows[i] + 1];
      std::copy(x.innerIndexPtr() + begin, x.innerIndexPtr() + end, out.innerIndexPtr() + at);
      std::copy(x.valuePtr() + begin, x.valuePtr() + end, out.valuePtr() + at);
      at += end - begin;
    }
    out.outerIndexPtr()[rows.size()] = at;
  }

  const GraphDataset* g_;
  ClusterBatchOptions opt_;
  std::vector<std::int32_t> local_;    // batch id of every graph node, -1 outside the batch (restored after build)
  std::vector<std::uint8_t> is_train_;
  std::vector<std::int64_t> offsets_;
  std::vector<std::int32_t> columns_;
  ClusterBatch batch_;
};

}  // namespace ist
