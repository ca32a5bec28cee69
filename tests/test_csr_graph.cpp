// The ISTGRAPH file format (ist/data/csr_graph*.hpp): write and read back (float32 and bf16, in one piece and
// streamed), every malformed file rejected with a message naming the file, the field, what was expected and what
// was found; Planetoid graphs converted and back to the very GraphDataset load_planetoid builds; the synthetic
// graph generator (ist/data/synthetic_graph.hpp): deterministic for a seed, whatever the thread count, with the
// edge count, degree skew and homophily asked for. Small graphs only: each case runs in well under a second.
#include <doctest/doctest.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "expect_error.hpp"
#include "file_util.hpp"
#include "ist/codec/half.hpp"
#include "ist/core/atomic_file.hpp"
#include "ist/data/csr_graph.hpp"
#include "ist/data/csr_graph_dataset.hpp"
#include "ist/data/csr_graph_writer.hpp"
#include "ist/data/graph_partition.hpp"
#include "ist/data/planetoid.hpp"
#include "ist/data/synthetic_graph.hpp"
#include "skip.hpp"

namespace test_csr_graph {

using namespace ist;
namespace fs = std::filesystem;
using ist::test::contains;
using ist::test::error_of;

namespace {

struct TempDir : ist::test::TempDir {
  TempDir() : ist::test::TempDir("csr_graph_test") {}
};

// Five nodes: a triangle 0-1-2 and an edge 3-4; three features; node 3 unlabeled and in no split.
struct SmallGraph {
  std::vector<std::int64_t> offsets{0, 2, 4, 6, 7, 8};
  std::vector<std::int32_t> columns{1, 2, 0, 2, 0, 1, 4, 3};
  std::vector<float> features{0.5f, -1.f, 2.f, 1.f / 3, 0.f, 7.25f, -0.1f, 0.2f, 0.3f, 1e-3f, 1e3f, -1e-3f, 4.f, 5.f, 6.f};
  std::vector<std::int32_t> labels{0, 1, 2, -1, 0};
  std::vector<NodeSplit> splits{NodeSplit::train, NodeSplit::val, NodeSplit::test, NodeSplit::none, NodeSplit::train};
  CsrGraphArrays arrays() const { return {offsets, columns, features, labels, splits, 3, 3}; }
};

// Header edits that keep the header checksum right (so that the later checks are reached).
void patch_header(std::string& bytes, const std::function<void(CsrGraphHeader&)>& edit) {
  CsrGraphHeader h = decode_csr_header(reinterpret_cast<const std::byte*>(bytes.data()));
  edit(h);
  const auto b = encode_csr_header(h);
  std::memcpy(bytes.data(), b.data(), b.size());
}
// Recomputes the payload checksum (after an edit of the payload), so that the structural checks are reached.
void rehash_payload(std::string& bytes) {
  const std::uint64_t x = XXH64(bytes.data() + kCsrGraphHeaderBytes, bytes.size() - kCsrGraphHeaderBytes, 0);
  patch_header(bytes, [&](CsrGraphHeader& h) { h.payload_xxh64 = x; });
}
std::uint64_t section_offset(const std::string& bytes, CsrSection s) {
  return decode_csr_header(reinterpret_cast<const std::byte*>(bytes.data())).section(s).offset;
}
template <class T>
void put(std::string& bytes, std::uint64_t at, T v) {
  std::memcpy(bytes.data() + at, &v, sizeof v);
}

// The message of open_csr_graph on `bytes` written to a file.
std::string open_error(const TempDir& t, const std::string& bytes, CsrGraphOptions opt = {}) {
  const std::string p = t.path("bad.istg");
  ist::test::write_all(p, bytes);
  const std::string m = error_of([&] { (void)open_csr_graph(p, opt); });
  CHECK_MESSAGE(contains(m, "ist::open_csr_graph: " + p + ": "), m);
  return m;
}

std::string valid_small_file(const TempDir& t, FeatureDtype dtype = FeatureDtype::float32) {
  const std::string p = t.path("small.istg");
  write_csr_graph(p, SmallGraph{}.arrays(), dtype);
  return ist::test::read_all(p);
}

}  // namespace

TEST_CASE("csr_graph: a small graph written and read back, float32 and bf16") {
  TempDir t;
  const SmallGraph s;
  for (FeatureDtype dtype : {FeatureDtype::float32, FeatureDtype::bfloat16}) {
    CAPTURE(feature_dtype_name(dtype));
    const std::string p = t.path(std::string(feature_dtype_name(dtype)) + ".istg");
    write_csr_graph(p, s.arrays(), dtype);
    CHECK_FALSE(fs::exists(p + ".tmp." + std::to_string(::getpid())));
    const CsrGraph g = open_csr_graph(p);
    CHECK(g.path() == p);
    CHECK(g.num_nodes() == 5);
    CHECK(g.num_entries() == 8);
    CHECK(g.num_edges() == 4);
    CHECK(g.num_features() == 3);
    CHECK(g.num_classes() == 3);
    CHECK(g.feature_dtype() == dtype);
    CHECK(std::vector<std::int64_t>(g.row_offsets().begin(), g.row_offsets().end()) == s.offsets);
    CHECK(std::vector<std::int32_t>(g.column_indices().begin(), g.column_indices().end()) == s.columns);
    CHECK(std::vector<std::int32_t>(g.neighbors(2).begin(), g.neighbors(2).end()) == std::vector<std::int32_t>{0, 1});
    CHECK(g.degree(3) == 1);
    CHECK(std::vector<std::int32_t>(g.labels().begin(), g.labels().end()) == s.labels);
    CHECK(std::vector<NodeSplit>(g.splits().begin(), g.splits().end()) == s.splits);
    CHECK(g.split_nodes(NodeSplit::train) == std::vector<std::int32_t>{0, 4});
    CHECK(g.split_nodes(NodeSplit::test) == std::vector<std::int32_t>{2});
    CHECK(g.split_nodes(NodeSplit::none) == std::vector<std::int32_t>{3});
    // Sections are 64-byte aligned in the mapping; the file ends with the last section.
    for (const CsrSectionExtent& e : g.header().sections) CHECK(e.offset % 64 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(g.row_offsets().data()) % 64 == 0);
    CHECK(g.file_bytes() == fs::file_size(p));
    std::array<float, 3> row{};
    for (int v = 0; v < 5; ++v) {
      g.feature_row(v, row);
      for (int j = 0; j < 3; ++j) {
        const float x = s.features[std::size_t(3 * v + j)];
        CHECK(row[std::size_t(j)] == (dtype == FeatureDtype::float32 ? x : codec::bf16_to_float(codec::float_to_bf16(x))));
      }
    }
    if (dtype == FeatureDtype::float32) {
      CHECK(std::vector<float>(g.features_f32().begin(), g.features_f32().end()) == s.features);
      CHECK(contains(error_of([&] { (void)g.features_bf16(); }), "the features are stored as float32"));
    } else {
      CHECK(g.features_bf16().size() == 15);
      CHECK(g.features_bf16()[0] == codec::float_to_bf16(0.5f));
      CHECK(contains(error_of([&] { (void)g.features_f32(); }), "the features are stored as bf16"));
    }
    CHECK(contains(error_of([&] { std::array<float, 2> r{}; g.feature_row(0, r); }), "expected an output of 3 floats, found 2"));
  }
  // A CsrGraph is movable and keeps its mapping.
  CsrGraph a = open_csr_graph(t.path("float32.istg"));
  CsrGraph b = std::move(a);
  CHECK(b.neighbors(0)[1] == 2);
}

TEST_CASE("csr_graph: the writer streams sections in pieces, to the same bytes, and refuses bad input") {
  TempDir t;
  const SmallGraph s;
  const std::string whole = valid_small_file(t);
  {
    const std::string p = t.path("pieces.istg");
    CsrGraphWriter w(p, {.num_nodes = 5, .num_entries = 8, .num_features = 3, .num_classes = 3});
    w.append_row_offsets(std::span(s.offsets).first(2));
    w.append_row_offsets(std::span(s.offsets).subspan(2));
    for (std::size_t i = 0; i < s.columns.size(); ++i) w.append_column_indices(std::span(s.columns).subspan(i, 1));
    w.append_features(std::span(s.features).first(7));
    w.append_features(std::span(s.features).subspan(7));
    w.append_labels(s.labels);
    w.append_splits(s.splits);
    w.finish();
    CHECK(ist::test::read_all(p) == whole);
  }
  const std::string p = t.path("refused.istg");
  const CsrGraphCounts counts{.num_nodes = 5, .num_entries = 8, .num_features = 3, .num_classes = 3};
  auto refused = [&](const std::function<void(CsrGraphWriter&)>& f) {
    const std::string m = error_of([&] {
      CsrGraphWriter w(p, counts);
      f(w);
    });
    CHECK_MESSAGE(contains(m, "ist::write_csr_graph: " + p), m);
    CHECK_FALSE(fs::exists(p));                                              // nothing half-written is left
    CHECK_FALSE(fs::exists(p + ".tmp." + std::to_string(::getpid())));     // the temporary file is removed
    return m;
  };
  CHECK(contains(refused([&](CsrGraphWriter& w) { w.append_column_indices(s.columns); }),
                 "section row_offsets: expected 48 bytes, found 0"));
  CHECK(contains(refused([&](CsrGraphWriter& w) {
                   w.append_row_offsets(s.offsets);
                   w.append_column_indices(s.columns);
                   w.append_row_offsets(s.offsets);
                 }),
                 "section row_offsets appended after section column_indices"));
  CHECK(contains(refused([&](CsrGraphWriter& w) {
                   w.append_row_offsets(s.offsets);
                   w.append_row_offsets(std::span(s.offsets).first(1));
                 }),
                 "section row_offsets: expected 48 bytes in total, found more"));
  CHECK(contains(refused([&](CsrGraphWriter& w) {
                   w.append_row_offsets(s.offsets);
                   w.finish();
                 }),
                 "section column_indices: expected 32 bytes, found 0"));
  CHECK(contains(refused([&](CsrGraphWriter& w) {
                   std::vector<std::int64_t> o = s.offsets;
                   o[0] = 1;
                   w.append_row_offsets(o);
                 }),
                 "row_offsets: expected row_offsets[0] = 0, found 1"));
  CHECK(contains(refused([&](CsrGraphWriter& w) {
                   std::vector<std::int64_t> o = s.offsets;
                   o[3] = 1;
                   w.append_row_offsets(o);
                 }),
                 "row_offsets: expected row_offsets[3] in [4, M = 8], found 1"));
  CHECK(contains(refused([&](CsrGraphWriter& w) {
                   std::vector<std::int64_t> o = s.offsets;
                   o[5] = 7;
                   w.append_row_offsets(o);
                 }),
                 "expected row_offsets[N] = M = 8, found 7"));
  CHECK(contains(refused([&](CsrGraphWriter& w) {
                   w.append_row_offsets(s.offsets);
                   std::vector<std::int32_t> c = s.columns;
                   c[6] = 5;
                   w.append_column_indices(c);
                 }),
                 "column_indices[6]: expected a node in [0, N = 5), found 5"));
  CHECK(contains(refused([&](CsrGraphWriter& w) {
                   w.append_row_offsets(s.offsets);
                   w.append_column_indices(s.columns);
                   std::vector<float> f = s.features;
                   f[4] = std::numeric_limits<float>::infinity();
                   w.append_features(f);
                 }),
                 "features[1, 1]: expected a finite value, found inf"));
  CHECK(contains(refused([&](CsrGraphWriter& w) {
                   w.append_row_offsets(s.offsets);
                   w.append_column_indices(s.columns);
                   w.append_features(s.features);
                   std::vector<std::int32_t> l = s.labels;
                   l[1] = 3;
                   w.append_labels(l);
                 }),
                 "labels[1]: expected a class in [0, C = 3) or -1 (unlabeled), found 3"));
  CHECK(contains(error_of([&] { CsrGraphWriter w(p, {.num_nodes = 0, .num_entries = 0, .num_features = 1, .num_classes = 1}); }),
                 "expected num_nodes in [1, 2^31), found 0"));
  CHECK(contains(error_of([&] { CsrGraphWriter w(p, {.num_nodes = 3, .num_entries = 3, .num_features = 1, .num_classes = 1}); }),
                 "expected an even num_entries in [0, N (N - 1) = 6], found 3"));
  CHECK(contains(error_of([&] {
                   CsrGraphWriter w(p, {.num_nodes = 1, .num_entries = 0, .num_features = 1, .num_classes = 1,
                                        .feature_dtype = FeatureDtype::bfloat16});
                   w.append_row_offsets(std::vector<std::int64_t>{0, 0});
                   w.append_features(std::vector<float>{std::numeric_limits<float>::max()});
                 }),
                 "rounds to infinity in bf16; store the features as float32"));
}

TEST_CASE("csr_graph: AtomicFileWriter streams, rewrites, and leaves nothing when abandoned") {
  TempDir t;
  const std::string p = t.path("atomic.bin");
  {
    AtomicFileWriter w(p, "test");
    w.write("hello", 5);
    w.write_zeros(3);
    w.write_at(1, "EL", 2);
    CHECK(w.size() == 8);
    CHECK_FALSE(fs::exists(p));  // invisible until commit
    w.commit();
  }
  CHECK(ist::test::read_all(p) == std::string("hELlo\0\0\0", 8));
  {
    AtomicFileWriter w(p, "test");
    w.write("new", 3);
    CHECK(contains(error_of([&] { w.write_at(2, "xy", 2); }), "cannot rewrite 2 bytes at offset 2 of a file of 3 bytes"));
  }  // destroyed without commit: the old file stays, the temporary file is gone
  CHECK(ist::test::read_all(p) == std::string("hELlo\0\0\0", 8));
  CHECK_FALSE(fs::exists(p + ".tmp." + std::to_string(::getpid())));
}

TEST_CASE("csr_graph: malformed files are rejected with the field, what was expected and what was found") {
  TempDir t;
  const std::string good = valid_small_file(t);
  const std::uint64_t cols = section_offset(good, CsrSection::column_indices);
  const std::uint64_t offs = section_offset(good, CsrSection::row_offsets);
  const std::uint64_t labs = section_offset(good, CsrSection::labels);
  const std::uint64_t spls = section_offset(good, CsrSection::splits);
  const std::uint64_t feats = section_offset(good, CsrSection::features);
  auto with = [&](const std::function<void(std::string&)>& edit) {
    std::string b = good;
    edit(b);
    return b;
  };
  auto with_payload = [&](const std::function<void(std::string&)>& edit) {
    std::string b = good;
    edit(b);
    rehash_payload(b);
    return b;
  };

  SUBCASE("missing file, directory, short file, magic") {
    CHECK(contains(error_of([&] { (void)open_csr_graph(t.path("none.istg")); }),
                   "ist::open_csr_graph: " + t.path("none.istg") + ": file not found; write one with ist-graphgen"));
    CHECK(contains(error_of([&] { (void)open_csr_graph(t.dir.string()); }), "expected a file, found a directory"));
    CHECK(contains(open_error(t, ""), "expected a header of 256 bytes, found a file of 0 bytes"));
    CHECK(contains(open_error(t, good.substr(0, 100)), "expected a header of 256 bytes, found a file of 100 bytes"));
    CHECK(contains(open_error(t, with([](std::string& b) { b[0] = 'X'; })), "expected magic \"ISTGRAPH\""));
  }
  SUBCASE("version, header checksum, reserved bytes, flags, dtype") {
    CHECK(contains(open_error(t, with([](std::string& b) { patch_header(b, [](CsrGraphHeader& h) { h.version = 2; }); })),
                   "expected version 1, found 2 (written by a newer ist"));
    CHECK(contains(open_error(t, with([](std::string& b) { b[20] ^= 1; })), "header checksum mismatch"));
    CHECK(contains(open_error(t, with([](std::string& b) {
                     b[200] = 7;
                     put(b, kCsrHeaderChecksumAt, std::uint64_t(XXH64(b.data(), kCsrHeaderChecksumAt, 0)));
                   })),
                   "expected reserved header bytes 152..247 to be zero, found 7 at byte 200"));
    CHECK(contains(open_error(t, with([](std::string& b) { patch_header(b, [](CsrGraphHeader& h) { h.flags = 1; }); })),
                   "expected flags 0, found 1"));
    CHECK(contains(open_error(t, with([](std::string& b) {
                     patch_header(b, [](CsrGraphHeader& h) { h.feature_dtype = FeatureDtype(3); });
                   })),
                   "expected feature dtype 1 (float32) or 2 (bf16), found 3"));
  }
  SUBCASE("truncated file, trailing data") {
    CHECK(contains(open_error(t, good.substr(0, good.size() - 1)),
                   "the header says file_bytes = " + std::to_string(good.size()) + ", found a file of " +
                       std::to_string(good.size() - 1) + " bytes (file truncated)"));
    CHECK(contains(open_error(t, good + "x"), "(trailing data)"));
  }
  SUBCASE("counts") {
    CHECK(contains(open_error(t, with([](std::string& b) { patch_header(b, [](CsrGraphHeader& h) { h.num_nodes = 0; }); })),
                   "expected num_nodes in [1, 2^31), found 0"));
    CHECK(contains(open_error(t, with([](std::string& b) {
                     patch_header(b, [](CsrGraphHeader& h) { h.num_nodes = std::uint64_t(1) << 40; });
                   })),
                   "expected num_nodes in [1, 2^31), found 1099511627776"));
    CHECK(contains(open_error(t, with([](std::string& b) { patch_header(b, [](CsrGraphHeader& h) { h.num_entries = 7; }); })),
                   "expected an even num_entries (every undirected edge stored both ways), found 7"));
    CHECK(contains(open_error(t, with([](std::string& b) { patch_header(b, [](CsrGraphHeader& h) { h.num_entries = 22; }); })),
                   "expected num_entries <= N (N - 1) = 20 for N = 5"));
    CHECK(contains(open_error(t, with([](std::string& b) { patch_header(b, [](CsrGraphHeader& h) { h.num_features = 0; }); })),
                   "expected num_features >= 1, found 0"));
    CHECK(contains(open_error(t, with([](std::string& b) { patch_header(b, [](CsrGraphHeader& h) { h.num_classes = 0; }); })),
                   "expected num_classes in [1, 2^31), found 0"));
    CHECK(contains(open_error(t, with([](std::string& b) {
                     patch_header(b, [](CsrGraphHeader& h) { h.num_features = std::uint64_t(1) << 62; });
                   })),
                   "section features: expected 18446744073709551615 bytes"));
  }
  SUBCASE("the section table") {
    CHECK(contains(open_error(t, with([](std::string& b) {
                     patch_header(b, [](CsrGraphHeader& h) { h.section(CsrSection::labels).bytes = 16; });
                   })),
                   "section labels: expected 20 bytes for N = 5, M = 8, F = 3 (float32), found 16"));
    CHECK(contains(open_error(t, with([](std::string& b) {
                     patch_header(b, [](CsrGraphHeader& h) { h.section(CsrSection::labels).offset += 4; });
                   })),
                   "section labels: expected an offset that is a multiple of 64 and at least 256"));
    CHECK(contains(open_error(t, with([](std::string& b) {
                     patch_header(b, [](CsrGraphHeader& h) { h.section(CsrSection::row_offsets).offset = 192; });
                   })),
                   "section row_offsets: expected an offset that is a multiple of 64 and at least 256, found 192"));
    CHECK(contains(open_error(t, with([](std::string& b) {
                     patch_header(b, [](CsrGraphHeader& h) { h.section(CsrSection::splits).offset += 64; });
                   })),
                   "section splits: bytes ["));
    CHECK(contains(open_error(t, with([](std::string& b) {
                     patch_header(b, [](CsrGraphHeader& h) {
                       h.section(CsrSection::labels).offset = h.section(CsrSection::features).offset;
                     });
                   })),
                   "sections features [" + std::to_string(feats) + ", " + std::to_string(feats + 60) + ") and labels [" +
                       std::to_string(feats) + ", " + std::to_string(feats + 20) + ") overlap"));
  }
  SUBCASE("payload checksum, and what skipping it still catches") {
    const std::string flipped = with([&](std::string& b) { b[feats + 1] ^= 0x10; });
    CHECK(contains(open_error(t, flipped), "payload checksum mismatch (the header says XXH64 "));
    CHECK(contains(open_error(t, flipped), "the file is corrupt; write it again"));
    const std::string p = t.path("flipped.istg");
    ist::test::write_all(p, flipped);
    CHECK_NOTHROW((void)open_csr_graph(p, {.verify_checksum = false}));  // a feature bit: only the checksum sees it
    const std::string bad_column = with([&](std::string& b) { put(b, cols, std::int32_t(9)); });
    CHECK(contains(open_error(t, bad_column, {.verify_checksum = false}),
                   "column_indices[0] (row 0): expected a node in [0, N = 5), found 9"));
  }
  SUBCASE("row offsets") {
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { put(b, offs, std::int64_t(1)); })),
                   "row_offsets: expected row_offsets[0] = 0, found 1"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { put(b, offs + 16, std::int64_t(1)); })),
                   "row_offsets: expected row_offsets[2] in [row_offsets[1] = 2, M = 8], found 1"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { put(b, offs + 32, std::int64_t(9)); })),
                   "row_offsets: expected row_offsets[4] in [row_offsets[3] = 6, M = 8], found 9"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { put(b, offs + 40, std::int64_t(7)); })),
                   "row_offsets: expected row_offsets[N] = M = 8, found 7"));
  }
  SUBCASE("column indices: range, self loops, order, duplicates, symmetry") {
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { put(b, cols + 4 * 6, std::int32_t(-1)); })),
                   "column_indices[6] (row 3): expected a node in [0, N = 5), found -1"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { put(b, cols + 4 * 6, std::int32_t(3)); })),
                   "column_indices[6] (row 3): expected no self loop, found the row's own node 3"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) {
                     put(b, cols, std::int32_t(2));
                     put(b, cols + 4, std::int32_t(1));
                   })),
                   "column_indices[1] (row 0): expected columns strictly increasing within a row (sorted, no "
                   "duplicates), found 2 then 1"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { put(b, cols + 4, std::int32_t(1)); })),
                   "column_indices[1] (row 0): expected columns strictly increasing within a row (sorted, no "
                   "duplicates), found 1 then 1"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { put(b, cols + 4, std::int32_t(3)); })),
                   "column_indices: the adjacency is not symmetric: row 0 lists 3 but row 3 does not list 0"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { put(b, cols + 4 * 7, std::int32_t(2)); })),
                   "column_indices: the adjacency is not symmetric: row 4 lists 2 but row 2 does not list 4"));
  }
  SUBCASE("labels, splits, feature values") {
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { put(b, labs + 8, std::int32_t(3)); })),
                   "labels[2]: expected a class in [0, C = 3) or -1 (unlabeled), found 3"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { put(b, labs + 8, std::int32_t(-2)); })),
                   "labels[2]: expected a class in [0, C = 3) or -1 (unlabeled), found -2"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { b[spls + 1] = 4; })),
                   "splits[1]: expected 0 (none), 1 (train), 2 (val) or 3 (test), found 4"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) { b[spls + 3] = 2; })),
                   "splits[3]: node 3 is in the val split but has no label (-1)"));
    CHECK(contains(open_error(t, with_payload([&](std::string& b) {
                     put(b, feats + 4 * 5, std::numeric_limits<float>::quiet_NaN());
                   })),
                   "features[1, 2]: expected a finite value, found nan"));
    const std::string p = t.path("nan.istg");
    ist::test::write_all(p, with_payload([&](std::string& b) {
      put(b, feats + 4 * 5, std::numeric_limits<float>::quiet_NaN());
    }));
    CHECK_NOTHROW((void)open_csr_graph(p, {.check_feature_values = false}));
    const std::string bf16 = valid_small_file(t, FeatureDtype::bfloat16);
    std::string b = bf16;
    put(b, section_offset(bf16, CsrSection::features) + 2 * 4, std::uint16_t(0xff80));  // -inf
    rehash_payload(b);
    CHECK(contains(open_error(t, b), "features[1, 1]: expected a finite value, found -inf"));
  }
}

