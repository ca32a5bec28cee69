// libFuzzer harness for the Planetoid loader (ist/data/planetoid.hpp: meta.json through nlohmann-json, graph.hpp).
//
// Input: one flags byte, then the files of one data set folder, in this order, each a little-endian u16
// length followed by that many bytes (fewer if the input ends first):
//   meta.json, features_csr.indptr.i64, features_csr.indices.i32, features_csr.values.f32, labels.i32,
//   edges.i32, train.i32, val.i32, test.i32.
// A file the input does not reach is absent from the folder.
//   flags & 1: PlanetoidOptions::verify_sha256; flags & 2: PlanetoidOptions::normalize_features.
#include <cmath>

#include "fuzz_common.hpp"
#include "ist/data/planetoid.hpp"

namespace {
constexpr const char* kFiles[] = {"meta.json",  "features_csr.indptr.i64", "features_csr.indices.i32",
                                  "features_csr.values.f32", "labels.i32", "edges.i32", "train.i32", "val.i32",
                                  "test.i32"};
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string dir = [] {
    const std::string d = ist_fuzz::scratch_path("planetoid");
    std::filesystem::create_directories(d);
    return d;
  }();
  ist_fuzz::Input in{data, size};
  const std::uint8_t flags = in.byte();
  for (const char* name : kFiles) {
    const std::string path = dir + "/" + name;
    if (in.empty()) {
      ist_fuzz::remove_file(path);
      continue;
    }
    const std::string_view bytes = in.chunk16();
    ist_fuzz::write_file(path, bytes.data(), bytes.size());
  }
  ist::PlanetoidOptions opt;
  opt.verify_sha256 = flags & 1;
  opt.normalize_features = flags & 2;
  try {
    const ist::GraphDataset g = ist::load_planetoid(dir, opt);
    const auto N = g.num_nodes;
    if (N < 1 || g.num_features < 1 || g.num_classes < 2) ist_fuzz::finding("load_planetoid: implausible counts");
    if (g.features.rows() != N || g.features.cols() != g.num_features || g.adjacency.rows() != N ||
        g.adjacency.cols() != N || g.labels.size() != std::size_t(N))
      ist_fuzz::finding("load_planetoid: matrix or label sizes do not match num_nodes");
    for (std::int32_t l : g.labels)
      if (l < -1 || l >= g.num_classes) ist_fuzz::finding("load_planetoid: label out of range accepted");
    for (const auto* split : {&g.train, &g.val, &g.test})
      for (std::int32_t v : *split)
        if (v < 0 || v >= N || g.labels[std::size_t(v)] < 0) ist_fuzz::finding("load_planetoid: bad split node accepted");
    for (Eigen::Index k = 0; k < g.adjacency.nonZeros(); ++k)
      if (!std::isfinite(g.adjacency.valuePtr()[k])) ist_fuzz::finding("load_planetoid: non-finite adjacency value");
  } catch (const ist::Error& e) {
    ist_fuzz::check_error(e);
  }
  return 0;
}
