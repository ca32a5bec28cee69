// The Planetoid reader on the real Cora, Citeseer and Pubmed folders (../shared/data/planetoid), and on
// damaged copies of Cora: each bad input gives an error naming the file, what was expected and what was found.
// Also the SHA-256 it relies on (OpenSSL's libcrypto) and how meta.json's JSON errors are reported.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ist/data/planetoid.hpp"
#include "ist/data/sha256.hpp"

namespace test_planetoid {

using namespace ist;
namespace fs = std::filesystem;

namespace {

doctest::Contains contains(const std::string& s) { return doctest::Contains(s.c_str()); }

std::string planetoid_root() {
  const std::string root = std::string(IST_SHARED_DIR) + "/data/planetoid";
  REQUIRE_MESSAGE(fs::exists(root + "/cora/meta.json"), "the Planetoid data is missing: expected ", root);
  return root;
}

// A writable copy of the Cora folder in a fresh temporary folder, removed at the end of the test.
struct CoraCopy {
  fs::path dir;
  CoraCopy() {
    static int counter = 0;
    dir = fs::temp_directory_path() / ("ist_planetoid_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(planetoid_root() + "/cora")) {
      const fs::path to = dir / e.path().filename();
      fs::copy_file(e.path(), to);
      fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write);
    }
  }
  ~CoraCopy() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string path(const char* file) const { return (dir / file).string(); }
  std::string read(const char* file) const {
    std::ifstream f(path(file), std::ios::binary);
    std::ostringstream os;
    os << f.rdbuf();
    return os.str();
  }
  void write(const char* file, const std::string& bytes) const {
    std::ofstream f(path(file), std::ios::binary | std::ios::trunc);
    f << bytes;
  }
  void replace_in_meta(const std::string& from, const std::string& to) const {
    std::string m = read("meta.json");
    const auto at = m.find(from);
    REQUIRE(at != std::string::npos);
    m.replace(at, from.size(), to);
    write("meta.json", m);
  }
  GraphDataset load(PlanetoidOptions opt = {}) const { return load_planetoid(dir.string(), opt); }
};

}  // namespace

TEST_CASE("planetoid: Cora, Citeseer and Pubmed load with the sizes of their meta.json") {
  const std::string root = planetoid_root();
  struct Expect {
    const char* name;
    int nodes, features, classes;
    std::int64_t edges, nonzeros;
    std::size_t train, val, test;
    int unlabeled;
  };
  for (const Expect& e : {Expect{"cora", 2708, 1433, 7, 5278, 49216, 140, 500, 1000, 0},
                          Expect{"citeseer", 3327, 3703, 6, 4552, 105165, 120, 500, 1000, 15},
                          Expect{"pubmed", 19717, 500, 3, 44324, 988031, 60, 500, 1000, 0}}) {
    CAPTURE(e.name);
    const GraphDataset g = load_planetoid(root, e.name);
    CHECK(g.name == e.name);
    CHECK(g.num_nodes == e.nodes);
    CHECK(g.num_features == e.features);
    CHECK(g.num_classes == e.classes);
    CHECK(g.num_edges == e.edges);
    CHECK(g.features.rows() == e.nodes);
    CHECK(g.features.cols() == e.features);
    CHECK(g.features.nonZeros() == e.nonzeros);
    CHECK(g.train.size() == e.train);
    CHECK(g.val.size() == e.val);
    CHECK(g.test.size() == e.test);
    // A_hat: both directions of every edge plus the self loops, symmetric.
    CHECK(g.adjacency.nonZeros() == 2 * e.edges + e.nodes);
    const GraphMatrix at = g.adjacency.transpose();
    CHECK((Eigen::MatrixXf(g.adjacency.topLeftCorner(300, 300)) - Eigen::MatrixXf(at.topLeftCorner(300, 300)))
              .cwiseAbs()
              .maxCoeff() == 0.f);
    // Rows of the features sum to 1, except all-zero rows.
    int zero_rows = 0, bad_rows = 0;
    for (int i = 0; i < g.num_nodes; ++i) {
      double s = 0;
      for (GraphMatrix::InnerIterator it(g.features, i); it; ++it) s += it.value();
      if (g.features.outerIndexPtr()[i + 1] == g.features.outerIndexPtr()[i]) ++zero_rows;
      else if (std::abs(s - 1.0) > 1e-5) ++bad_rows;
    }
    CHECK(bad_rows == 0);
    CHECK(zero_rows == e.unlabeled);  // Citeseer's 15 nodes without data have no features and label -1
    CHECK(std::count(g.labels.begin(), g.labels.end(), -1) == e.unlabeled);
    for (const auto* split : {&g.train, &g.val, &g.test})
      for (std::int32_t v : *split) REQUIRE(g.labels[std::size_t(v)] >= 0);
  }
  // Cora's class sizes from the README.
  const GraphDataset cora = load_planetoid(root, "cora");
  std::vector<int> counts(7, 0);
  for (auto y : cora.labels) ++counts[std::size_t(y)];
  CHECK(counts == std::vector<int>{351, 217, 418, 818, 426, 298, 180});
  // A_hat[i][j] = 1 / sqrt(d_i d_j) with d the degree in A + I: check node 0's row.
  const int d0 = cora.adjacency.outerIndexPtr()[1] - cora.adjacency.outerIndexPtr()[0];
  for (GraphMatrix::InnerIterator it(cora.adjacency, 0); it; ++it) {
    const int j = int(it.col());
    const int dj = cora.adjacency.outerIndexPtr()[j + 1] - cora.adjacency.outerIndexPtr()[j];
    CHECK(it.value() == doctest::Approx(1.0 / std::sqrt(double(d0) * dj)));
  }
  // Without normalization the raw 0/1 values come back.
  const GraphDataset raw = load_planetoid(root, "cora", PlanetoidOptions{true, false});
  CHECK(raw.features.coeff(0, raw.features.innerIndexPtr()[0]) == 1.f);
}