TEST_CASE("csr_graph: the CSR gcn_normalized_adjacency and mean_aggregation_matrix equal the edge-list ones, bit for bit") {
  const SmallGraph s;
  const std::vector<std::array<std::int32_t, 2>> edges{{2, 1}, {0, 1}, {4, 3}, {0, 2}, {1, 0}};
  const GraphMatrix a = gcn_normalized_adjacency(5, edges);
  const GraphMatrix b = gcn_normalized_adjacency(s.offsets, s.columns);
  REQUIRE(a.nonZeros() == b.nonZeros());
  CHECK(std::equal(a.outerIndexPtr(), a.outerIndexPtr() + 6, b.outerIndexPtr()));
  CHECK(std::equal(a.innerIndexPtr(), a.innerIndexPtr() + a.nonZeros(), b.innerIndexPtr()));
  CHECK(std::equal(a.valuePtr(), a.valuePtr() + a.nonZeros(), b.valuePtr()));
  const GraphMatrix m = mean_aggregation_matrix(5, edges);
  const GraphMatrix n = mean_aggregation_matrix(s.offsets, s.columns);
  REQUIRE(m.nonZeros() == n.nonZeros());
  CHECK(m.nonZeros() == Eigen::Index(s.columns.size()));  // no self loops
  CHECK(std::equal(m.outerIndexPtr(), m.outerIndexPtr() + 6, n.outerIndexPtr()));
  CHECK(std::equal(m.innerIndexPtr(), m.innerIndexPtr() + m.nonZeros(), n.innerIndexPtr()));
  CHECK(std::equal(m.valuePtr(), m.valuePtr() + m.nonZeros(), n.valuePtr()));
  const std::vector<std::int32_t> loop{1, 2, 0, 2, 0, 1, 3, 3};
  CHECK(contains(error_of([&] { (void)gcn_normalized_adjacency(s.offsets, loop); }),
                 "ist::gcn_normalized_adjacency: row 3: expected a neighbour in [0, 5) other than the row itself, found 3"));
  CHECK(contains(error_of([&] { (void)mean_aggregation_matrix(s.offsets, loop); }),
                 "ist::mean_aggregation_matrix: row 3: expected a neighbour in [0, 5) other than the row itself, found 3"));
}

