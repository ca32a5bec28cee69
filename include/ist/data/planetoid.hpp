#pragma once
// Reader for the Planetoid citation graphs (Cora, Citeseer, Pubmed) in the flat binary format of
// shared/data/planetoid/README.md: one folder per data set holding meta.json and raw little-endian arrays
//
//   features_csr.indptr.i64  int64 [N+1]   features_csr.indices.i32 int32 [nnz]   features_csr.values.f32 [nnz]
//   labels.i32 int32 [N] (-1 = unlabeled)   edges.i32 int32 [E][2]   train.i32 / val.i32 / test.i32 int32 [n]
//
//   ist::GraphDataset cora = ist::load_planetoid("/path/to/planetoid/cora");
//
// What is checked, each failure an ist::Error naming the file, what was expected and what was found:
//   - meta.json parses and has the counts (num_nodes, num_features, num_classes, num_edges,
//     num_feature_nonzeros, train, val, test); features_format is "csr";
//   - every file exists and its size is exactly what the counts imply, and what meta.json's sizes_bytes lists;
//   - with verify_sha256 (the default), every file hashes to meta.json's sha256 entry (OpenSSL's libcrypto);
//   - the CSR structure is valid (indptr starts at 0, never decreases, ends at nnz; columns in range and
//     increasing within a row; values finite), labels are in [-1, num_classes), edge endpoints are in
//     [0, num_nodes), split ids are in range, labelled, and no node is in two splits.
// meta.json is read with nlohmann-json; malformed JSON is an ist::Error naming the file, the line and the column.
//
// The result is ready for a GCN and a GraphSAGE: features row-normalized (each row divided by its sum, as
// Kipf's preprocessing; all-zero rows, such as Citeseer's 15 nodes without data, stay zero), the adjacency
// A_hat = D^-1/2 (A + I) D^-1/2 and the mean-aggregation matrix D^-1 A (graph.hpp).
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ist/core/error.hpp"
#include "ist/data/graph.hpp"
#include "ist/data/sha256.hpp"
#include "ist/io/json.hpp"

