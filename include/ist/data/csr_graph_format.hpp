#pragma once
// The binary CSR graph format of ist ("ISTGRAPH", version 1): one file holding a node-classification graph
// (undirected adjacency in CSR, dense node features, labels, a split per node), laid out so that a reader can
// memory-map it and use every array in place. docs/graphs.md describes it byte by byte; in short
// (little-endian throughout, every section starting at a multiple of 64 bytes, zero bytes between them):
//
//   offset  bytes  field
//        0      8  magic "ISTGRAPH"
//        8      4  u32 version (1)
//       12      4  u32 feature dtype: 1 = float32, 2 = bfloat16
//       16      8  u64 num_nodes N            (1 <= N < 2^31)
//       24      8  u64 num_entries M          (directed entries: each undirected edge twice; even)
//       32      8  u64 num_features F         (>= 1)
//       40      8  u64 num_classes C          (1 <= C < 2^31)
//       48      8  u64 file_bytes             (the size of the whole file)
//       56      8  u64 flags                  (0)
//       64     80  5 x (u64 offset, u64 bytes): row_offsets, column_indices, features, labels, splits
//      144      8  u64 payload checksum: XXH64 (seed 0) of bytes [256, file_bytes)
//      152     96  reserved, zero
//      248      8  u64 header checksum: XXH64 (seed 0) of bytes [0, 248)
//      256         the sections, in any order, each at an offset that is a multiple of 64:
//                    row_offsets     i64 [N + 1]   0 = row_offsets[0] <= ... <= row_offsets[N] = M
//                    column_indices  i32 [M]       the neighbours of node v are
//                                                  column_indices[row_offsets[v] .. row_offsets[v+1]):
//                                                  strictly increasing, in [0, N), never v itself, and u lists
//                                                  v exactly when v lists u (every undirected edge both ways)
//                    features        f32 or bf16 [N, F], row-major
//                    labels          i32 [N]       a class in [0, C), or -1 = unlabeled
//                    splits          u8 [N]        0 = none, 1 = train, 2 = val, 3 = test; nodes in a split
//                                                  are labelled
//
// This header holds the layout (constants, the header record, its encoding and the section sizes);
// csr_graph.hpp reads and checks a file, csr_graph_writer.hpp writes one.
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

namespace ist {

enum class FeatureDtype : std::uint32_t { float32 = 1, bfloat16 = 2 };
enum class NodeSplit : std::uint8_t { none = 0, train = 1, val = 2, test = 3 };

// "float32" / "bf16".
inline constexpr std::string_view feature_dtype_name(FeatureDtype d) {
  return d == FeatureDtype::float32 ? "float32" : d == FeatureDtype::bfloat16 ? "bf16" : "unknown";
}
inline constexpr std::size_t feature_dtype_bytes(FeatureDtype d) { return d == FeatureDtype::bfloat16 ? 2 : 4; }
inline constexpr std::string_view node_split_name(NodeSplit s) {
  switch (s) {
    case NodeSplit::none: return "none";
    case NodeSplit::train: return "train";
    case NodeSplit::val: return "val";
    case NodeSplit::test: return "test";
  }
  return "unknown";
}

// The sections of a file, in the order the writer lays them out.
enum class CsrSection : std::size_t { row_offsets = 0, column_indices = 1, features = 2, labels = 3, splits = 4 };
inline constexpr std::size_t kCsrSectionCount = 5;
inline constexpr std::array<std::string_view, kCsrSectionCount> kCsrSectionNames = {
    "row_offsets", "column_indices", "features", "labels", "splits"};

inline constexpr char kCsrGraphMagic[8] = {'I', 'S', 'T', 'G', 'R', 'A', 'P', 'H'};
inline constexpr std::uint32_t kCsrGraphVersion = 1;
inline constexpr std::uint64_t kCsrGraphHeaderBytes = 256;
inline constexpr std::uint64_t kCsrGraphAlignment = 64;
inline constexpr std::uint64_t kCsrGraphMaxNodes = 2147483647;  // column indices are int32
inline constexpr std::size_t kCsrHeaderChecksumAt = 248;      // the header checksum covers bytes [0, 248)
inline constexpr std::size_t kCsrReservedBegin = 152, kCsrReservedEnd = 248;

struct CsrSectionExtent {
  std::uint64_t offset = 0, bytes = 0;
  bool operator==(const CsrSectionExtent&) const = default;
};

// The header record (bytes 0..255), as the file holds it.
struct CsrGraphHeader {
  std::uint32_t version = kCsrGraphVersion;
  FeatureDtype feature_dtype = FeatureDtype::float32;
  std::uint64_t num_nodes = 0, num_entries = 0, num_features = 0, num_classes = 0;
  std::uint64_t file_bytes = 0;
  std::uint64_t flags = 0;
  std::array<CsrSectionExtent, kCsrSectionCount> sections{};
  std::uint64_t payload_xxh64 = 0;

