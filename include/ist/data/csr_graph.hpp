#pragma once
// CsrGraph: a graph file of the ISTGRAPH format (csr_graph_format.hpp, docs/graphs.md) memory-mapped
// read-only, with zero-copy views of its arrays. Partitioners, batch builders and trainers read the file
// through it without copying it into memory; processes that map one file share its pages.
//
//   ist::CsrGraph g = ist::open_csr_graph("/data/products-like.istg");
//   for (std::int32_t u : g.neighbors(v)) ...                       // sorted, no self loop
//   std::span<const std::int64_t> xadj = g.row_offsets();            // [N + 1]
//   std::span<const std::int32_t> adjncy = g.column_indices();       // [M]
//   g.feature_row(v, row);                                          // float32 or bf16 -> float
//   std::vector<std::int32_t> train = g.split_nodes(ist::NodeSplit::train);
//
// open_csr_graph checks the whole file once, each failure an ist::Error naming the file, the field, what was
// expected and what was found:
//   - the header: size, magic, version, header checksum, reserved bytes, flags, feature dtype, file size,
//     counts, and the section table (each section as long as the counts imply, 64-byte aligned, inside the
//     file, no two overlapping);
//   - with verify_checksum (the default) the payload checksum (XXH64 of every byte after the header; turn it
//     off only for a file checked before, since it reads the whole file);
//   - always, in O(N + M): row_offsets start at 0, never decrease and end at M; every row's columns are in
//     [0, N), strictly increasing and not the row itself; the adjacency is symmetric; labels are in
//     [-1, C); splits are 0..3 and every node in a split is labelled;
//   - with check_feature_values (the default) every feature value is finite.
// After that every accessor may rely on these invariants. The file must not be truncated in place while it is
// mapped (MappedFile); files written by ist are replaced by rename, which is safe.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "ist/codec/half.hpp"
#include "ist/core/error.hpp"
#include "ist/data/csr_graph_format.hpp"
#include "ist/data/mapped_file.hpp"

namespace ist {

struct CsrGraphOptions {
  bool verify_checksum = true;       // compare the payload's XXH64 with the header's (reads the whole file)
  bool check_feature_values = true;  // every feature value finite (reads the features section)
};

class CsrGraph {
 public:
  CsrGraph() = default;

  const std::string& path() const { return file_.path(); }
  const CsrGraphHeader& header() const { return header_; }
  std::int64_t num_nodes() const { return std::int64_t(header_.num_nodes); }
  std::int64_t num_entries() const { return std::int64_t(header_.num_entries); }  // directed: 2 x num_edges()
  std::int64_t num_edges() const { return std::int64_t(header_.num_entries / 2); }  // undirected
  std::int64_t num_features() const { return std::int64_t(header_.num_features); }
  std::int64_t num_classes() const { return std::int64_t(header_.num_classes); }
  FeatureDtype feature_dtype() const { return header_.feature_dtype; }
  std::uint64_t file_bytes() const { return header_.file_bytes; }

  // CSR adjacency of the undirected graph: [N + 1] offsets into [M] column indices.
  std::span<const std::int64_t> row_offsets() const { return row_offsets_; }
  std::span<const std::int32_t> column_indices() const { return column_indices_; }
  // The neighbours of v, increasing.
  std::span<const std::int32_t> neighbors(std::int64_t v) const {
    const auto b = row_offsets_[std::size_t(v)], e = row_offsets_[std::size_t(v) + 1];
    return column_indices_.subspan(std::size_t(b), std::size_t(e - b));
  }
  std::int64_t degree(std::int64_t v) const {
    return row_offsets_[std::size_t(v) + 1] - row_offsets_[std::size_t(v)];
  }

