#pragma once
// Cluster-GCN's clusters: a METIS k-way partition of a graph's nodes, computed once and cached on disk next to
// the graph, so that every later run, rank and worker reads the same parts.
//
//   ist::GraphDataset g = ist::to_graph_dataset(ist::open_csr_graph("arxiv-like.istg"));
//   g.partition = ist::partition_graph(g, 200, {.cache_path = ist::partition_cache_path("arxiv-like.istg", 200)});
//   ist::CsrGraph csr = ist::open_csr_graph("arxiv-like.istg");   // or straight from the mapped file: the same
//   ist::GraphPartition p = ist::partition_graph(csr, 200, {...});  // parts, key and cache file
//
// The cache file (ISTPART, little-endian) holds a 64-byte header and then one int32 part per node:
//   offset bytes
//        0     8  magic "ISTPART\0"
//        8     4  u32 version (1)
//       12     4  u32 num_parts P
//       16     8  u64 num_nodes N
//       24     8  u64 adjacency entries (2 x undirected edges)
//       32     8  u64 graph checksum: graph_structure_xxh64 of the partitioned graph
//       40     8  u64 METIS seed
//       48     8  u64 payload checksum: XXH64 (seed 0) of bytes [64, 64 + 4N)
//       56     8  u64 header checksum: XXH64 (seed 0) of bytes [0, 56)
//       64    4N  i32 part of node 0, 1, ..., N - 1, each in [0, P)
// read_partition_file rejects, with a message naming the file, a file that is not one, damaged, or made for
// another graph, part count or seed; partition_graph then computes the partition again and replaces the file
// (written atomically: a reader sees the old file or the new one, never a part of one).
#include <metis.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "ist/core/atomic_file.hpp"
#include "ist/core/error.hpp"
#include "ist/data/csr_graph.hpp"
#include "ist/data/csr_graph_format.hpp"
#include "ist/data/graph.hpp"
#include "ist/data/mapped_file.hpp"