  const CsrSectionExtent& section(CsrSection s) const { return sections[std::size_t(s)]; }
  CsrSectionExtent& section(CsrSection s) { return sections[std::size_t(s)]; }
};

namespace detail {

inline void put_le(std::byte* p, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) p[i] = std::byte((v >> (8 * i)) & 0xff);
}
inline std::uint64_t get_le(const std::byte* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t(std::to_integer<unsigned>(p[i])) << (8 * i);
  return v;
}

}  // namespace detail

inline std::uint64_t align_csr_offset(std::uint64_t x) {
  return (x + kCsrGraphAlignment - 1) / kCsrGraphAlignment * kCsrGraphAlignment;
}

// The bytes a section must have for these counts, computed without overflow: counts for which some section
// would exceed 2^63 bytes yield UINT64_MAX (no file can be that large).
inline std::uint64_t csr_section_bytes(CsrSection s, std::uint64_t num_nodes, std::uint64_t num_entries,
                                       std::uint64_t num_features, FeatureDtype dtype) {
  constexpr std::uint64_t limit = std::uint64_t{1} << 62;
  auto times = [&](std::uint64_t a, std::uint64_t b) -> std::uint64_t {
    if (a != 0 && b > limit / a) return UINT64_MAX;
    return a * b;
  };
  switch (s) {
    case CsrSection::row_offsets: return num_nodes >= limit ? UINT64_MAX : times(num_nodes + 1, 8);
    case CsrSection::column_indices: return times(num_entries, 4);
    case CsrSection::features: {
      const std::uint64_t values = times(num_nodes, num_features);
      return values == UINT64_MAX ? UINT64_MAX : times(values, feature_dtype_bytes(dtype));
    }
    case CsrSection::labels: return times(num_nodes, 4);
    case CsrSection::splits: return num_nodes;
  }
  return UINT64_MAX;
}

// Lays the sections out one after the other from byte 256, each at the next multiple of 64, and sets
// file_bytes to the end of the last one. The counts must be those of a valid file (the writer checks them).
inline void lay_out_csr_sections(CsrGraphHeader& h) {
  std::uint64_t at = kCsrGraphHeaderBytes;
  for (std::size_t i = 0; i < kCsrSectionCount; ++i) {
    at = align_csr_offset(at);
    h.sections[i].offset = at;
    h.sections[i].bytes =
        csr_section_bytes(CsrSection(i), h.num_nodes, h.num_entries, h.num_features, h.feature_dtype);
    at += h.sections[i].bytes;
  }
  h.file_bytes = at;
}

// The 256 header bytes of `h`, with the header checksum filled in.
inline std::array<std::byte, kCsrGraphHeaderBytes> encode_csr_header(const CsrGraphHeader& h) {
  std::array<std::byte, kCsrGraphHeaderBytes> b{};
  std::memcpy(b.data(), kCsrGraphMagic, 8);
  detail::put_le(b.data() + 8, h.version, 4);
  detail::put_le(b.data() + 12, std::uint32_t(h.feature_dtype), 4);
  detail::put_le(b.data() + 16, h.num_nodes, 8);
  detail::put_le(b.data() + 24, h.num_entries, 8);
  detail::put_le(b.data() + 32, h.num_features, 8);
  detail::put_le(b.data() + 40, h.num_classes, 8);
  detail::put_le(b.data() + 48, h.file_bytes, 8);
  detail::put_le(b.data() + 56, h.flags, 8);
  for (std::size_t i = 0; i < kCsrSectionCount; ++i) {
    detail::put_le(b.data() + 64 + 16 * i, h.sections[i].offset, 8);
    detail::put_le(b.data() + 72 + 16 * i, h.sections[i].bytes, 8);
  }
  detail::put_le(b.data() + 144, h.payload_xxh64, 8);
  detail::put_le(b.data() + kCsrHeaderChecksumAt, XXH64(b.data(), kCsrHeaderChecksumAt, 0), 8);
  return b;
}

// The fields of 256 header bytes, without any check (csr_graph.hpp checks them).
inline CsrGraphHeader decode_csr_header(const std::byte* b) {
  CsrGraphHeader h;
  h.version = std::uint32_t(detail::get_le(b + 8, 4));
  h.feature_dtype = FeatureDtype(std::uint32_t(detail::get_le(b + 12, 4)));
  h.num_nodes = detail::get_le(b + 16, 8);
  h.num_entries = detail::get_le(b + 24, 8);
  h.num_features = detail::get_le(b + 32, 8);
  h.num_classes = detail::get_le(b + 40, 8);
  h.file_bytes = detail::get_le(b + 48, 8);
  h.flags = detail::get_le(b + 56, 8);
  for (std::size_t i = 0; i < kCsrSectionCount; ++i) {
    h.sections[i].offset = detail::get_le(b + 64 + 16 * i, 8);
    h.sections[i].bytes = detail::get_le(b + 72 + 16 * i, 8);
  }
  h.payload_xxh64 = detail::get_le(b + 144, 8);
  return h;
}

}  // namespace ist
