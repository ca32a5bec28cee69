// libFuzzer harness for ist's graph files: the ISTGRAPH reader (open_csr_graph in ist/data/csr_graph.hpp) and
// what is built on it (to_graph_dataset, ist/data/csr_graph_dataset.hpp), and Cluster-GCN's partition cache
// (read_partition_file, ist/data/graph_partition.hpp). One harness for both keeps CI's fuzzing time.
//
// Input: one flags byte, then the bytes of the file.
//   flags & 8: the file is a partition file (ISTPART); otherwise an ISTGRAPH file.
//   flags & 1: when the file holds a whole header (ISTGRAPH: 256 bytes, ISTPART: 64), the harness rewrites both
//              checksums (payload, then header) so that mutations get past them to the counts, the section
//              table and the arrays;
//   ISTGRAPH: flags & 2: CsrGraphOptions::verify_checksum off; flags & 4: check_feature_values off.
//   ISTPART:  flags & 2: the key read_partition_file expects is the one the header states (mutations reach the
//              size, payload and part checks); otherwise that of a fixed 5-node graph partitioned in 2 (the
//              corpus's own key), so that a wrong key must be refused.
// A file the reader accepts must keep every promise of the format: the harness walks the whole graph through
// the view (neighbours in range, sorted, symmetric by degree sum, labels and splits) and converts it to a
// GraphDataset whose A_hat has M + N entries; an accepted partition has one part in range per node and groups
// into a GraphPartition of every node.
#include <cmath>
#include <cstring>
#include <vector>

#include "fuzz_common.hpp"
#include "ist/data/csr_graph.hpp"
#include "ist/data/csr_graph_dataset.hpp"
#include "ist/data/graph_partition.hpp"

