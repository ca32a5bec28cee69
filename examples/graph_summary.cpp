// graph_summary: the worked example of docs/graphs.md. Opens an ISTGRAPH file (memory-mapped, checked once) and
// reads it the way a partitioner or a batch builder would, through zero-copy views: counts, degrees, the edge
// homophily of the labelled nodes, the split sizes, and node 0's features.
//
//   ist-graphgen --preset arxiv-like --out arxiv-like.istg
//   graph_summary arxiv-like.istg
#include <algorithm>
#include <cstdio>
#include <vector>

#include "ist/data/csr_graph.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: graph_summary FILE.istg\n");
    return 2;
  }
  try {
    const ist::CsrGraph g = ist::open_csr_graph(argv[1]);
    const auto labels = g.labels();
    std::int64_t max_degree = 0, labelled_entries = 0, same_class = 0;
    for (std::int64_t v = 0; v < g.num_nodes(); ++v) {
      max_degree = std::max(max_degree, g.degree(v));
      for (std::int32_t u : g.neighbors(v)) {  // sorted, never v itself; u lists v too
        if (labels[std::size_t(v)] < 0 || labels[std::size_t(u)] < 0) continue;
        ++labelled_entries;
        same_class += labels[std::size_t(v)] == labels[std::size_t(u)];
      }
    }
    std::printf("%s: %lld nodes, %lld undirected edges, %lld features (%s), %lld classes\n", g.path().c_str(),
                (long long)g.num_nodes(), (long long)g.num_edges(), (long long)g.num_features(),
                std::string(ist::feature_dtype_name(g.feature_dtype())).c_str(), (long long)g.num_classes());
    std::printf("degree: mean %.2f, max %lld; edge homophily %.4f\n", double(g.num_entries()) / double(g.num_nodes()),
                (long long)max_degree, labelled_entries ? double(same_class) / double(labelled_entries) : 0.0);
    std::printf("splits: train %zu, val %zu, test %zu\n", g.split_nodes(ist::NodeSplit::train).size(),
                g.split_nodes(ist::NodeSplit::val).size(), g.split_nodes(ist::NodeSplit::test).size());
    std::vector<float> row(std::size_t(g.num_features()));
    g.feature_row(0, row);  // float32 or bf16 on disk, floats here
    std::printf("node 0: label %d, %lld neighbours, features [%g, %g, ...]\n", labels[0], (long long)g.degree(0),
                double(row[0]), row.size() > 1 ? double(row[1]) : 0.0);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "graph_summary: error: %s\n", e.what());
    return 1;
  }
}
