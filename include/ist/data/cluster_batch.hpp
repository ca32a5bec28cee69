#pragma once
// A Cluster-GCN mini-batch: the subgraph induced by a few parts of a partitioned graph, with every edge between
// those parts restored, as a GraphDataset of its own, so that a GCN or a GraphSAGE trains on it exactly as on a
// whole graph:
//   - nodes: the parts' nodes in increasing id order; batch node i is graph node nodes[i];
//   - adjacency: A_hat of the subgraph (D^-1/2 (A + I) D^-1/2, degrees counted inside the batch), or
//     Cluster-GCN's diagonal enhancement (ClusterBatchOptions::diag_lambda >= 0, diagonal_enhanced_adjacency);
//   - mean_aggregation: the mean over each node's neighbours inside the batch;
//   - features and labels: the nodes' rows; train: the batch's training nodes (batch ids); no val or test.
// The batches are read from one of two sources, with the same result bit for bit:
//   - a GraphDataset in memory, partitioned (GraphDataset::partition, partition_graph);
//   - an ISTGRAPH file's CsrGraph (memory-mapped: processes that map one file share its pages) and a partition
//     of it, with the features as to_graph_dataset(csr, features) stores them (its normalize_features), so no
//     process needs the whole graph in memory to train on it.
//
//   ist::ClusterBatcher batcher(g);                       // g.partition set (partition_graph)
//   ist::ClusterBatcher from_file(csr, partition, {.normalize_features = false});
//   const ist::ClusterBatch& b = batcher.build(parts);    // parts: ids in [0, partition.num_parts)
//   net.forward(params, layout, b.graph.features, b.graph.adjacency, opt);
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/data/csr_graph.hpp"
#include "ist/data/csr_graph_dataset.hpp"
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

// Builds batches of one graph, reusing its buffers; one per worker (not thread-safe). The graph (and the
// partition) must outlive it.
class ClusterBatcher {
 public:
  explicit ClusterBatcher(const GraphDataset& g, ClusterBatchOptions opt = {})
      : g_(&g), partition_(&g.partition), opt_(opt), name_(g.name), source_(g.source) {
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
    num_nodes_ = g.num_nodes;
    num_features_ = g.num_features;
    num_classes_ = g.num_classes;
    local_.assign(std::size_t(g.num_nodes), -1);
    is_train_.assign(std::size_t(g.num_nodes), 0);
    for (const std::int32_t v : g.train) is_train_[std::size_t(v)] = 1;
  }

  // Batches read from a mapped graph file and a partition of its nodes (partition_graph(csr, ...)). `features`:
  // the options the file's GraphDataset is (or would be) built with, to_graph_dataset(csr, features), so that
  // the batches equal that dataset's bit for bit (normalize_features is honoured; gcn_adjacency does not
  // concern batches, which always hold both matrices).
  ClusterBatcher(const CsrGraph& csr, const GraphPartition& partition, const CsrGraphDatasetOptions& features,
                 ClusterBatchOptions opt = {})
      : csr_(&csr), partition_(&partition), opt_(opt), normalize_(features.normalize_features),
        name_(std::filesystem::path(csr.path()).stem().string()), source_(csr.path()) {
    const char* who = "ist::ClusterBatcher";
    IST_CHECK(partition.num_parts >= 1 && partition.part_of.size() == std::size_t(csr.num_nodes()), who, ": ",
              csr.path(), ": expected a partition of the graph's ", csr.num_nodes(), " nodes, found ",
              partition.num_parts, " parts over ", partition.part_of.size(), " nodes: make it with ist::partition_graph");
    IST_CHECK(csr.num_features() < std::int64_t(1) << 31 && csr.num_classes() < std::int64_t(1) << 31 &&
                  csr.num_nodes() < std::int64_t(1) << 31,
              who, ": ", csr.path(), ": expected fewer than 2^31 nodes, features and classes");
    num_nodes_ = int(csr.num_nodes());
    num_features_ = int(csr.num_features());
    num_classes_ = int(csr.num_classes());
    local_.assign(std::size_t(num_nodes_), -1);
    is_train_.assign(std::size_t(num_nodes_), 0);
    const std::span<const NodeSplit> splits = csr.splits();
    for (std::size_t v = 0; v < splits.size(); ++v) is_train_[v] = splits[v] == NodeSplit::train ? 1 : 0;
  }

  // The batch of the given parts (distinct part ids). Valid until the next build().
  const ClusterBatch& build(std::span<const std::int32_t> parts) {
    const GraphPartition& p = *partition_;
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
    auto keep_inside = [&](std::span<const std::int32_t> neighbours) {
      for (const std::int32_t u : neighbours) {
        const std::int32_t c = local_[std::size_t(u)];
        if (c >= 0) columns_.push_back(c);
      }
    };
    for (std::size_t i = 0; i < n; ++i) {
      const int v = nodes[i];
      if (csr_) {
        keep_inside(csr_->neighbors(v));
      } else {
        const GraphMatrix& m = g_->mean_aggregation;  // its pattern: the graph's edges, no self loops
        const int b = m.outerIndexPtr()[v], e = m.outerIndexPtr()[v + 1];
        keep_inside({m.innerIndexPtr() + b, std::size_t(e - b)});
      }
      offsets_[i + 1] = std::int64_t(columns_.size());
    }

    GraphDataset& b = batch_.graph;
    b.name = name_;
    b.source = source_;
    b.num_nodes = int(n);
    b.num_features = num_features_;
    b.num_classes = num_classes_;
    b.num_edges = std::int64_t(columns_.size()) / 2;
    if (n == 0) {
      b.adjacency.resize(0, 0);
      b.mean_aggregation.resize(0, 0);
    } else {
      b.adjacency = opt_.diag_lambda < 0 ? gcn_normalized_adjacency(offsets_, columns_)
                                         : diagonal_enhanced_adjacency(offsets_, columns_, opt_.diag_lambda);
      b.mean_aggregation = mean_aggregation_matrix(offsets_, columns_);
    }
    if (csr_)
      read_feature_rows(*csr_, std::int64_t(n), [&](std::int64_t i) { return nodes[std::size_t(i)]; }, normalize_,
                        b.features);
    else
      copy_feature_rows(g_->features, nodes, b.features);
    b.labels.resize(n);
    b.train.clear();
    const std::span<const std::int32_t> labels = csr_ ? csr_->labels() : std::span<const std::int32_t>(g_->labels);
    for (std::size_t i = 0; i < n; ++i) {
      b.labels[i] = labels[std::size_t(nodes[i])];
      if (is_train_[std::size_t(nodes[i])]) b.train.push_back(std::int32_t(i));
    }
    b.val.clear();
    b.test.clear();
    for (const std::int32_t v : nodes) local_[std::size_t(v)] = -1;
    return batch_;
  }

  int num_nodes() const { return num_nodes_; }
  const GraphPartition& partition() const { return *partition_; }

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

  const GraphDataset* g_ = nullptr;  // the source: a GraphDataset,
  const CsrGraph* csr_ = nullptr;    // or a mapped file
  const GraphPartition* partition_ = nullptr;
  ClusterBatchOptions opt_;
  bool normalize_ = false;  // csr_: divide each feature row by its sum
  std::string name_, source_;
  int num_nodes_ = 0, num_features_ = 0, num_classes_ = 0;
  std::vector<std::int32_t> local_;    // batch id of every graph node, -1 outside the batch (restored after build)
  std::vector<std::uint8_t> is_train_;
  std::vector<std::int64_t> offsets_;
  std::vector<std::int32_t> columns_;
  ClusterBatch batch_;
};

}  // namespace ist
