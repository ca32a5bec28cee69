// libFuzzer harness for the ISTGRAPH reader (open_csr_graph in ist/data/csr_graph.hpp) and what is built on it
// (to_graph_dataset, ist/data/csr_graph_dataset.hpp).
//
// Input: one flags byte, then the bytes of the file.
//   flags & 1: when the file holds a whole header (256 bytes), the harness rewrites both checksums (the payload's
//              XXH64 at byte 144, then the header's at byte 248) so that mutations get past them to the counts,
//              the section table and the arrays;
//   flags & 2: CsrGraphOptions::verify_checksum off;
//   flags & 4: CsrGraphOptions::check_feature_values off.
// A file the reader accepts must keep every promise of the format: the harness walks the whole graph through
// the view (neighbours in range, sorted, symmetric by degree sum, labels and splits) and converts it to a
// GraphDataset whose A_hat has M + N entries.
#include <cmath>
#include <cstring>
#include <vector>

#include "fuzz_common.hpp"
#include "ist/data/csr_graph.hpp"
#include "ist/data/csr_graph_dataset.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ist_fuzz::Input in{data, size};
  const std::uint8_t flags = in.byte();
  std::string file(in.rest());
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
