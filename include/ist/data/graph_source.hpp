#pragma once
// GraphSource: the graph a graph family (ist::Gcn, ist::Sage) trains on and is scored on, as the engine's local
// work (GraphBatches) reads it. Two kinds:
//   - a GraphDataset in memory (Planetoid graphs, a converted file): full-batch steps, Cluster-GCN batches (of
//     GraphDataset::partition) and the evaluation all read it. A GraphDataset converts to a GraphSource
//     implicitly, so trainer.fit(cora) keeps working;
//   - an ISTGRAPH file's CsrGraph (memory-mapped; processes that map one file share its pages) with a partition
//     of its nodes: Cluster-GCN batches are read from the file (ClusterBatcher), so a worker never holds the whole
//     graph. The evaluation, which runs on the coordinator only, reads `dataset`: the coordinator builds it
//     (to_graph_dataset(csr, features), with the same `features` options) and the other processes leave it null.
//
//   ist::CsrGraph csr = ist::open_csr_graph(path);
//   ist::GraphPartition parts = ist::partition_graph(csr, 1000, {.cache_path = ist::partition_cache_path(path, 1000)});
//   std::optional<ist::GraphDataset> whole;                       // the coordinator's, for evaluation
//   if (coordinator) whole = ist::to_graph_dataset(csr, {.normalize_features = false, .gcn_adjacency = false});
//   trainer.fit(ist::GraphSource(csr, parts, {.normalize_features = false}, whole ? &*whole : nullptr));
//
// Every pointer must outlive the trainer's use of the source (fit()); the source itself may be a temporary.
#include <cstdint>
#include <filesystem>
#include <string>

#include "ist/core/error.hpp"
#include "ist/data/csr_graph.hpp"
#include "ist/data/csr_graph_dataset.hpp"
#include "ist/data/graph.hpp"

namespace ist {

class GraphSource {
 public:
  // A graph in memory: batches (of g.partition), full-batch steps and evaluation read it.
  GraphSource(const GraphDataset& g) : dataset_(&g), partition_(&g.partition) {}  // NOLINT: implicit on purpose

  // A mapped file and a partition of its nodes: Cluster-GCN batches read the file, with the features as
  // to_graph_dataset(csr, features) stores them. `dataset`: the whole graph built from the same file with the same
  // `features` options, for evaluation and full-batch steps; null on a process that does neither (an MPI worker
  // rank with Cluster-GCN batches).
  GraphSource(const CsrGraph& csr, const GraphPartition& partition, const CsrGraphDatasetOptions& features,
              const GraphDataset* dataset = nullptr)
      : dataset_(dataset), file_(&csr), partition_(&partition), features_(features) {
    IST_CHECK(!dataset || (dataset->source == csr.path() && std::int64_t(dataset->num_nodes) == csr.num_nodes() &&
                           std::int64_t(dataset->num_features) == csr.num_features()),
              "ist::GraphSource: ", csr.path(), ": expected the GraphDataset of this file (", csr.num_nodes(),
              " nodes, ", csr.num_features(), " features), found ", dataset->source, " (", dataset->num_nodes,
              " nodes, ", dataset->num_features, " features)");
  }

  // The whole graph in memory, or null where this process has none (see above).
  const GraphDataset* dataset() const { return dataset_; }
  // The mapped file batches are read from, or null (batches then come from dataset()).
  const CsrGraph* file() const { return file_; }
  const GraphPartition& partition() const { return *partition_; }
  // The options a file's features are read with (file() only).
  const CsrGraphDatasetOptions& feature_options() const { return features_; }

  std::string name() const { return file_ ? std::filesystem::path(file_->path()).stem().string() : dataset_->name; }
  const std::string& source() const { return file_ ? file_->path() : dataset_->source; }
  int num_nodes() const { return file_ ? int(file_->num_nodes()) : dataset_->num_nodes; }
  int num_features() const { return file_ ? int(file_->num_features()) : dataset_->num_features; }
  int num_classes() const { return file_ ? int(file_->num_classes()) : dataset_->num_classes; }
  std::int64_t num_edges() const { return file_ ? file_->num_edges() : dataset_->num_edges; }

  // The dataset, or an ist::Error saying that this process has none and who asked.
  const GraphDataset& whole(const char* who) const {
    IST_CHECK(dataset_ != nullptr, who, ": ", source(),
              ": this process holds no GraphDataset of the graph (GraphSource::dataset() is null), which full-batch "
              "steps and the evaluation need: build it with ist::to_graph_dataset on the coordinator, or train in "
              "Cluster-GCN batches");
    return *dataset_;
  }

 private:
  const GraphDataset* dataset_ = nullptr;
  const CsrGraph* file_ = nullptr;
  const GraphPartition* partition_ = nullptr;
  CsrGraphDatasetOptions features_;
};

}  // namespace ist