namespace ist {

inline constexpr char kPartitionMagic[8] = {'I', 'S', 'T', 'P', 'A', 'R', 'T', '\0'};
inline constexpr std::uint32_t kPartitionVersion = 1;
inline constexpr std::size_t kPartitionHeaderBytes = 64;

// What a partition file must have been made for.
struct PartitionKey {
  int num_parts = 0;
  std::int64_t num_nodes = 0;
  std::int64_t num_entries = 0;     // adjacency entries, 2 x undirected edges
  std::uint64_t graph_xxh64 = 0;    // graph_structure_xxh64
  std::uint64_t seed = 0;           // METIS's seed
};

namespace detail {
// XXH64 (seed 0) of what hash_offsets feeds the state (the row offsets as int64), then the column indices.
template <class HashOffsets>
std::uint64_t structure_xxh64(HashOffsets hash_offsets, std::span<const std::int32_t> column_indices) {
  static_assert(std::endian::native == std::endian::little, "ist: partition files assume a little-endian host");
  XXH64_state_t* state = XXH64_createState();
  IST_CHECK(state != nullptr, "ist::graph_structure_xxh64: out of memory");
  XXH64_reset(state, 0);
  hash_offsets(state);
  XXH64_update(state, column_indices.data(), column_indices.size_bytes());
  const std::uint64_t h = XXH64_digest(state);
  XXH64_freeState(state);
  return h;
}
}  // namespace detail

// A checksum of a graph's structure: XXH64 (seed 0) of its row offsets as little-endian int64 and then its
// column indices as little-endian int32 (the CSR adjacency without self loops, as an ISTGRAPH file stores it).
inline std::uint64_t graph_structure_xxh64(std::span<const int> row_offsets, std::span<const int> column_indices) {
  return detail::structure_xxh64(
      [&](XXH64_state_t* state) {  // widened to int64 in chunks
        std::int64_t chunk[1024];
        for (std::size_t i = 0; i < row_offsets.size();) {
          const std::size_t n = std::min<std::size_t>(1024, row_offsets.size() - i);
          for (std::size_t k = 0; k < n; ++k) chunk[k] = row_offsets[i + k];
          XXH64_update(state, chunk, n * sizeof(std::int64_t));
          i += n;
        }
      },
      column_indices);
}

// The same checksum of a CSR adjacency with 64-bit row offsets (an ISTGRAPH file's): equal to the one above for
// the same graph.
inline std::uint64_t graph_structure_xxh64(std::span<const std::int64_t> row_offsets,
                                           std::span<const std::int32_t> column_indices) {
  return detail::structure_xxh64(
      [&](XXH64_state_t* state) { XXH64_update(state, row_offsets.data(), row_offsets.size_bytes()); },
      column_indices);
}

namespace detail {
// The graph's structure: GraphDataset::mean_aggregation's pattern (every edge in both rows, no self loops).
inline const GraphMatrix& partition_structure(const GraphDataset& g, const char* who) {
  IST_CHECK(g.mean_aggregation.rows() == g.num_nodes && g.mean_aggregation.isCompressed() && g.num_nodes >= 1, who,
            ": ", g.source, ": expected the graph's mean_aggregation matrix (", g.num_nodes,
            " rows, compressed; load_planetoid and to_graph_dataset fill it), found ", g.mean_aggregation.rows(),
            " rows");
  return g.mean_aggregation;
}
}  // namespace detail

// The key of a partition of `g` into `num_parts` parts with METIS seed `seed`.
inline PartitionKey partition_key(const GraphDataset& g, int num_parts, std::uint64_t seed) {
  const GraphMatrix& a = detail::partition_structure(g, "ist::partition_key");
  return PartitionKey{num_parts, g.num_nodes, std::int64_t(a.nonZeros()),
                      graph_structure_xxh64({a.outerIndexPtr(), std::size_t(g.num_nodes) + 1},
                                            {a.innerIndexPtr(), std::size_t(a.nonZeros())}),
                      seed};
}

// The key of a partition of a mapped graph file's nodes; equal to partition_key(to_graph_dataset(csr), ...).
inline PartitionKey partition_key(const CsrGraph& csr, int num_parts, std::uint64_t seed) {
  return PartitionKey{num_parts, csr.num_nodes(), csr.num_entries(),
                      graph_structure_xxh64(csr.row_offsets(), csr.column_indices()), seed};
}

// METIS_PartGraphKway's parts (edge-cut objective, default options, the given seed) of the graph with CSR
// adjacency (row_offsets [N + 1], column_indices: each edge in both rows, no self loops). Deterministic for a
// seed. One part: every node in part 0.
inline std::vector<std::int32_t> metis_partition(std::span<const int> row_offsets, std::span<const int> column_indices,
                                                 int num_parts, std::uint64_t seed) {
  const char* who = "ist::metis_partition";
  IST_CHECK(row_offsets.size() >= 2, who, ": expected a graph with at least one node");
  const idx_t n = idx_t(row_offsets.size() - 1);
  IST_CHECK(num_parts >= 1 && num_parts <= n, who, ": expected 1 <= parts <= ", n, " (the nodes), found ", num_parts);
  std::vector<std::int32_t> part(std::size_t(n), 0);
  if (num_parts == 1) return part;
  static_assert(sizeof(idx_t) == sizeof(int), "ist: expected METIS built with 32-bit idx_t (Debian's libmetis-dev)");
  idx_t options[METIS_NOPTIONS];
  METIS_SetDefaultOptions(options);
  options[METIS_OPTION_SEED] = idx_t(seed & 0x7fffffff);
  options[METIS_OPTION_NUMBERING] = 0;
  idx_t nvtxs = n, ncon = 1, nparts = num_parts, objval = 0;
  // METIS reads the graph arrays and never writes them; its API takes them as non-const pointers.
  const int rc = METIS_PartGraphKway(&nvtxs, &ncon, const_cast<idx_t*>(row_offsets.data()),
                                     const_cast<idx_t*>(column_indices.data()), nullptr, nullptr, nullptr, &nparts,
                                     nullptr, nullptr, options, &objval, part.data());
  IST_CHECK(rc == METIS_OK, who, ": METIS_PartGraphKway failed (",
            rc == METIS_ERROR_INPUT ? "input error" : rc == METIS_ERROR_MEMORY ? "out of memory" : "error", ", code ",
            rc, ") partitioning ", n, " nodes into ", num_parts, " parts");
  return part;
}

// Writes `part_of` (one part in [0, key.num_parts) per node) as a partition file for `key`, atomically.
inline void write_partition_file(const std::string& path, std::span<const std::int32_t> part_of, const PartitionKey& key) {
  const char* who = "ist::write_partition_file";
  IST_CHECK(std::int64_t(part_of.size()) == key.num_nodes, who, ": ", path, ": expected ", key.num_nodes,
            " parts (one per node), found ", part_of.size());
  std::vector<std::byte> h(kPartitionHeaderBytes);
  std::memcpy(h.data(), kPartitionMagic, 8);
  detail::put_le(h.data() + 8, kPartitionVersion, 4);
  detail::put_le(h.data() + 12, std::uint32_t(key.num_parts), 4);
  detail::put_le(h.data() + 16, std::uint64_t(key.num_nodes), 8);
  detail::put_le(h.data() + 24, std::uint64_t(key.num_entries), 8);
  detail::put_le(h.data() + 32, key.graph_xxh64, 8);
  detail::put_le(h.data() + 40, key.seed, 8);
  detail::put_le(h.data() + 48, XXH64(part_of.data(), part_of.size_bytes(), 0), 8);
  detail::put_le(h.data() + 56, XXH64(h.data(), 56, 0), 8);
  AtomicFileWriter out(path, who);
  out.write(h.data(), h.size());
  out.write(part_of.data(), part_of.size_bytes());
  out.commit();
}

// The parts stored in the partition file at `path`, which must have been made for `expected`. Throws
// ist::Error naming the file and what is wrong.
inline std::vector<std::int32_t> read_partition_file(const std::string& path, const PartitionKey& expected) {
  const char* who = "ist::read_partition_file";
  IST_CHECK(expected.num_parts >= 1 && expected.num_parts <= expected.num_nodes, who, ": ", path,
            ": expected a partition of ", expected.num_nodes, " nodes into 1 to ", expected.num_nodes,
            " parts, asked for ", expected.num_parts);
  const MappedFile f(path, who);
  const std::byte* b = f.bytes().data();
  const std::size_t size = f.bytes().size();
  IST_CHECK(size >= kPartitionHeaderBytes, who, ": ", path, ": expected a partition file of at least ",
            kPartitionHeaderBytes, " bytes (its header), found ", size, " bytes");
  IST_CHECK(std::memcmp(b, kPartitionMagic, 8) == 0, who, ": ", path,
            ": not an ist partition file (expected the magic \"ISTPART\\0\" at byte 0)");
  const std::uint64_t header_sum = detail::get_le(b + 56, 8);
  IST_CHECK(header_sum == XXH64(b, 56, 0), who, ": ", path, ": header checksum mismatch (expected XXH64 ", header_sum,
            ", found ", XXH64(b, 56, 0), "): the file is damaged");
  const std::uint32_t version = std::uint32_t(detail::get_le(b + 8, 4));
  IST_CHECK(version == kPartitionVersion, who, ": ", path, ": expected version ", kPartitionVersion, ", found ",
            version);
  const auto field = [&](const char* name, std::uint64_t found, std::uint64_t want) {
    IST_CHECK(found == want, who, ": ", path, ": made for another graph or partition: ", name, " is ", found,
              ", expected ", want);
  };
  field("num_parts", detail::get_le(b + 12, 4), std::uint64_t(expected.num_parts));
  field("num_nodes", detail::get_le(b + 16, 8), std::uint64_t(expected.num_nodes));
  field("adjacency entries", detail::get_le(b + 24, 8), std::uint64_t(expected.num_entries));
  field("graph checksum", detail::get_le(b + 32, 8), expected.graph_xxh64);
  field("seed", detail::get_le(b + 40, 8), expected.seed);
  IST_CHECK(expected.num_nodes >= 0 && expected.num_nodes < (std::int64_t(1) << 40), who, ": ", path,
            ": expected a graph of fewer than 2^40 nodes, found ", expected.num_nodes);
  const std::uint64_t payload = std::uint64_t(expected.num_nodes) * 4;
  IST_CHECK(size - kPartitionHeaderBytes == payload, who, ": ", path, ": expected ", payload,
            " bytes of parts after the header (4 per node), found ", size - kPartitionHeaderBytes);
  const std::uint64_t payload_sum = detail::get_le(b + 48, 8);
  const std::uint64_t actual = XXH64(b + kPartitionHeaderBytes, payload, 0);
  IST_CHECK(payload_sum == actual, who, ": ", path, ": payload checksum mismatch (expected XXH64 ", payload_sum,
            ", found ", actual, "): the file is damaged");
  std::vector<std::int32_t> part(std::size_t(expected.num_nodes));
  std::memcpy(part.data(), b + kPartitionHeaderBytes, payload);
  for (std::size_t v = 0; v < part.size(); ++v)
    IST_CHECK(part[v] >= 0 && part[v] < expected.num_parts, who, ": ", path, ": node ", v, " is in part ", part[v],
              ", expected a part in [0, ", expected.num_parts, ")");
  return part;
}

// Where partition_graph caches a graph file's partition: next to it, named after it, P and the seed.
inline std::string partition_cache_path(const std::string& graph_path, int num_parts, std::uint64_t seed = 0) {
  return graph_path + ".metis-p" + std::to_string(num_parts) + "-s" + std::to_string(seed) + ".istpart";
}

struct PartitionOptions {
  std::string cache_path;        // "": compute without a cache
  std::uint64_t seed = 0;        // METIS's seed
  std::ostream* log = nullptr;   // where to say that a cache was rejected and rebuilt, or written
};

namespace detail {
// The partition for `key`: from the cache file when it holds it, else compute() (METIS), then written there.
template <class Compute>
GraphPartition cached_partition(const PartitionKey& key, const PartitionOptions& opt, Compute&& compute) {
  if (!opt.cache_path.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(opt.cache_path, ec)) {
      try {
        return make_graph_partition(read_partition_file(opt.cache_path, key), key.num_parts);
      } catch (const Error& e) {
        if (opt.log) *opt.log << "ist::partition_graph: rejected the cached partition: " << e.what() << "; rebuilding it\n";
      }
    }
  }
  std::vector<std::int32_t> part = compute();
  if (!opt.cache_path.empty()) {
    write_partition_file(opt.cache_path, part, key);
    if (opt.log) *opt.log << "ist::partition_graph: wrote " << opt.cache_path << "\n";
  }
  return make_graph_partition(std::move(part), key.num_parts);
}
}  // namespace detail