TEST_CASE("csr_graph: Planetoid graphs converted and read back give load_planetoid's GraphDataset exactly") {
  const std::string root = std::string(IST_SHARED_DIR) + "/data/planetoid";
  if (!fs::exists(root + "/cora/meta.json")) IST_SKIP_TEST(root + " not found (the shared Planetoid data is missing)");
  TempDir t;
  auto same_matrix = [](const GraphMatrix& a, const GraphMatrix& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() && a.nonZeros() == b.nonZeros() &&
           std::equal(a.outerIndexPtr(), a.outerIndexPtr() + a.outerSize() + 1, b.outerIndexPtr()) &&
           std::equal(a.innerIndexPtr(), a.innerIndexPtr() + a.nonZeros(), b.innerIndexPtr()) &&
           std::equal(a.valuePtr(), a.valuePtr() + a.nonZeros(), b.valuePtr());
  };
  for (const char* name : {"cora", "citeseer", "pubmed"}) {
    CAPTURE(name);
    const GraphDataset want = load_planetoid(root, name);
    const std::string p = t.path(std::string(name) + ".istg");
    write_csr_graph(p, load_planetoid(root, name, {.normalize_features = false}));
    const CsrGraph csr = open_csr_graph(p);
    CHECK(csr.num_edges() == want.num_edges);
    const GraphDataset got = to_graph_dataset(csr);
    CHECK(got.name == name);
    CHECK(got.num_nodes == want.num_nodes);
    CHECK(got.num_features == want.num_features);
    CHECK(got.num_classes == want.num_classes);
    CHECK(got.num_edges == want.num_edges);
    CHECK(same_matrix(got.adjacency, want.adjacency));
    CHECK(same_matrix(got.mean_aggregation, want.mean_aggregation));
    CHECK(same_matrix(got.features, want.features));
    CHECK(got.labels == want.labels);
    CHECK(got.train == want.train);
    CHECK(got.val == want.val);
    CHECK(got.test == want.test);
    // And writing the normalized GraphDataset keeps its features as they are.
    if (std::string(name) == "cora") {
      const std::string q = t.path("cora-normalized.istg");
      write_csr_graph(q, want);
      CHECK(same_matrix(to_graph_dataset(open_csr_graph(q), {.normalize_features = false}).features, want.features));
    }
  }
}