  // The features [N, F] row-major, as stored: float32 values, or bfloat16 bit patterns. Asking for the other
  // dtype is an error; feature_row converts either one.
  std::span<const float> features_f32() const {
    IST_CHECK(feature_dtype() == FeatureDtype::float32, "ist::CsrGraph::features_f32: ", path(),
              ": the features are stored as ", feature_dtype_name(feature_dtype()),
              "; use features_bf16() or feature_row()");
    return {reinterpret_cast<const float*>(features_.data()), features_.size() / 4};
  }
  std::span<const std::uint16_t> features_bf16() const {
    IST_CHECK(feature_dtype() == FeatureDtype::bfloat16, "ist::CsrGraph::features_bf16: ", path(),
              ": the features are stored as ", feature_dtype_name(feature_dtype()),
              "; use features_f32() or feature_row()");
    return {reinterpret_cast<const std::uint16_t*>(features_.data()), features_.size() / 2};
  }
  // Writes node v's F features, as floats, to out (out.size() == num_features()).
  void feature_row(std::int64_t v, std::span<float> out) const {
    const std::size_t f = std::size_t(num_features());
    IST_CHECK(out.size() == f, "ist::CsrGraph::feature_row: ", path(), ": expected an output of ", f,
              " floats, found ", out.size());
    if (feature_dtype() == FeatureDtype::float32) {
      std::memcpy(out.data(), features_.data() + std::size_t(v) * f * 4, f * 4);
    } else {
      const auto* h = reinterpret_cast<const std::uint16_t*>(features_.data()) + std::size_t(v) * f;
      for (std::size_t j = 0; j < f; ++j) out[j] = codec::bf16_to_float(h[j]);
    }
  }

  // [N]: a class in [0, C), or -1 = unlabeled.
  std::span<const std::int32_t> labels() const { return labels_; }
  // [N]: the split of each node.
  std::span<const NodeSplit> splits() const { return splits_; }
  // The nodes of split s, increasing.
  std::vector<std::int32_t> split_nodes(NodeSplit s) const {
    std::vector<std::int32_t> out;
    for (std::size_t v = 0; v < splits_.size(); ++v)
      if (splits_[v] == s) out.push_back(std::int32_t(v));
    return out;
  }