namespace {

// The key of the corpus's partition files: a triangle 0-1-2 and an edge 3-4 in 2 parts, METIS seed 0.
ist::PartitionKey small_graph_key() {
  const std::vector<int> offsets{0, 2, 4, 6, 7, 8}, columns{1, 2, 0, 2, 0, 1, 4, 3};
  return {2, 5, 8, ist::graph_structure_xxh64(offsets, columns), 0};
}

void fuzz_partition_file(std::uint8_t flags, std::string file) {
  auto get = [&](std::size_t at, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= std::uint64_t(std::uint8_t(file[at + std::size_t(i)])) << (8 * i);
    return v;
  };
  if ((flags & 1) && file.size() >= ist::kPartitionHeaderBytes) {
    auto put64 = [&](std::size_t at, std::uint64_t v) {
      for (int i = 0; i < 8; ++i) file[at + std::size_t(i)] = char((v >> (8 * i)) & 0xff);
    };
    put64(48, XXH64(file.data() + ist::kPartitionHeaderBytes, file.size() - ist::kPartitionHeaderBytes, 0));
    put64(56, XXH64(file.data(), 56, 0));
  }
  ist::PartitionKey key = small_graph_key();
  if ((flags & 2) && file.size() >= ist::kPartitionHeaderBytes) {
    // The header's own key, as a graph's could be: fewer than 2^31 nodes and parts (or the field check refuses).
    key = {int(get(12, 4) & 0x7fffffff), std::int64_t(get(16, 8) & 0x7fffffff), std::int64_t(get(24, 8) & 0x7fffffffffffffff),
           get(32, 8), get(40, 8)};
  }
  const std::string path = ist_fuzz::scratch_path("graph.istpart");
  ist_fuzz::write_file(path, file.data(), file.size());
  try {
    std::vector<std::int32_t> part = ist::read_partition_file(path, key);
    if (part.size() != std::size_t(key.num_nodes)) ist_fuzz::finding("read_partition_file: wrong number of parts");
    for (const std::int32_t q : part)
      if (q < 0 || q >= key.num_parts) ist_fuzz::finding("read_partition_file: part out of range accepted");
    if (key.num_parts >= 1) {
      const ist::GraphPartition p = ist::make_graph_partition(std::move(part), key.num_parts);
      if (p.nodes.size() != std::size_t(key.num_nodes) || p.offsets.back() != key.num_nodes)
        ist_fuzz::finding("make_graph_partition: nodes lost");
    }
  } catch (const ist::Error& e) {
    ist_fuzz::check_error(e);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ist_fuzz::Input in{data, size};
  const std::uint8_t flags = in.byte();
  std::string file(in.rest());
  if (flags & 8) {
    fuzz_partition_file(flags, std::move(file));
    return 0;
  }
  if ((flags & 1) && file.size() >= ist::kCsrGraphHeaderBytes) {
    auto put64 = [&](std::size_t at, std::uint64_t v) {
      for (int i = 0; i < 8; ++i) file[at + std::size_t(i)] = char((v >> (8 * i)) & 0xff);
    };
    put64(144, XXH64(file.data() + ist::kCsrGraphHeaderBytes, file.size() - ist::kCsrGraphHeaderBytes, 0));
    put64(ist::kCsrHeaderChecksumAt, XXH64(file.data(), ist::kCsrHeaderChecksumAt, 0));
  }
  const std::string path = ist_fuzz::scratch_path("graph.istg");
  ist_fuzz::write_file(path, file.data(), file.size());
  ist::CsrGraphOptions opt;
  opt.verify_checksum = !(flags & 2);
  opt.check_feature_values = !(flags & 4);
  try {
    const ist::CsrGraph g = ist::open_csr_graph(path, opt);
    const std::int64_t n = g.num_nodes(), m = g.num_entries();
    if (n < 1 || m < 0 || m % 2 != 0 || g.num_features() < 1 || g.num_classes() < 1)
      ist_fuzz::finding("open_csr_graph: implausible counts accepted");
    if (g.row_offsets().size() != std::size_t(n + 1) || g.column_indices().size() != std::size_t(m) ||
        g.labels().size() != std::size_t(n) || g.splits().size() != std::size_t(n))
      ist_fuzz::finding("open_csr_graph: array sizes do not match the counts");
    std::int64_t degree_sum = 0, below = 0, above = 0;
    for (std::int64_t v = 0; v < n; ++v) {
      const auto nb = g.neighbors(v);
      degree_sum += std::int64_t(nb.size());
      for (std::size_t k = 0; k < nb.size(); ++k) {
        if (nb[k] < 0 || nb[k] >= n || nb[k] == v) ist_fuzz::finding("open_csr_graph: bad neighbour accepted");
        if (k > 0 && nb[k] <= nb[k - 1]) ist_fuzz::finding("open_csr_graph: unsorted row accepted");
        (nb[k] < v ? below : above) += 1;
      }
      const std::int32_t y = g.labels()[std::size_t(v)];
      if (y < -1 || y >= g.num_classes()) ist_fuzz::finding("open_csr_graph: label out of range accepted");
      const auto s = std::uint8_t(g.splits()[std::size_t(v)]);
      if (s > 3 || (s != 0 && y < 0)) ist_fuzz::finding("open_csr_graph: bad split accepted");
    }
    if (degree_sum != m || below != above) ist_fuzz::finding("open_csr_graph: asymmetric adjacency accepted");
    std::vector<float> row(std::size_t(g.num_features()));
    for (std::int64_t v = 0; v < n; ++v) {
      g.feature_row(v, row);
      if (opt.check_feature_values)
        for (float x : row)
          if (!std::isfinite(x)) ist_fuzz::finding("open_csr_graph: non-finite feature accepted");
    }
    if (opt.check_feature_values) {
      const ist::GraphDataset d = ist::to_graph_dataset(g);
      if (d.adjacency.nonZeros() != m + n || d.num_nodes != n || d.labels.size() != std::size_t(n))
        ist_fuzz::finding("to_graph_dataset: sizes do not match the file");
    }
  } catch (const ist::Error& e) {
    ist_fuzz::check_error(e);
  }
  return 0;
}