TEST_CASE("synthetic graph: the same seed gives the same bytes, for any number of threads; another seed differs") {
  TempDir t;
  SyntheticGraphConfig cfg;
  cfg.num_nodes = 3000;
  cfg.num_edges = 15000;
  cfg.num_features = 8;
  cfg.num_classes = 4;
  cfg.seed = 11;
  const int threads = omp_get_max_threads();
  generate_synthetic_graph(t.path("a.istg"), cfg);
  omp_set_num_threads(1);
  generate_synthetic_graph(t.path("b.istg"), cfg);
  omp_set_num_threads(3);
  generate_synthetic_graph(t.path("c.istg"), cfg);
  omp_set_num_threads(threads);
  cfg.seed = 12;
  generate_synthetic_graph(t.path("d.istg"), cfg);
  const std::string a = ist::test::read_all(t.path("a.istg"));
  CHECK(a.size() > 15000 * 8);
  CHECK(a == ist::test::read_all(t.path("b.istg")));
  CHECK(a == ist::test::read_all(t.path("c.istg")));
  CHECK(a != ist::test::read_all(t.path("d.istg")));
}

TEST_CASE("synthetic graph: edge count, degree skew, homophily, splits and class-dependent features") {
  TempDir t;
  SyntheticGraphConfig cfg;
  cfg.num_nodes = 6000;
  cfg.num_edges = 40000;
  cfg.num_features = 16;
  cfg.num_classes = 5;
  cfg.homophily = 0.8;
  cfg.feature_signal = 1.0;
  cfg.train_fraction = 0.6;
  cfg.val_fraction = 0.2;
  cfg.test_fraction = 0.1;
  cfg.seed = 3;
  for (FeatureDtype dtype : {FeatureDtype::float32, FeatureDtype::bfloat16}) {
    CAPTURE(feature_dtype_name(dtype));
    cfg.feature_dtype = dtype;
    const std::string p = t.path("g.istg");
    const SyntheticGraphStats st = generate_synthetic_graph(p, cfg);
    const CsrGraph g = open_csr_graph(p);  // every invariant of the format holds
    CHECK(g.num_nodes() == 6000);
    CHECK(g.num_edges() == 40000);  // exactly: missing edges are drawn again, a surplus removed
    CHECK(st.num_edges == 40000);
    CHECK(g.num_features() == 16);
    CHECK(g.num_classes() == 5);
    CHECK(g.feature_dtype() == dtype);
    // Homophily near the target, measured on the file.
    std::int64_t same = 0;
    for (std::int64_t u = 0; u < g.num_nodes(); ++u)
      for (std::int32_t v : g.neighbors(u)) same += g.labels()[std::size_t(u)] == g.labels()[std::size_t(v)];
    const double h = double(same) / double(g.num_entries());
    CHECK(h == doctest::Approx(st.homophily).epsilon(1e-12));
    CHECK(h == doctest::Approx(0.8).epsilon(0.04));
    // Power-law degrees: a heavy tail far above the mean.
    std::int64_t max_degree = 0;
    for (std::int64_t v = 0; v < g.num_nodes(); ++v) max_degree = std::max(max_degree, g.degree(v));
    CHECK(max_degree == st.max_degree);
    CHECK(st.mean_degree == doctest::Approx(2.0 * 40000 / 6000));
    CHECK(double(max_degree) > 8 * st.mean_degree);
    CHECK(st.top1_percent_entry_share > 0.05);  // the top 1 % of nodes hold over 5 % of the entries
    // Splits near their fractions, every node labelled.
    CHECK(double(g.split_nodes(NodeSplit::train).size()) == doctest::Approx(3600).epsilon(0.05));
    CHECK(double(g.split_nodes(NodeSplit::test).size()) == doctest::Approx(600).epsilon(0.15));
    CHECK(double(g.split_nodes(NodeSplit::none).size()) == doctest::Approx(600).epsilon(0.15));
    CHECK(std::count(g.labels().begin(), g.labels().end(), -1) == 0);
    // Features depend on the class: the nearest class mean (estimated on the train split) beats chance.
    std::vector<double> mean(5 * 16, 0.0);
    std::vector<int> count(5, 0);
    std::vector<float> row(16);
    for (std::int32_t v : g.split_nodes(NodeSplit::train)) {
      g.feature_row(v, row);
      const auto y = std::size_t(g.labels()[std::size_t(v)]);
      ++count[y];
      for (std::size_t j = 0; j < 16; ++j) mean[y * 16 + j] += row[j];
    }
    for (std::size_t y = 0; y < 5; ++y)
      for (std::size_t j = 0; j < 16; ++j) mean[y * 16 + j] /= std::max(count[y], 1);
    int correct = 0;
    const auto val = g.split_nodes(NodeSplit::val);
    for (std::int32_t v : val) {
      g.feature_row(v, row);
      std::size_t best = 0;
      double best_d = 1e300;
      for (std::size_t y = 0; y < 5; ++y) {
        double d = 0;
        for (std::size_t j = 0; j < 16; ++j) d += (row[j] - mean[y * 16 + j]) * (row[j] - mean[y * 16 + j]);
        if (d < best_d) best_d = d, best = y;
      }
      correct += int(best) == g.labels()[std::size_t(v)];
    }
    CHECK(double(correct) / double(val.size()) > 0.5);  // chance: at most the largest class, about 0.3
  }
}