 private:
  friend CsrGraph open_csr_graph(const std::string& path, const CsrGraphOptions& opt);
  MappedFile file_;
  CsrGraphHeader header_;
  std::span<const std::int64_t> row_offsets_;
  std::span<const std::int32_t> column_indices_;
  std::span<const std::byte> features_;
  std::span<const std::int32_t> labels_;
  std::span<const NodeSplit> splits_;
};

namespace detail {

inline constexpr const char* csr_graph_who = "ist::open_csr_graph";

// Header checks (everything but the arrays' contents).
inline void check_csr_header(const MappedFile& f, const CsrGraphHeader& h) {
  const std::string& path = f.path();
  const std::byte* b = f.data();
  const auto who = csr_graph_who;
  IST_CHECK(h.version == kCsrGraphVersion, who, ": ", path, ": expected version ", kCsrGraphVersion, ", found ",
            h.version, h.version > kCsrGraphVersion ? " (written by a newer ist; update ist to read it)" : "");
  const std::uint64_t stored = detail::get_le(b + kCsrHeaderChecksumAt, 8);
  const std::uint64_t actual = XXH64(b, kCsrHeaderChecksumAt, 0);
  IST_CHECK(stored == actual, who, ": ", path, ": header checksum mismatch (expected XXH64 ", stored,
            " as stored at byte ", kCsrHeaderChecksumAt, ", found ", actual, "): the header is corrupt");
  for (std::size_t i = kCsrReservedBegin; i < kCsrReservedEnd; ++i)
    IST_CHECK(b[i] == std::byte{0}, who, ": ", path, ": expected reserved header bytes ", kCsrReservedBegin, "..",
              kCsrReservedEnd - 1, " to be zero, found ", std::to_integer<unsigned>(b[i]), " at byte ", i);
  IST_CHECK(h.flags == 0, who, ": ", path, ": expected flags 0, found ", h.flags);
  IST_CHECK(h.feature_dtype == FeatureDtype::float32 || h.feature_dtype == FeatureDtype::bfloat16, who, ": ", path,
            ": expected feature dtype 1 (float32) or 2 (bf16), found ", std::uint32_t(h.feature_dtype));
  IST_CHECK(h.file_bytes == f.size(), who, ": ", path, ": the header says file_bytes = ", h.file_bytes,
            ", found a file of ", f.size(), " bytes",
            f.size() < h.file_bytes ? " (file truncated)" : " (trailing data)");
  IST_CHECK(h.num_nodes >= 1 && h.num_nodes <= kCsrGraphMaxNodes, who, ": ", path,
            ": expected num_nodes in [1, 2^31), found ", h.num_nodes);
  IST_CHECK(h.num_entries % 2 == 0, who, ": ", path,
            ": expected an even num_entries (every undirected edge stored both ways), found ", h.num_entries);
  IST_CHECK(h.num_entries <= h.num_nodes * (h.num_nodes - 1), who, ": ", path, ": expected num_entries <= N (N - 1) = ",
            h.num_nodes * (h.num_nodes - 1), " for N = ", h.num_nodes, " (no self loops or duplicates), found ",
            h.num_entries);
  IST_CHECK(h.num_features >= 1, who, ": ", path, ": expected num_features >= 1, found ", h.num_features);
  IST_CHECK(h.num_classes >= 1 && h.num_classes <= kCsrGraphMaxNodes, who, ": ", path,
            ": expected num_classes in [1, 2^31), found ", h.num_classes);
  // The section table: each section exactly as long as the counts imply, aligned, inside the file, disjoint.
  std::array<std::size_t, kCsrSectionCount> order{};
  for (std::size_t i = 0; i < kCsrSectionCount; ++i) {
    const CsrSectionExtent& s = h.sections[i];
    const std::string_view name = kCsrSectionNames[i];
    const std::uint64_t want =
        csr_section_bytes(CsrSection(i), h.num_nodes, h.num_entries, h.num_features, h.feature_dtype);
    IST_CHECK(s.bytes == want, who, ": ", path, ": section ", name, ": expected ", want,
              " bytes for N = ", h.num_nodes, ", M = ", h.num_entries, ", F = ", h.num_features, " (",
              feature_dtype_name(h.feature_dtype), "), found ", s.bytes);
    IST_CHECK(s.offset % kCsrGraphAlignment == 0 && s.offset >= kCsrGraphHeaderBytes, who, ": ", path, ": section ",
              name, ": expected an offset that is a multiple of ", kCsrGraphAlignment, " and at least ",
              kCsrGraphHeaderBytes, ", found ", s.offset);
    IST_CHECK(s.offset <= h.file_bytes && s.bytes <= h.file_bytes - s.offset, who, ": ", path, ": section ", name,
              ": bytes [", s.offset, ", ", s.offset, " + ", s.bytes, ") reach past the end of the file (",
              h.file_bytes, " bytes)");
    order[i] = i;
  }
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t c) {
              return h.sections[a].offset != h.sections[c].offset ? h.sections[a].offset < h.sections[c].offset : a < c;
            });
  for (std::size_t k = 0; k + 1 < kCsrSectionCount; ++k) {
    const CsrSectionExtent& a = h.sections[order[k]];
    if (a.bytes == 0) continue;
    for (std::size_t j = k + 1; j < kCsrSectionCount; ++j) {
      const CsrSectionExtent& c = h.sections[order[j]];
      if (c.bytes == 0) continue;
      IST_CHECK(a.offset + a.bytes <= c.offset, who, ": ", path, ": sections ", kCsrSectionNames[order[k]], " [",
                a.offset, ", ", a.offset + a.bytes, ") and ", kCsrSectionNames[order[j]], " [", c.offset, ", ",
                c.offset + c.bytes, ") overlap");
      break;
    }
  }
}