// `g`'s nodes in `num_parts` METIS parts. With a cache path: read from the cache file when it holds this
// graph's partition; otherwise (missing, damaged, made for another graph) computed and written there.
inline GraphPartition partition_graph(const GraphDataset& g, int num_parts, const PartitionOptions& opt = {}) {
  return detail::cached_partition(partition_key(g, num_parts, opt.seed), opt, [&] {
    const GraphMatrix& a = g.mean_aggregation;
    return metis_partition({a.outerIndexPtr(), std::size_t(g.num_nodes) + 1},
                           {a.innerIndexPtr(), std::size_t(a.nonZeros())}, num_parts, opt.seed);
  });
}

// The same partition of a mapped graph file, without a GraphDataset: the same parts and the same cache file as
// partition_graph(to_graph_dataset(csr), ...). Every process of a run can call it: one computes and writes the
// cache, the others (after it) read it.
inline GraphPartition partition_graph(const CsrGraph& csr, int num_parts, const PartitionOptions& opt = {}) {
  return detail::cached_partition(partition_key(csr, num_parts, opt.seed), opt, [&] {
    IST_CHECK(csr.num_entries() + csr.num_nodes() < std::int64_t(1) << 31, "ist::partition_graph: ", csr.path(),
              ": METIS takes 32-bit indices: expected N + M < 2^31, found N = ", csr.num_nodes(), ", M = ",
              csr.num_entries());
    const std::span<const std::int64_t> off = csr.row_offsets();
    const std::vector<int> offsets(off.begin(), off.end());
    return metis_partition(offsets, csr.column_indices(), num_parts, opt.seed);
  });
}

}  // namespace ist
