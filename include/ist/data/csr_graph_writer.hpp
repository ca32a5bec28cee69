#pragma once
// Writing ISTGRAPH files (csr_graph_format.hpp, docs/graphs.md).
//
// CsrGraphWriter streams a graph of any size: the counts come first, then the five sections in file order,
// each in as many pieces as the caller likes; finish() writes the header (with the payload checksum computed
// on the way) and makes the file visible atomically (AtomicFileWriter: temporary file, fsync, rename). A
// writer destroyed before finish() leaves no file behind.
//
//   ist::CsrGraphWriter w(path, {.num_nodes = n, .num_entries = m, .num_features = f, .num_classes = c});
//   w.append_row_offsets(offsets);          // [N + 1] in total
//   w.append_column_indices(columns);       // [M]
//   w.append_features(rows);                // [N * F] floats (stored as float32 or converted to bf16)
//   w.append_labels(labels);                // [N]
//   w.append_splits(splits);                // [N]
//   w.finish();
//
// The writer checks what it can while streaming (the counts; row offsets from 0, never decreasing, ending at
// M; column indices and labels in range; split codes); open_csr_graph checks everything, including the
// per-row order and the symmetry the format promises. write_csr_graph writes arrays held in memory.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ist/codec/half.hpp"
#include "ist/core/atomic_file.hpp"
#include "ist/core/error.hpp"
#include "ist/data/csr_graph_format.hpp"

namespace ist {

struct CsrGraphCounts {
  std::int64_t num_nodes = 0;    // N, in [1, 2^31)
  std::int64_t num_entries = 0;  // M: directed entries, 2 x the undirected edges
  std::int64_t num_features = 0; // F >= 1
  std::int64_t num_classes = 0;  // C in [1, 2^31)
  FeatureDtype feature_dtype = FeatureDtype::float32;
};

class CsrGraphWriter {
 public:
  CsrGraphWriter(std::string path, const CsrGraphCounts& counts) : out_(path, who_) {
    const std::string& p = out_.path();
    IST_CHECK(counts.num_nodes >= 1 && std::uint64_t(counts.num_nodes) <= kCsrGraphMaxNodes, who_, ": ", p,
              ": expected num_nodes in [1, 2^31), found ", counts.num_nodes);
    const std::uint64_t n = std::uint64_t(counts.num_nodes);
    IST_CHECK(counts.num_entries >= 0 && counts.num_entries % 2 == 0 && std::uint64_t(counts.num_entries) <= n * (n - 1),
              who_, ": ", p, ": expected an even num_entries in [0, N (N - 1) = ", n * (n - 1), "], found ",
              counts.num_entries);
    IST_CHECK(counts.num_features >= 1, who_, ": ", p, ": expected num_features >= 1, found ", counts.num_features);
    IST_CHECK(counts.num_classes >= 1 && std::uint64_t(counts.num_classes) <= kCsrGraphMaxNodes, who_, ": ", p,
              ": expected num_classes in [1, 2^31), found ", counts.num_classes);
    IST_CHECK(counts.feature_dtype == FeatureDtype::float32 || counts.feature_dtype == FeatureDtype::bfloat16, who_,
              ": ", p, ": expected feature dtype float32 or bfloat16, found ", std::uint32_t(counts.feature_dtype));
    header_.feature_dtype = counts.feature_dtype;
    header_.num_nodes = n;
    header_.num_entries = std::uint64_t(counts.num_entries);
    header_.num_features = std::uint64_t(counts.num_features);
    header_.num_classes = std::uint64_t(counts.num_classes);
    lay_out_csr_sections(header_);
    IST_CHECK(header_.file_bytes < (std::uint64_t{1} << 62), who_, ": ", p, ": the counts make a file of more than "
              "2^62 bytes");
    XXH64_reset(&hash_, 0);
    // The header with its final counts and section layout; the payload checksum, known only after the last
    // section, is the one field finish() fills in when it writes the header again at offset 0.
    const auto laid_out = encode_csr_header(header_);
    out_.write(laid_out.data(), laid_out.size());
  }

  const std::string& path() const { return out_.path(); }
  const CsrGraphHeader& header() const { return header_; }  // the layout (and, after finish(), the checksum)