// The O(N + M) checks of the arrays (see the comment at the top of the file).
inline void check_csr_arrays(const std::string& path, std::span<const std::int64_t> off,
                             std::span<const std::int32_t> col, std::span<const std::int32_t> labels,
                             std::span<const NodeSplit> splits, std::int64_t num_classes) {
  const auto who = csr_graph_who;
  const std::int64_t n = std::int64_t(labels.size());
  const std::int64_t m = std::int64_t(col.size());
  IST_CHECK(off[0] == 0, who, ": ", path, ": row_offsets: expected row_offsets[0] = 0, found ", off[0]);
  for (std::int64_t v = 0; v < n; ++v)
    IST_CHECK(off[std::size_t(v + 1)] >= off[std::size_t(v)] && off[std::size_t(v + 1)] <= m, who, ": ", path,
              ": row_offsets: expected row_offsets[", v + 1, "] in [row_offsets[", v, "] = ", off[std::size_t(v)],
              ", M = ", m, "], found ", off[std::size_t(v + 1)]);
  IST_CHECK(off[std::size_t(n)] == m, who, ": ", path, ": row_offsets: expected row_offsets[N] = M = ", m,
            ", found ", off[std::size_t(n)]);
  for (std::int64_t v = 0; v < n; ++v) {
    for (std::int64_t k = off[std::size_t(v)]; k < off[std::size_t(v + 1)]; ++k) {
      const std::int32_t c = col[std::size_t(k)];
      IST_CHECK(c >= 0 && c < n, who, ": ", path, ": column_indices[", k, "] (row ", v,
                "): expected a node in [0, N = ", n, "), found ", c);
      IST_CHECK(c != v, who, ": ", path, ": column_indices[", k, "] (row ", v,
                "): expected no self loop, found the row's own node ", c);
      IST_CHECK(k == off[std::size_t(v)] || c > col[std::size_t(k - 1)], who, ": ", path, ": column_indices[", k,
                "] (row ", v, "): expected columns strictly increasing within a row (sorted, no duplicates), found ",
                col[std::size_t(k - 1)], " then ", c);
    }
  }
  // Symmetry in O(N + M): visiting rows u = 0, 1, ... in order, the entries (v, u) of every row v must be met
  // in increasing u, which is the order of row v itself; cursor[v] is the next entry of row v to be matched.
  std::vector<std::int64_t> cursor(off.begin(), off.end() - 1);
  for (std::int64_t u = 0; u < n; ++u) {
    for (std::int64_t k = off[std::size_t(u)]; k < off[std::size_t(u + 1)]; ++k) {
      const std::int32_t v = col[std::size_t(k)];
      std::int64_t& at = cursor[std::size_t(v)];
      if (at < off[std::size_t(v) + 1] && col[std::size_t(at)] == u) {
        ++at;
        continue;
      }
      if (at < off[std::size_t(v) + 1] && col[std::size_t(at)] < u)
        fail(who, ": ", path, ": column_indices: the adjacency is not symmetric: row ", v, " lists ",
             col[std::size_t(at)], " but row ", col[std::size_t(at)], " does not list ", v,
             " (every undirected edge must be stored in both directions)");
      fail(who, ": ", path, ": column_indices: the adjacency is not symmetric: row ", u, " lists ", v, " but row ", v,
           " does not list ", u, " (every undirected edge must be stored in both directions)");
    }
  }
  for (std::int64_t v = 0; v < n; ++v)
    IST_CHECK(labels[std::size_t(v)] >= -1 && labels[std::size_t(v)] < num_classes, who, ": ", path, ": labels[", v,
              "]: expected a class in [0, C = ", num_classes, ") or -1 (unlabeled), found ", labels[std::size_t(v)]);
  for (std::int64_t v = 0; v < n; ++v) {
    const auto s = std::uint8_t(splits[std::size_t(v)]);
    IST_CHECK(s <= 3, who, ": ", path, ": splits[", v, "]: expected 0 (none), 1 (train), 2 (val) or 3 (test), found ",
              unsigned(s));
    IST_CHECK(s == 0 || labels[std::size_t(v)] >= 0, who, ": ", path, ": splits[", v, "]: node ", v, " is in the ",
              node_split_name(NodeSplit(s)), " split but has no label (-1); every node of a split must be labelled");
  }
}