TEST_CASE("synthetic graph: communities hold their share of the edges, METIS finds them, batches stay homophilous "
          "as the graph") {
  TempDir t;
  SyntheticGraphConfig cfg;
  cfg.num_nodes = 8000;
  cfg.num_edges = 40000;
  cfg.num_features = 8;
  cfg.num_classes = 5;
  cfg.homophily = 0.7;
  cfg.seed = 5;
  const std::string plain = t.path("plain.istg");
  const SyntheticGraphStats sp = generate_synthetic_graph(plain, cfg);
  CHECK(sp.communities == 0);
  cfg.community_size = 100;
  cfg.community_edges = 0.8;
  const std::string local = t.path("local.istg");
  const SyntheticGraphStats sl = generate_synthetic_graph(local, cfg);
  CHECK(sl.communities == 80);
  CHECK(sl.community_edge_share == doctest::Approx(0.8).epsilon(0.05));
  CHECK(sl.homophily == doctest::Approx(0.7).epsilon(0.05));
  CHECK(sl.num_edges == 40000);
  // The same file for any number of threads.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  generate_synthetic_graph(t.path("local1.istg"), cfg);
  omp_set_num_threads(threads);
  CHECK(ist::test::read_all(local) == ist::test::read_all(t.path("local1.istg")));
  // The features and labels depend on the classes only: communities change the edges, nothing else.
  const CsrGraph a = open_csr_graph(plain), b = open_csr_graph(local);
  CHECK(std::equal(a.labels().begin(), a.labels().end(), b.labels().begin(), b.labels().end()));
  // 40 METIS parts of 200 nodes (two communities each): the share of the edges inside parts, the homophily of
  // those edges and of all edges.
  struct Inside {
    double share, homophily_inside, homophily;
  };
  auto inside = [](const std::string& path) {
    const GraphDataset g = to_graph_dataset(open_csr_graph(path), {.normalize_features = false});
    const GraphPartition p = partition_graph(g, 40);
    const GraphMatrix& m = g.mean_aggregation;
    std::int64_t in = 0, same_in = 0, same = 0;
    for (int i = 0; i < int(m.outerSize()); ++i)
      for (GraphMatrix::InnerIterator it(m, i); it; ++it) {
        const bool s = g.labels[std::size_t(i)] == g.labels[std::size_t(it.col())];
        const bool inner = p.part_of[std::size_t(i)] == p.part_of[std::size_t(it.col())];
        in += inner;
        same_in += inner && s;
        same += s;
      }
    return Inside{double(in) / double(m.nonZeros()), double(same_in) / double(in), double(same) / double(m.nonZeros())};
  };
  const Inside p = inside(plain), l = inside(local);
  MESSAGE("edges inside 40 METIS parts, without communities: " << p.share << " (homophily " << p.homophily_inside
          << " against " << p.homophily << " in the graph); with: " << l.share << " (homophily " << l.homophily_inside
          << " against " << l.homophily << "); community edges " << sl.community_edge_share);
  // Without communities METIS can only group classes: it keeps few edges, and those far more homophilous than
  // the graph's (a batch would look cleaner than the graph that evaluation sees).
  CHECK(p.share < 0.5);
  CHECK(p.homophily_inside > p.homophily + 0.15);
  // With them it keeps (nearly) whole communities, and the edges it keeps are as homophilous as the graph's.
  CHECK(l.share > 0.9 * sl.community_edge_share);
  CHECK(l.homophily_inside == doctest::Approx(l.homophily).epsilon(0.05));
}