TEST_CASE("planetoid: a missing folder or file gives an error naming it") {
  CHECK_THROWS_WITH_AS(load_planetoid("/nonexistent/planetoid/cora"),
                       contains("ist::load_planetoid: /nonexistent/planetoid/cora: not a folder"), Error);
  {
    CoraCopy c;
    fs::remove(c.path("labels.i32"));
    CHECK_THROWS_WITH_AS(c.load(), contains(c.path("labels.i32") + ": file not found"), Error);
  }
  {
    CoraCopy c;
    fs::remove(c.path("meta.json"));
    CHECK_THROWS_WITH_AS(c.load(), contains(c.path("meta.json") + ": file not found"), Error);
  }
}

TEST_CASE("planetoid: a truncated file names the file and the sizes expected and found") {
  CoraCopy c;
  std::string edges = c.read("edges.i32");
  edges.resize(edges.size() - 6);
  c.write("edges.i32", edges);
  CHECK_THROWS_WITH_AS(c.load(), contains(c.path("edges.i32") + ": expected 42224 bytes (10556 values of 4 "
                                                   "bytes: 2 x num_edges from meta.json), found 42218 (file truncated"),
                       Error);
}

TEST_CASE("planetoid: a meta.json that disagrees with the files names the file") {
  {
    CoraCopy c;
    c.replace_in_meta("\"num_edges\": 5278", "\"num_edges\": 5279");
    CHECK_THROWS_WITH_AS(c.load(), contains(c.path("edges.i32") + ": expected 42232 bytes"), Error);
  }
  {
    CoraCopy c;
    c.replace_in_meta("\"num_nodes\": 2708", "\"num_nodes\": 2700");
    CHECK_THROWS_WITH_AS(c.load(), contains(c.path("features_csr.indptr.i64") +
                                                     ": expected 21608 bytes (2701 values of 8 bytes: num_nodes + 1"),
                         Error);
  }
  {
    CoraCopy c;
    c.replace_in_meta("\"labels.i32\": 10832", "\"labels.i32\": 10833");
    CHECK_THROWS_WITH_AS(c.load(), contains(c.path("labels.i32") + ": meta.json's sizes_bytes lists 10833 bytes, found 10832"),
                         Error);
  }
  {
    CoraCopy c;
    c.replace_in_meta("\"num_classes\": 7", "\"num_classes\": 6");  // label 6 exists
    CHECK_THROWS_WITH_AS(c.load(), contains(c.path("labels.i32") + ": node"), Error);
    CHECK_THROWS_WITH_AS(c.load(), contains("expected a label in [0, 6) or -1 (unlabeled), found 6"), Error);
  }
}

TEST_CASE("planetoid: a corrupt meta.json names the file, the line and the column") {
  {
    CoraCopy c;
    c.replace_in_meta("\"num_nodes\": 2708,", "\"num_nodes\": 2708,,");
    CHECK_THROWS_WITH_AS(c.load(), contains("ist::load_planetoid: " + c.path("meta.json") +
                                                     ": invalid JSON at line 3, column 21: syntax error while parsing "
                                                     "object key - unexpected ','; expected string literal"),
                         Error);
  }
  {
    CoraCopy c;
    c.write("meta.json", c.read("meta.json").substr(0, 100));
    CHECK_THROWS_WITH_AS(c.load(), contains(c.path("meta.json") + ": invalid JSON"), Error);
  }
  {
    CoraCopy c;
    c.replace_in_meta("\"num_features\"", "\"features\"");
    CHECK_THROWS_WITH_AS(c.load(), contains(c.path("meta.json") + ": expected a field \"num_features\", found none"),
                         Error);
  }
  {
    CoraCopy c;
    c.replace_in_meta("\"num_classes\": 7", "\"num_classes\": 7.5");
    CHECK_THROWS_WITH_AS(c.load(), contains("expected \"num_classes\" to be an integer"), Error);
  }
}