inline void check_csr_features(const std::string& path, std::span<const std::byte> bytes, FeatureDtype dtype,
                               std::uint64_t num_features) {
  const std::size_t count = bytes.size() / feature_dtype_bytes(dtype);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t bits = 0;
    if (dtype == FeatureDtype::float32) {
      std::memcpy(&bits, bytes.data() + 4 * i, 4);
    } else {
      std::uint16_t h = 0;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      bits = std::uint32_t(h) << 16;
    }
    if ((bits & 0x7f800000u) == 0x7f800000u)
      fail(csr_graph_who, ": ", path, ": features[", i / num_features, ", ", i % num_features,
           "]: expected a finite value, found ", std::bit_cast<float>(bits));
  }
}

}  // namespace detail

// Maps and checks the file at `path` (see the top of this file).
inline CsrGraph open_csr_graph(const std::string& path, const CsrGraphOptions& opt = {}) {
  static_assert(std::endian::native == std::endian::little, "the ISTGRAPH reader maps little-endian arrays in place");
  using detail::csr_graph_who;
  CsrGraph g;
  g.file_ = MappedFile(path, csr_graph_who, "write one with ist-graphgen (docs/graphs.md)");
  const MappedFile& f = g.file_;
  IST_CHECK(f.size() >= kCsrGraphHeaderBytes, csr_graph_who, ": ", path, ": expected a header of ",
            kCsrGraphHeaderBytes, " bytes, found a file of ", f.size(), " bytes (truncated, or not an ISTGRAPH file)");
  IST_CHECK(std::memcmp(f.data(), kCsrGraphMagic, 8) == 0, csr_graph_who, ": ", path,
            ": expected magic \"ISTGRAPH\", found other bytes (not an ist CSR graph file)");
  g.header_ = decode_csr_header(f.data());
  const CsrGraphHeader& h = g.header_;
  detail::check_csr_header(f, h);
  if (opt.verify_checksum) {
    const std::uint64_t actual = XXH64(f.data() + kCsrGraphHeaderBytes, f.size() - kCsrGraphHeaderBytes, 0);
    IST_CHECK(actual == h.payload_xxh64, csr_graph_who, ": ", path, ": payload checksum mismatch (the header says XXH64 ",
              h.payload_xxh64, ", the bytes after the header hash to ", actual,
              "): the file is corrupt; write it again");
  }
  auto section = [&](CsrSection s) { return f.bytes().subspan(h.section(s).offset, h.section(s).bytes); };
  auto as = [](std::span<const std::byte> b, auto* type) {
    using T = std::remove_pointer_t<decltype(type)>;
    return std::span<const T>(reinterpret_cast<const T*>(b.data()), b.size() / sizeof(T));
  };
  g.row_offsets_ = as(section(CsrSection::row_offsets), static_cast<std::int64_t*>(nullptr));
  g.column_indices_ = as(section(CsrSection::column_indices), static_cast<std::int32_t*>(nullptr));
  g.features_ = section(CsrSection::features);
  g.labels_ = as(section(CsrSection::labels), static_cast<std::int32_t*>(nullptr));
  g.splits_ = as(section(CsrSection::splits), static_cast<NodeSplit*>(nullptr));
  detail::check_csr_arrays(path, g.row_offsets_, g.column_indices_, g.labels_, g.splits_,
                           std::int64_t(h.num_classes));
  if (opt.check_feature_values) detail::check_csr_features(path, g.features_, h.feature_dtype, h.num_features);
  return g;
}

}  // namespace ist