TEST_CASE("synthetic graph: presets and refused configurations") {
  const SyntheticGraphConfig p = synthetic_graph_preset("products-like");
  CHECK(p.num_nodes == 2449029);
  CHECK(p.num_edges == 61859140);
  CHECK(p.num_features == 100);
  CHECK(p.num_classes == 47);
  const SyntheticGraphConfig a = synthetic_graph_preset("arxiv-like");
  CHECK(a.num_nodes == 169343);
  CHECK(a.num_edges == 1166243);
  CHECK(a.num_features == 128);
  CHECK(a.num_classes == 40);
  CHECK(a.community_size == 1700);
  CHECK(a.community_edges == 0.8);
  CHECK(contains(error_of([] { (void)synthetic_graph_preset("reddit"); }),
                 "ist::synthetic_graph_preset: expected a preset products-like | arxiv-like, found 'reddit'"));
  TempDir t;
  SyntheticGraphConfig cfg;
  cfg.num_nodes = 10;
  cfg.num_edges = 30;
  CHECK(contains(error_of([&] { generate_synthetic_graph(t.path("x.istg"), cfg); }),
                 "expected num_edges in [0, N (N - 1) / 4] (a sparse graph), found 30 for N = 10"));
  cfg.num_edges = 5;
  cfg.homophily = 1.5;
  CHECK(contains(error_of([&] { generate_synthetic_graph(t.path("x.istg"), cfg); }),
                 "expected homophily in [0, 1], found 1.5"));
  cfg.homophily = 0.5;
  cfg.train_fraction = 0.9;
  CHECK(contains(error_of([&] { generate_synthetic_graph(t.path("x.istg"), cfg); }),
                 "expected split fractions >= 0 summing to at most 1"));
  cfg.train_fraction = 0.5;
  cfg.community_edges = 0.3;
  CHECK(contains(error_of([&] { generate_synthetic_graph(t.path("x.istg"), cfg); }),
                 "expected community_edges in [0, 1], and 0 without communities (community_size 0), found 0.3"));
  cfg.community_size = 4;
  cfg.community_edges = 1.5;
  CHECK(contains(error_of([&] { generate_synthetic_graph(t.path("x.istg"), cfg); }),
                 "expected community_edges in [0, 1], and 0 without communities (community_size 0), found 1.5"));
  cfg.community_size = 11;
  cfg.community_edges = 0.3;
  CHECK(contains(error_of([&] { generate_synthetic_graph(t.path("x.istg"), cfg); }),
                 "expected community_size in [0, N] (0: no communities), found 11"));
  CHECK_FALSE(fs::exists(t.path("x.istg")));
}

}  // namespace test_csr_graph