  void append_row_offsets(std::span<const std::int64_t> v) {
    enter(CsrSection::row_offsets, v.size_bytes());
    const std::int64_t m = std::int64_t(header_.num_entries);
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::uint64_t at = row_offsets_seen_ + i;
      IST_CHECK(at != 0 || v[i] == 0, who_, ": ", path(), ": row_offsets: expected row_offsets[0] = 0, found ", v[i]);
      IST_CHECK(v[i] >= last_offset_ && v[i] <= m, who_, ": ", path(), ": row_offsets: expected row_offsets[", at,
                "] in [", last_offset_, ", M = ", m, "], found ", v[i]);
      IST_CHECK(at != header_.num_nodes || v[i] == m, who_, ": ", path(),
                ": row_offsets: expected row_offsets[N] = M = ", m, ", found ", v[i]);
      last_offset_ = v[i];
    }
    row_offsets_seen_ += v.size();
    put(v.data(), v.size_bytes());
  }
  void append_column_indices(std::span<const std::int32_t> v) {
    enter(CsrSection::column_indices, v.size_bytes());
    for (std::size_t i = 0; i < v.size(); ++i)
      IST_CHECK(v[i] >= 0 && std::uint64_t(v[i]) < header_.num_nodes, who_, ": ", path(), ": column_indices[",
                columns_seen_ + i, "]: expected a node in [0, N = ", header_.num_nodes, "), found ", v[i]);
    columns_seen_ += v.size();
    put(v.data(), v.size_bytes());
  }
  // Feature rows as floats, stored as the file's dtype (bf16: rounded to nearest even). Non-finite values
  // are refused (open_csr_graph would refuse the file).
  void append_features(std::span<const float> v) {
    const std::size_t width = feature_dtype_bytes(header_.feature_dtype);
    enter(CsrSection::features, v.size() * width);
    for (std::size_t i = 0; i < v.size(); ++i)
      IST_CHECK(std::isfinite(v[i]), who_, ": ", path(), ": features[", (features_seen_ + i) / header_.num_features,
                ", ", (features_seen_ + i) % header_.num_features, "]: expected a finite value, found ", v[i]);
    features_seen_ += v.size();
    if (header_.feature_dtype == FeatureDtype::float32) {
      put(v.data(), v.size_bytes());
      return;
    }
    std::uint16_t buf[4096];
    for (std::size_t i = 0; i < v.size(); i += 4096) {
      const std::size_t k = std::min<std::size_t>(4096, v.size() - i);
      for (std::size_t j = 0; j < k; ++j) {
        buf[j] = codec::float_to_bf16(v[i + j]);
        IST_CHECK((buf[j] & 0x7f80u) != 0x7f80u, who_, ": ", path(), ": features[",
                  (features_seen_ - v.size() + i + j) / header_.num_features, ", ",
                  (features_seen_ - v.size() + i + j) % header_.num_features, "]: ", v[i + j],
                  " rounds to infinity in bf16; store the features as float32");
      }
      put(buf, k * 2);
    }
  }
  // Feature rows already in bfloat16 bits (the file's dtype must be bf16).
  void append_features_bf16(std::span<const std::uint16_t> v) {
    IST_CHECK(header_.feature_dtype == FeatureDtype::bfloat16, who_, ": ", path(),
              ": append_features_bf16 on a file whose features are ", feature_dtype_name(header_.feature_dtype),
              "; use append_features");
    enter(CsrSection::features, v.size_bytes());
    features_seen_ += v.size();
    put(v.data(), v.size_bytes());
  }
  void append_labels(std::span<const std::int32_t> v) {
    enter(CsrSection::labels, v.size_bytes());
    for (std::size_t i = 0; i < v.size(); ++i)
      IST_CHECK(v[i] >= -1 && std::int64_t(v[i]) < std::int64_t(header_.num_classes), who_, ": ", path(), ": labels[",
                labels_seen_ + i, "]: expected a class in [0, C = ", header_.num_classes,
                ") or -1 (unlabeled), found ", v[i]);
    labels_seen_ += v.size();
    put(v.data(), v.size_bytes());
  }
  void append_splits(std::span<const NodeSplit> v) {
    enter(CsrSection::splits, v.size_bytes());
    for (std::size_t i = 0; i < v.size(); ++i)
      IST_CHECK(std::uint8_t(v[i]) <= 3, who_, ": ", path(), ": splits[", splits_seen_ + i,
                "]: expected 0 (none), 1 (train), 2 (val) or 3 (test), found ", unsigned(std::uint8_t(v[i])));
    splits_seen_ += v.size();
    put(v.data(), v.size_bytes());
  }