namespace ist {

struct PlanetoidOptions {
  bool verify_sha256 = true;       // hash every data file and compare with meta.json's sha256
  bool normalize_features = true;  // divide each feature row by its sum (GCN preprocessing)
};

namespace detail {

inline constexpr const char* planetoid_who = "ist::load_planetoid";

inline std::string planetoid_path(const std::string& dir, const char* file) {
  return (std::filesystem::path(dir) / file).string();
}

// The member `key` of a JSON object, or nullptr (also when `j` is not an object).
inline const nlohmann::json* json_member(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

inline std::int64_t meta_count(const nlohmann::json& meta, const char* key, const std::string& meta_path) {
  const nlohmann::json* v = json_member(meta, key);
  IST_CHECK(v != nullptr, planetoid_who, ": ", meta_path, ": expected a field \"", key, "\", found none");
  const double x = v->is_number() ? v->get<double>() : -1.0;
  IST_CHECK(v->is_number() && x >= 0 && x <= 2147483647.0 && std::floor(x) == x, planetoid_who, ": ", meta_path,
            ": expected \"", key, "\" to be an integer in [0, 2^31), found ",
            v->is_number() ? std::to_string(x) : json_kind(*v));
  return std::int64_t(x);
}

// A JSON value for a message: an integer without exponent when it is one, else as streamed.
inline std::string json_number_text(const nlohmann::json& v) {
  if (!v.is_number()) return json_kind(v);
  const double x = v.get<double>();
  if (x >= 0 && x <= 9007199254740992.0 && std::floor(x) == x) return std::to_string(std::uint64_t(x));
  return concat(x);
}

// Reads a whole file of `count` values of T, checking its size against the count, the manifest's
// sizes_bytes and sha256 entries. `why` says where the count came from, for the size message.
template <class T>
std::vector<T> read_planetoid_array(const std::string& dir, const char* file, std::int64_t count, const char* why,
                                    const nlohmann::json& meta, const PlanetoidOptions& opt) {
  const std::string path = planetoid_path(dir, file);
  std::error_code ec;
  IST_CHECK(std::filesystem::exists(path, ec), planetoid_who, ": ", path,
            ": file not found (a Planetoid folder holds meta.json and 8 binary files; see "
            "shared/data/planetoid/README.md)");
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  IST_CHECK(!ec, planetoid_who, ": ", path, ": cannot read its size (", ec.message(), ")");
  const std::uint64_t expected = std::uint64_t(count) * sizeof(T);
  IST_CHECK(size == expected, planetoid_who, ": ", path, ": expected ", expected, " bytes (", count, " values of ",
            sizeof(T), " bytes: ", why, " from meta.json), found ", size,
            size < expected ? " (file truncated, or meta.json wrong)" : " (trailing data, or meta.json wrong)");
  if (const nlohmann::json* sizes = json_member(meta, "sizes_bytes")) {
    if (const nlohmann::json* listed = json_member(*sizes, file)) {
      // Compared as doubles: a negative, fractional or huge entry must be reported, not converted (UB).
      IST_CHECK(listed->is_number() && listed->get<double>() == double(size), planetoid_who, ": ", path,
                ": meta.json's sizes_bytes lists ", json_number_text(*listed),
                " bytes, found ", size);
    }
  }
  std::vector<T> out(static_cast<std::size_t>(count));
  std::ifstream f(path, std::ios::binary);
  IST_CHECK(bool(f), planetoid_who, ": ", path, ": cannot open for reading");
  f.read(reinterpret_cast<char*>(out.data()), std::streamsize(expected));
  IST_CHECK(std::uint64_t(f.gcount()) == expected, planetoid_who, ": ", path, ": expected ", expected,
            " bytes, could read only ", f.gcount());
  if (opt.verify_sha256) {
    if (const nlohmann::json* hashes = json_member(meta, "sha256")) {
      if (const nlohmann::json* listed = json_member(*hashes, file); listed && listed->is_string()) {
        const std::string got = sha256_hex(out.data(), std::size_t(expected));
        const auto& want = listed->get_ref<const std::string&>();
        IST_CHECK(got == want, planetoid_who, ": ", path, ": SHA-256 mismatch: meta.json lists ", want,
                  ", the file hashes to ", got, " (file corrupt)");
      }
    }
  }
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {  // the files are little-endian
    for (T& v : out) {
      unsigned char b[sizeof(T)];
      std::memcpy(b, &v, sizeof(T));
      for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
      std::memcpy(&v, b, sizeof(T));
    }
  }
  return out;
}

}  // namespace detail

// Loads one data set folder (".../planetoid/cora").
inline GraphDataset load_planetoid(const std::string& dir, const PlanetoidOptions& opt = {}) {
  using detail::planetoid_who;
  const std::string meta_path = detail::planetoid_path(dir, "meta.json");
  std::error_code ec;
  IST_CHECK(std::filesystem::is_directory(dir, ec), planetoid_who, ": ", dir,
            ": not a folder (expected a Planetoid data set folder such as .../planetoid/cora)");
  IST_CHECK(std::filesystem::exists(meta_path, ec), planetoid_who, ": ", meta_path,
            ": file not found (a Planetoid folder holds meta.json and 8 binary files; see "
            "shared/data/planetoid/README.md)");
  std::string text;
  {
    std::ifstream f(meta_path);
    IST_CHECK(bool(f), planetoid_who, ": ", meta_path, ": cannot open for reading");
    std::ostringstream os;
    os << f.rdbuf();
    text = os.str();
  }
  const auto meta = detail::parse_json<nlohmann::json>(text, planetoid_who, meta_path);
  IST_CHECK(meta.is_object(), planetoid_who, ": ", meta_path, ": expected a JSON object at the top level, found ",
            detail::json_kind(meta));
  if (const nlohmann::json* fmt = detail::json_member(meta, "features_format"))
    IST_CHECK(fmt->is_string() && fmt->get_ref<const std::string&>() == "csr", planetoid_who, ": ", meta_path,
              ": expected features_format \"csr\", found ",
              fmt->is_string() ? "\"" + fmt->get<std::string>() + "\"" : detail::json_kind(*fmt));

  const std::int64_t N = detail::meta_count(meta, "num_nodes", meta_path);
  const std::int64_t F = detail::meta_count(meta, "num_features", meta_path);
  const std::int64_t C = detail::meta_count(meta, "num_classes", meta_path);
  const std::int64_t E = detail::meta_count(meta, "num_edges", meta_path);
  const std::int64_t nnz = detail::meta_count(meta, "num_feature_nonzeros", meta_path);
  const std::int64_t n_train = detail::meta_count(meta, "train", meta_path);
  const std::int64_t n_val = detail::meta_count(meta, "val", meta_path);
  const std::int64_t n_test = detail::meta_count(meta, "test", meta_path);
  IST_CHECK(N >= 1 && F >= 1 && C >= 2, planetoid_who, ": ", meta_path,
            ": expected num_nodes >= 1, num_features >= 1 and num_classes >= 2, found ", N, ", ", F, " and ", C);

  const auto indptr = detail::read_planetoid_array<std::int64_t>(dir, "features_csr.indptr.i64", N + 1,
                                                                 "num_nodes + 1", meta, opt);
  const auto indices = detail::read_planetoid_array<std::int32_t>(dir, "features_csr.indices.i32", nnz,
                                                                  "num_feature_nonzeros", meta, opt);
  const auto values = detail::read_planetoid_array<float>(dir, "features_csr.values.f32", nnz,
                                                          "num_feature_nonzeros", meta, opt);
  auto labels = detail::read_planetoid_array<std::int32_t>(dir, "labels.i32", N, "num_nodes", meta, opt);
  const auto edges = detail::read_planetoid_array<std::int32_t>(dir, "edges.i32", 2 * E, "2 x num_edges", meta, opt);
  auto train = detail::read_planetoid_array<std::int32_t>(dir, "train.i32", n_train, "train", meta, opt);
  auto val = detail::read_planetoid_array<std::int32_t>(dir, "val.i32", n_val, "val", meta, opt);
  auto test = detail::read_planetoid_array<std::int32_t>(dir, "test.i32", n_test, "test", meta, opt);

  // CSR structure.
  {
    const std::string p = detail::planetoid_path(dir, "features_csr.indptr.i64");
    IST_CHECK(indptr[0] == 0, planetoid_who, ": ", p, ": expected indptr[0] = 0, found ", indptr[0]);
    for (std::int64_t i = 0; i < N; ++i)
      IST_CHECK(indptr[std::size_t(i + 1)] >= indptr[std::size_t(i)], planetoid_who, ": ", p, ": row ", i,
                ": indptr decreases from ", indptr[std::size_t(i)], " to ", indptr[std::size_t(i + 1)]);
    IST_CHECK(indptr[std::size_t(N)] == nnz, planetoid_who, ": ", p, ": expected indptr[num_nodes] = ", nnz,
              " (num_feature_nonzeros), found ", indptr[std::size_t(N)]);
    const std::string pi = detail::planetoid_path(dir, "features_csr.indices.i32");
    const std::string pv = detail::planetoid_path(dir, "features_csr.values.f32");
    for (std::int64_t i = 0; i < N; ++i)
      for (std::int64_t k = indptr[std::size_t(i)]; k < indptr[std::size_t(i + 1)]; ++k) {
        const std::int32_t c = indices[std::size_t(k)];
        IST_CHECK(c >= 0 && c < F, planetoid_who, ": ", pi, ": nonzero ", k, " (row ", i, "): column ", c,
                  " is out of range [0, ", F, ")");
        IST_CHECK(k == indptr[std::size_t(i)] || c > indices[std::size_t(k - 1)], planetoid_who, ": ", pi,
                  ": nonzero ", k, " (row ", i, "): columns must increase within a row, found ",
                  indices[std::size_t(k - 1)], " then ", c);
        IST_CHECK(std::isfinite(values[std::size_t(k)]), planetoid_who, ": ", pv, ": nonzero ", k,
                  " is not finite");
      }
  }
  // Labels: a class, or -1.
  {
    const std::string p = detail::planetoid_path(dir, "labels.i32");
    for (std::int64_t i = 0; i < N; ++i)
      IST_CHECK(labels[std::size_t(i)] >= -1 && labels[std::size_t(i)] < C, planetoid_who, ": ", p, ": node ", i,
                ": expected a label in [0, ", C, ") or -1 (unlabeled), found ", labels[std::size_t(i)]);
  }
  // Edges.
  std::vector<std::array<std::int32_t, 2>> pairs(static_cast<std::size_t>(E));
  {
    const std::string p = detail::planetoid_path(dir, "edges.i32");
    for (std::int64_t e = 0; e < E; ++e) {
      const std::int32_t u = edges[std::size_t(2 * e)], v = edges[std::size_t(2 * e + 1)];
      IST_CHECK(u >= 0 && u < N && v >= 0 && v < N, planetoid_who, ": ", p, ": edge ", e, " (", u, ", ", v,
                ") has a node id out of range [0, ", N, ")");
      pairs[std::size_t(e)] = {u, v};
    }
  }
  // Splits: in range, labelled, disjoint.
  {
    std::vector<std::uint8_t> in_split(static_cast<std::size_t>(N), 0);
    auto check_split = [&](const std::vector<std::int32_t>& ids, const char* file, std::uint8_t tag) {
      const std::string p = detail::planetoid_path(dir, file);
      static const char* names[] = {"", "train", "val", "test"};
      for (std::size_t k = 0; k < ids.size(); ++k) {
        const std::int32_t v = ids[k];
        IST_CHECK(v >= 0 && v < N, planetoid_who, ": ", p, ": entry ", k, ": node id ", v, " is out of range [0, ", N,
                  ")");
        IST_CHECK(labels[std::size_t(v)] >= 0, planetoid_who, ": ", p, ": entry ", k, ": node ", v,
                  " has no label (-1), but every node of a split must be labelled");
        IST_CHECK(in_split[std::size_t(v)] == 0, planetoid_who, ": ", p, ": entry ", k, ": node ", v,
                  " is already in the ", names[in_split[std::size_t(v)]], " split");
        in_split[std::size_t(v)] = tag;
      }
    };
    check_split(train, "train.i32", 1);
    check_split(val, "val.i32", 2);
    check_split(test, "test.i32", 3);
  }

  GraphDataset g;
  if (const nlohmann::json* name = detail::json_member(meta, "name"); name && name->is_string())
    g.name = name->get<std::string>();
  if (g.name.empty()) g.name = std::filesystem::path(dir).filename().string();
  g.source = dir;
  g.num_nodes = int(N);
  g.num_features = int(F);
  g.num_classes = int(C);
  g.num_edges = E;
  {
    std::vector<int> outer(indptr.begin(), indptr.end());
    const Eigen::Map<const GraphMatrix> view(Eigen::Index(N), Eigen::Index(F), Eigen::Index(nnz), outer.data(),
                                             indices.data(), values.data());
    g.features = view;
    g.features.makeCompressed();
  }
  if (opt.normalize_features) row_normalize(g.features);
  g.adjacency = gcn_normalized_adjacency(int(N), pairs);
  g.mean_aggregation = mean_aggregation_matrix(int(N), pairs);
  g.labels = std::move(labels);
  g.train = std::move(train);
  g.val = std::move(val);
  g.test = std::move(test);
  return g;
}

// Loads `name` ("cora", "citeseer", "pubmed") from the folder holding the data set folders.
inline GraphDataset load_planetoid(const std::string& root, const std::string& name, const PlanetoidOptions& opt = {}) {
  return load_planetoid((std::filesystem::path(root) / name).string(), opt);
}

}  // namespace ist