TEST_CASE("planetoid: a corrupt data file fails its SHA-256 check, naming the file") {
  CoraCopy c;
  std::string values = c.read("features_csr.values.f32");
  values[100] ^= 0x40;
  c.write("features_csr.values.f32", values);
  CHECK_THROWS_WITH_AS(c.load(), contains(c.path("features_csr.values.f32") + ": SHA-256 mismatch: meta.json "
                                                   "lists b6b21f88"),
                       Error);
}

TEST_CASE("planetoid: an edge index out of range, a bad CSR row and an unlabeled split node name the file") {
  PlanetoidOptions no_hash;
  no_hash.verify_sha256 = false;  // the content checks, behind the hash check
  auto patch_i32 = [](const CoraCopy& c, const char* file, std::size_t index, std::int32_t value) {
    std::string bytes = c.read(file);
    std::memcpy(bytes.data() + 4 * index, &value, 4);
    c.write(file, bytes);
  };
  {
    CoraCopy c;
    patch_i32(c, "edges.i32", 2 * 10 + 1, 2708);  // edge 10's dst
    CHECK_THROWS_WITH_AS(c.load(no_hash), contains(c.path("edges.i32") + ": edge 10 (") , Error);
    CHECK_THROWS_WITH_AS(c.load(no_hash), contains(", 2708) has a node id out of range [0, 2708)"), Error);
    CHECK_THROWS_WITH_AS(c.load(), contains(c.path("edges.i32") + ": SHA-256 mismatch"), Error);
  }
  {
    CoraCopy c;
    patch_i32(c, "features_csr.indices.i32", 3, 1433);
    CHECK_THROWS_WITH_AS(c.load(no_hash), contains(c.path("features_csr.indices.i32") +
                                                            ": nonzero 3 (row 0): column 1433 is out of range [0, 1433)"),
                         Error);
  }
  {
    CoraCopy c;
    patch_i32(c, "labels.i32", 0, -1);  // node 0 is the first training node
    CHECK_THROWS_WITH_AS(c.load(no_hash), contains(c.path("train.i32") + ": entry 0: node 0 has no label (-1)"),
                         Error);
  }
  {
    CoraCopy c;
    patch_i32(c, "val.i32", 0, 0);  // node 0 is in train already
    CHECK_THROWS_WITH_AS(c.load(no_hash), contains(c.path("val.i32") + ": entry 0: node 0 is already in the train split"),
                         Error);
  }
}

TEST_CASE("planetoid: meta.json of the wrong JSON shape names the file and what it found") {
  // (text replaced in Cora's meta.json, or the whole file when `from` is empty; what the message says)
  const std::vector<std::array<std::string, 3>> cases = {
      {"", "[1, 2, 3]", ": expected a JSON object at the top level, found an array"},
      {"", "{} x", ": invalid JSON at line 1, column 4"},
      {"", "{\"num_nodes\": \"\xff\"}", ": invalid JSON at line 1"},  // not UTF-8
      // nlohmann-json throws out_of_range here, not parse_error.
      {"\"num_nodes\": 2708", "\"num_nodes\": 2708e999", ": invalid JSON: number overflow parsing '2708e999'"},
      {"\"num_nodes\": 2708", "\"num_nodes\": 1, \"num_nodes\": 2708",
       ": invalid JSON: the key \"num_nodes\" appears twice"},
      {"\"num_nodes\": 2708", "\"num_nodes\": \"2708\"",
       ": expected \"num_nodes\" to be an integer in [0, 2^31), found a string"},
      {"\"features_format\": \"csr\"", "\"features_format\": 3", ": expected features_format \"csr\", found a number"},
  };
  for (const auto& [from, to, message] : cases) {
    CAPTURE(to);
    CoraCopy c;
    if (from.empty()) c.write("meta.json", to);
    else c.replace_in_meta(from, to);
    CHECK_THROWS_WITH_AS(c.load(), contains("ist::load_planetoid: " + c.path("meta.json") + message), Error);
  }
}

TEST_CASE("planetoid: SHA-256 (OpenSSL) of known inputs") {
  CHECK(sha256_hex("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex(nullptr, 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";  // padding crosses a block
  CHECK(sha256_hex(s.data(), s.size()) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// Found by tests/fuzz/fuzz_planetoid (UBSan): a negative sizes_bytes entry was converted to uint64 (undefined
// behaviour) before the comparison. Negative, fractional and huge entries are now reported as they are.
TEST_CASE("planetoid: a negative, fractional or huge sizes_bytes entry is reported, not converted") {
  for (const auto& [listed, shown] : {std::pair<std::string, std::string>{"-4", "-4"}, {"10832.5", "10832.5"},
                                      {"1e300", "1e+300"}}) {
    CoraCopy c;
    c.replace_in_meta("\"labels.i32\": 10832", "\"labels.i32\": " + listed);
    CHECK_THROWS_WITH_AS(c.load(), contains(c.path("labels.i32") + ": meta.json's sizes_bytes lists " + shown +
                                            " bytes, found 10832"),
                         Error);
  }
}

}  // namespace test_planetoid