  // Checks that every section is complete, writes the header and renames the file into place.
  void finish() {
    enter_end();
    IST_CHECK(out_.size() == header_.file_bytes, who_, ": ", path(), ": wrote ", out_.size(), " bytes, expected ",
              header_.file_bytes);
    header_.payload_xxh64 = XXH64_digest(&hash_);
    const auto bytes = encode_csr_header(header_);
    out_.write_at(0, bytes.data(), bytes.size());
    out_.commit();
  }

 private:
  static constexpr const char* who_ = "ist::write_csr_graph";

  // Moves to section s (closing the ones before it, which must be complete) and checks that `bytes` more fit.
  void enter(CsrSection s, std::uint64_t bytes) {
    const std::size_t i = std::size_t(s);
    IST_CHECK(i >= current_, who_, ": ", path(), ": section ", kCsrSectionNames[i],
              " appended after section ", kCsrSectionNames[current_],
              "; append the sections in file order: row_offsets, column_indices, features, labels, splits");
    while (current_ < i) close_current();
    const CsrSectionExtent& e = header_.sections[i];
    IST_CHECK(bytes <= e.bytes - written_, who_, ": ", path(), ": section ", kCsrSectionNames[i], ": expected ",
              e.bytes, " bytes in total, found more (", written_, " written, ", bytes, " more appended)");
  }
  void close_current() {
    const CsrSectionExtent& e = header_.sections[current_];
    IST_CHECK(written_ == e.bytes, who_, ": ", path(), ": section ", kCsrSectionNames[current_], ": expected ",
              e.bytes, " bytes, found ", written_, " (append the whole section before the next one)");
    ++current_;
    written_ = 0;
  }
  void enter_end() {
    while (current_ < kCsrSectionCount) close_current();
  }
  void pad_to(std::uint64_t offset) {
    static constexpr char zeros[kCsrGraphAlignment] = {};
    while (out_.size() < offset) {
      const std::size_t k = std::size_t(std::min<std::uint64_t>(offset - out_.size(), sizeof zeros));
      XXH64_update(&hash_, zeros, k);
      out_.write(zeros, k);
    }
  }
  void put(const void* data, std::size_t n) {
    if (n == 0) return;
    const CsrSectionExtent& e = header_.sections[current_];
    if (written_ == 0) pad_to(e.offset);
    XXH64_update(&hash_, data, n);
    out_.write(data, n);
    written_ += n;
  }

  CsrGraphHeader header_;
  AtomicFileWriter out_;
  XXH64_state_t hash_{};
  std::size_t current_ = 0;       // the section being written
  std::uint64_t written_ = 0;     // bytes of it written so far
  std::int64_t last_offset_ = 0;
  std::uint64_t row_offsets_seen_ = 0, columns_seen_ = 0, features_seen_ = 0, labels_seen_ = 0, splits_seen_ = 0;
};

// A graph held in memory, for write_csr_graph: the five arrays of the format (features as floats).
struct CsrGraphArrays {
  std::span<const std::int64_t> row_offsets;   // [N + 1]
  std::span<const std::int32_t> column_indices;  // [M]
  std::span<const float> features;             // [N * F], row-major
  std::span<const std::int32_t> labels;        // [N]
  std::span<const NodeSplit> splits;           // [N]
  std::int64_t num_features = 0;
  std::int64_t num_classes = 0;
};

inline void write_csr_graph(const std::string& path, const CsrGraphArrays& g,
                            FeatureDtype dtype = FeatureDtype::float32) {
  IST_CHECK(!g.row_offsets.empty(), "ist::write_csr_graph: ", path, ": expected N + 1 >= 2 row offsets, found none");
  CsrGraphWriter w(path, {.num_nodes = std::int64_t(g.row_offsets.size()) - 1,
                          .num_entries = std::int64_t(g.column_indices.size()),
                          .num_features = g.num_features,
                          .num_classes = g.num_classes,
                          .feature_dtype = dtype});
  w.append_row_offsets(g.row_offsets);
  w.append_column_indices(g.column_indices);
  w.append_features(g.features);
  w.append_labels(g.labels);
  w.append_splits(g.splits);
  w.finish();
}

}  // namespace ist
