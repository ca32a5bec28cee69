// Writes the seed corpus of the fuzz harnesses: small valid inputs in each harness's input format.
//   make_corpus OUT_DIR [PLANETOID_CORA_DIR]
// fills OUT_DIR/{idx,cifar,planetoid,checkpoint,image_folder,safetensors,codec,csr_graph}. With the Cora folder (shared/data/planetoid/cora)
// it also writes a 24-node cut of Cora. tests/fuzz/make-corpus.sh runs it into tests/fuzz/corpus.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <png.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ist/codec/codec.hpp"
#include "ist/data/csr_graph_writer.hpp"
#include "ist/data/graph_partition.hpp"
#include "ist/data/sha256.hpp"
#include "ist/io/safetensors.hpp"
#include "ist/io/state_dict.hpp"
#include "ist/model/mlp.hpp"
#include "ist/train/checkpoint.hpp"
#include "ist/data/synthetic_graph.hpp"

namespace fs = std::filesystem;
using Bytes = std::string;

namespace {

fs::path out_root;

void seed(const char* target, const std::string& name, const Bytes& bytes) {
  const fs::path dir = out_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

void be32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b += char((v >> s) & 0xff);
}
void le16(Bytes& b, std::size_t v) {
  b += char(v & 0xff);
  b += char((v >> 8) & 0xff);
}
template <class T>
Bytes raw(const std::vector<T>& v) {
  return Bytes(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}
Bytes chunk16(const Bytes& b) {
  Bytes out;
  le16(out, b.size());
  return out + b;
}

Bytes idx_images(std::uint32_t n, std::uint32_t rows, std::uint32_t cols) {
  Bytes b;
  be32(b, 2051);
  be32(b, n);
  be32(b, rows);
  be32(b, cols);
  for (std::uint32_t k = 0; k < n * rows * cols; ++k) b += char((7 * k) % 256);
  return b;
}
Bytes idx_labels(const std::vector<std::uint8_t>& labels) {
  Bytes b;
  be32(b, 2049);
  be32(b, std::uint32_t(labels.size()));
  for (auto l : labels) b += char(l);
  return b;
}

void idx_seeds() {
  const Bytes img = idx_images(3, 2, 4), lab = idx_labels({4, 0, 9});
  seed("idx", "images", Bytes(1, '\x00') + img);
  seed("idx", "images-gz", Bytes(1, '\x04') + img);
  seed("idx", "labels", Bytes(1, '\x01') + lab);
  seed("idx", "labels-gz", Bytes(1, '\x05') + lab);
  seed("idx", "dataset", Bytes(1, char(0x92)) + chunk16(img) + lab);     // 10 classes
  seed("idx", "dataset-gz", Bytes(1, char(0x9e)) + chunk16(img) + lab);  // both gzipped
  seed("idx", "images-28x28", Bytes(1, '\x00') + idx_images(1, 28, 28));
}

Bytes cifar_records(int n, bool c100) {
  Bytes b;
  for (int i = 0; i < n; ++i) {
    b += char(i % 10);
    if (c100) b += char((i * 37) % 100);
    for (int k = 0; k < 3072; ++k) b += char((i + 3 * k) % 256);
  }
  return b;
}

void cifar_seeds() {
  seed("cifar", "cifar10-1", Bytes(1, '\x00') + cifar_records(1, false));
  seed("cifar", "cifar10-2-gz", Bytes(1, '\x04') + cifar_records(2, false));
  seed("cifar", "cifar100-coarse-1", Bytes(1, '\x01') + cifar_records(1, true));
  seed("cifar", "cifar100-fine-1-gz", Bytes(1, '\x06') + cifar_records(1, true));
  seed("cifar", "cifar10-two-files", Bytes(1, '\x08') + chunk16(cifar_records(1, false)) + cifar_records(1, false));
  seed("cifar", "cifar100-two-files-gz",
       Bytes(1, '\x1e') + chunk16(cifar_records(1, true)) + cifar_records(1, true));
}

// ---- planetoid -------------------------------------------------------------------------------------------

struct Graph {
  std::string name;
  std::int64_t F = 0, C = 0;
  std::vector<std::int64_t> indptr{0};
  std::vector<std::int32_t> indices;
  std::vector<float> values;
  std::vector<std::int32_t> labels, edges, train, val, test;
};

const char* const kFiles[] = {"features_csr.indptr.i64", "features_csr.indices.i32", "features_csr.values.f32",
                              "labels.i32", "edges.i32", "train.i32", "val.i32", "test.i32"};

std::vector<Bytes> graph_files(const Graph& g) {
  return {raw(g.indptr), raw(g.indices), raw(g.values), raw(g.labels), raw(g.edges), raw(g.train), raw(g.val),
          raw(g.test)};
}

Bytes meta_json(const Graph& g, bool manifest) {
  const auto files = graph_files(g);
  nlohmann::ordered_json meta = {{"name", g.name},
                                 {"num_nodes", g.labels.size()},
                                 {"num_features", g.F},
                                 {"num_classes", g.C},
                                 {"num_edges", g.edges.size() / 2},
                                 {"num_feature_nonzeros", g.indices.size()},
                                 {"train", g.train.size()},
                                 {"val", g.val.size()},
                                 {"test", g.test.size()},
                                 {"features_format", "csr"}};
  if (manifest) {
    for (int i = 0; i < 8; ++i) {
      const Bytes& f = files[std::size_t(i)];
      meta["sizes_bytes"][kFiles[i]] = f.size();
      meta["sha256"][kFiles[i]] = ist::sha256_hex(f.data(), f.size());
    }
  }
  return meta.dump(2) + "\n";
}

// flags: 1 = verify_sha256, 2 = normalize_features.
Bytes planetoid_input(const Graph& g, bool manifest, std::uint8_t flags) {
  Bytes b(1, char(flags));
  b += chunk16(meta_json(g, manifest));
  for (const Bytes& f : graph_files(g)) b += chunk16(f);
  return b;
}

Graph tiny_graph() {
  Graph g;
  g.name = "tiny";
  g.F = 5;
  g.C = 3;
  const std::vector<std::vector<std::pair<int, float>>> rows = {
      {{0, 1.f}, {3, 1.f}}, {{1, 0.5f}}, {}, {{0, 1.f}, {2, 2.f}, {4, 1.f}}, {{4, 0.25f}}, {{1, 1.f}, {2, 1.f}}};
  for (const auto& r : rows) {
    for (auto [c, v] : r) {
      g.indices.push_back(c);
      g.values.push_back(v);
    }
    g.indptr.push_back(std::int64_t(g.indices.size()));
  }
  g.labels = {0, 1, 2, -1, 1, 0};
  g.edges = {0, 1, 0, 4, 1, 2, 3, 5, 4, 5};
  g.train = {0, 1};
  g.val = {2};
  g.test = {4, 5};
  return g;
}

template <class T>
std::vector<T> read_vec(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  const std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<T> v(s.size() / sizeof(T));
  std::memcpy(v.data(), s.data(), v.size() * sizeof(T));
  return v;
}

// The first 16 training nodes, 4 validation nodes and 4 test nodes of Cora, renumbered 0..23, with the
// edges among them and their feature rows.
Graph cora_cut(const fs::path& dir) {
  const auto indptr = read_vec<std::int64_t>(dir / "features_csr.indptr.i64");
  const auto indices = read_vec<std::int32_t>(dir / "features_csr.indices.i32");
  const auto values = read_vec<float>(dir / "features_csr.values.f32");
  const auto labels = read_vec<std::int32_t>(dir / "labels.i32");
  const auto edges = read_vec<std::int32_t>(dir / "edges.i32");
  const auto train = read_vec<std::int32_t>(dir / "train.i32");
  const auto val = read_vec<std::int32_t>(dir / "val.i32");
  const auto test = read_vec<std::int32_t>(dir / "test.i32");
  std::vector<std::int32_t> keep;
  for (int i = 0; i < 16; ++i) keep.push_back(train[std::size_t(i)]);
  for (int i = 0; i < 4; ++i) keep.push_back(val[std::size_t(i)]);
  for (int i = 0; i < 4; ++i) keep.push_back(test[std::size_t(i)]);
  std::vector<std::int32_t> new_id(labels.size(), -1);
  for (std::size_t k = 0; k < keep.size(); ++k) new_id[std::size_t(keep[k])] = std::int32_t(k);
  Graph g;
  g.name = "cora-cut";
  g.F = 1433;
  g.C = 7;
  for (std::int32_t old : keep) {
    for (std::int64_t k = indptr[std::size_t(old)]; k < indptr[std::size_t(old) + 1]; ++k) {
      g.indices.push_back(indices[std::size_t(k)]);
      g.values.push_back(values[std::size_t(k)]);
    }
    g.indptr.push_back(std::int64_t(g.indices.size()));
    g.labels.push_back(labels[std::size_t(old)]);
  }
  for (std::size_t e = 0; e + 1 < edges.size(); e += 2) {
    const auto u = new_id[std::size_t(edges[e])], v = new_id[std::size_t(edges[e + 1])];
    if (u >= 0 && v >= 0) {
      g.edges.push_back(u);
      g.edges.push_back(v);
    }
  }
  // Make sure there are a few edges even when the cut has none of Cora's: a path through the nodes.
  for (std::int32_t i = 0; i + 1 < 24 && g.edges.size() < 24; i += 3) {
    g.edges.push_back(i);
    g.edges.push_back(i + 1);
  }
  for (int i = 0; i < 16; ++i) g.train.push_back(i);
  for (int i = 16; i < 20; ++i) g.val.push_back(i);
  for (int i = 20; i < 24; ++i) g.test.push_back(i);
  return g;
}

void planetoid_seeds(const char* cora_dir) {
  const Graph tiny = tiny_graph();
  seed("planetoid", "tiny", planetoid_input(tiny, false, 2));
  seed("planetoid", "tiny-manifest", planetoid_input(tiny, true, 3));
  seed("planetoid", "tiny-raw-features", planetoid_input(tiny, true, 0));
  if (cora_dir != nullptr && fs::is_directory(cora_dir)) {
    const Graph cut = cora_cut(cora_dir);
    seed("planetoid", "cora-cut", planetoid_input(cut, false, 2));
    seed("planetoid", "cora-cut-manifest", planetoid_input(cut, true, 3));
  }
}

// ---- checkpoints ------------------------------------------------------------------------------------------

void checkpoint_seeds() {
  using Net = ist::Mlp<ist::Input<6>, ist::Dense<5>, ist::Dense<4>, ist::Dense<3>>;
  const ist::ModelInfo info = ist::detail::chain_model_info<Net>("mlp");
  ist::TrainingState s;
  s.rounds_done = 3;
  s.seed = 42;
  s.model = "mlp";
  s.config = {{"seed", 42}, {"local_steps", 5}, {"optimizer", {{"name", "sgd"}, {"lr", 0.1}}}};
  s.params.resize(info.num_params);
  for (std::size_t i = 0; i < s.params.size(); ++i) s.params[i] = float(i) * 0.125f - 4.f;
  const fs::path tmp = fs::temp_directory_path() / ("ist_make_corpus_" + std::to_string(::getpid()) + ".ckpt");
  auto file_of = [&](const ist::TrainingState& st) {
    ist::save_checkpoint(tmp.string(), info, st);
    std::ifstream f(tmp, std::ios::binary);
    Bytes b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    fs::remove(tmp);
    return b;
  };
  const Bytes plain = file_of(s);
  s.optimizer_state.push_back({"momentum", std::vector<float>(info.num_params, 0.5f)});
  const Bytes with_momentum = file_of(s);
  seed("checkpoint", "file", Bytes(1, '\x00') + plain);
  seed("checkpoint", "file-momentum", Bytes(1, '\x00') + with_momentum);
  // flags 1: the payload only; the harness adds the header with a valid checksum.
  seed("checkpoint", "payload", Bytes(1, '\x01') + plain.substr(ist::detail::kCheckpointHeader));
  seed("checkpoint", "payload-momentum", Bytes(1, '\x01') + with_momentum.substr(ist::detail::kCheckpointHeader));
}

// ---- image folders ----------------------------------------------------------------------------------------

// h x w x c interleaved test pattern.
std::vector<unsigned char> image_pattern(int h, int w, int c) {
  std::vector<unsigned char> v(std::size_t(h * w * c));
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<unsigned char>((k * 29 + (k / 7) * 3) % 256);
  return v;
}

Bytes jpeg_file(int h, int w, int c, int subsamp, int quality, int flags) {
  const auto px = image_pattern(h, w, c);
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  if (tj == nullptr ||
      tjCompress2(tj, px.data(), w, 0, h, c == 1 ? TJPF_GRAY : TJPF_RGB, &buf, &size, subsamp, quality, flags) != 0) {
    std::fprintf(stderr, "make_corpus: tjCompress2 failed: %s\n", tjGetErrorStr2(tj));
    std::exit(1);
  }
  Bytes out(reinterpret_cast<const char*>(buf), size);
  tjFree(buf);
  tjDestroy(tj);
  return out;
}

// format: a PNG_FORMAT_* value; PNG_FORMAT_FLAG_LINEAR formats take 16-bit samples (a 16-bit PNG).
Bytes png_file(int h, int w, png_uint_32 format) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = png_uint_32(w);
  img.height = png_uint_32(h);
  img.format = format;
  const auto px = image_pattern(h, w, int(PNG_IMAGE_SAMPLE_CHANNELS(format)) * int(PNG_IMAGE_SAMPLE_COMPONENT_SIZE(format)));
  std::vector<unsigned char> colormap(256 * 4);
  for (std::size_t k = 0; k < colormap.size(); ++k) colormap[k] = static_cast<unsigned char>(k * 7);
  if (format & PNG_FORMAT_FLAG_COLORMAP) img.colormap_entries = 256;
  png_alloc_size_t size = 1 << 16;
  Bytes out(size, '\0');
  if (png_image_write_to_memory(&img, out.data(), &size, 0, px.data(), 0,
                                (format & PNG_FORMAT_FLAG_COLORMAP) ? colormap.data() : nullptr) == 0) {
    std::fprintf(stderr, "make_corpus: png_image_write_to_memory failed: %s\n", img.message);
    std::exit(1);
  }
  out.resize(size);
  return out;
}

// Flags byte (tests/fuzz/fuzz_image_folder.cpp): channels in bits 0-1, 4 = also load a folder, 8 = two files.
void image_folder_seeds() {
  const Bytes rgb444 = jpeg_file(8, 8, 3, TJSAMP_444, 90, 0);
  const Bytes rgb420 = jpeg_file(16, 16, 3, TJSAMP_420, 75, 0);
  const Bytes gray_jpeg = jpeg_file(8, 8, 1, TJSAMP_GRAY, 90, 0);
  const Bytes progressive = jpeg_file(16, 8, 3, TJSAMP_422, 80, TJFLAG_PROGRESSIVE);
  const Bytes rgb_png = png_file(6, 5, PNG_FORMAT_RGB);
  const Bytes gray_png = png_file(6, 5, PNG_FORMAT_GRAY);
  seed("image_folder", "jpeg-rgb-444", Bytes(1, '\x00') + rgb444);
  seed("image_folder", "jpeg-rgb-420-to-gray", Bytes(1, '\x01') + rgb420);
  seed("image_folder", "jpeg-gray-to-rgb", Bytes(1, '\x02') + gray_jpeg);
  seed("image_folder", "jpeg-progressive", Bytes(1, '\x00') + progressive);
  seed("image_folder", "png-rgb", Bytes(1, '\x00') + rgb_png);
  seed("image_folder", "png-gray-to-rgb", Bytes(1, '\x02') + gray_png);
  seed("image_folder", "png-rgba", Bytes(1, '\x00') + png_file(4, 4, PNG_FORMAT_RGBA));
  seed("image_folder", "png-gray-alpha-to-gray", Bytes(1, '\x01') + png_file(4, 4, PNG_FORMAT_GA));
  seed("image_folder", "png-colormap", Bytes(1, '\x00') + png_file(4, 6, PNG_FORMAT_RGB_COLORMAP));
  seed("image_folder", "png-16bit", Bytes(1, '\x00') + png_file(3, 3, PNG_FORMAT_LINEAR_RGB));
  seed("image_folder", "folder-jpeg", Bytes(1, '\x04') + rgb444);
  seed("image_folder", "folder-png-to-gray", Bytes(1, '\x05') + rgb_png);
  seed("image_folder", "folder-jpeg-and-png", Bytes(1, '\x0c') + chunk16(rgb444) + png_file(8, 8, PNG_FORMAT_RGB));
  seed("image_folder", "folder-gray-in-rgb", Bytes(1, '\x0c') + chunk16(rgb_png) + gray_png);  // channel mismatch
  seed("image_folder", "folder-two-sizes", Bytes(1, '\x0e') + chunk16(rgb444) + rgb420);       // size mismatch
}

// ---- safetensors ------------------------------------------------------------------------------------------

// State dicts of the harness's models (tests/fuzz/fuzz_safetensors.cpp), and a file with metadata, a
// zero-size tensor and another dtype.
void safetensors_seeds() {
  using Net = ist::ResNet<ist::Stem<1, 4>, ist::Stage<4, 8, 2, 2, ist::Partitioned>, ist::Head<8, 3, ist::NoFinalBn>>;
  using Mlp = ist::Mlp<ist::Input<6>, ist::Dense<5>, ist::Dense<3>>;
  const fs::path tmp = fs::temp_directory_path() / ("ist_make_corpus_" + std::to_string(::getpid()) + ".safetensors");
  auto bytes_of = [&](auto&& write) {
    write(tmp.string());
    std::ifstream f(tmp, std::ios::binary);
    Bytes b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    fs::remove(tmp);
    return b;
  };
  auto values = [](std::size_t n) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = float(i % 17) * 0.25f - 2.f;
    return v;
  };
  const Bytes net = bytes_of([&](const std::string& p) { ist::save_weights<Net>(p, values(Net::num_params)); });
  const Bytes mlp = bytes_of([&](const std::string& p) { ist::save_weights<Mlp>(p, values(Mlp::num_params)); });
  const std::vector<float> a = values(6);
  const Bytes misc = bytes_of([&](const std::string& p) {
    ist::write_safetensors(p, std::vector<ist::SafetensorsTensorView>{{"a", {2, 3}, a}, {"empty", {0}, {}}},
                           {{"format", "pt"}, {"note", "x"}});
  });
  seed("safetensors", "read-resnet", Bytes(1, '\x00') + net);
  seed("safetensors", "read-misc", Bytes(1, '\x00') + misc);
  seed("safetensors", "load-resnet", Bytes(1, '\x01') + net);
  seed("safetensors", "load-mlp", Bytes(1, '\x03') + mlp);
}

// ISTGRAPH files (fuzz_csr_graph): a flags byte, then the file. Written through the library's writer and
// generator into a scratch file, then read back as bytes.
Bytes file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void csr_graph_seeds() {
  const fs::path tmp = fs::temp_directory_path() / ("ist_make_corpus_" + std::to_string(::getpid()) + ".istg");
  // A triangle 0-1-2 and an edge 3-4; node 3 unlabeled and in no split.
  const std::vector<std::int64_t> offsets{0, 2, 4, 6, 7, 8};
  const std::vector<std::int32_t> columns{1, 2, 0, 2, 0, 1, 4, 3};
  const std::vector<float> features{0.5f, -1.f, 2.f, 0.25f, 0.f, 7.25f, -0.1f, 0.2f, 0.3f, 1e-3f, 1e3f, -1e-3f,
                                    4.f, 5.f, 6.f};
  const std::vector<std::int32_t> labels{0, 1, 2, -1, 0};
  const std::vector<ist::NodeSplit> splits{ist::NodeSplit::train, ist::NodeSplit::val, ist::NodeSplit::test,
                                           ist::NodeSplit::none, ist::NodeSplit::train};
  const ist::CsrGraphArrays small{offsets, columns, features, labels, splits, 3, 3};
  ist::write_csr_graph(tmp.string(), small);
  const Bytes small_f32 = file_bytes(tmp);
  ist::write_csr_graph(tmp.string(), small, ist::FeatureDtype::bfloat16);
  const Bytes small_bf16 = file_bytes(tmp);
  seed("csr_graph", "small-f32", Bytes(1, '\x00') + small_f32);
  seed("csr_graph", "small-bf16", Bytes(1, '\x00') + small_bf16);
  seed("csr_graph", "small-f32-fix-checksums", Bytes(1, '\x01') + small_f32);
  seed("csr_graph", "small-bf16-no-checks", Bytes(1, '\x07') + small_bf16);
  // Three isolated nodes: no edges, an empty column section.
  const std::vector<std::int64_t> no_offsets{0, 0, 0, 0};
  const std::vector<float> no_features{1.f, 2.f, 3.f};
  const std::vector<std::int32_t> no_labels{0, 1, -1};
  const std::vector<ist::NodeSplit> no_splits{ist::NodeSplit::train, ist::NodeSplit::test, ist::NodeSplit::none};
  ist::write_csr_graph(tmp.string(), {no_offsets, {}, no_features, no_labels, no_splits, 1, 2});
  seed("csr_graph", "no-edges-fix-checksums", Bytes(1, '\x01') + file_bytes(tmp));
  // Small graphs of the generator (degree-corrected SBM).
  ist::SyntheticGraphConfig cfg;
  cfg.num_nodes = 40;
  cfg.num_edges = 80;
  cfg.num_features = 4;
  cfg.num_classes = 3;
  cfg.seed = 1;
  ist::generate_synthetic_graph(tmp.string(), cfg);
  seed("csr_graph", "synthetic-f32-fix-checksums", Bytes(1, '\x01') + file_bytes(tmp));
  cfg.feature_dtype = ist::FeatureDtype::bfloat16;
  cfg.num_nodes = 24;
  cfg.num_edges = 40;
  ist::generate_synthetic_graph(tmp.string(), cfg);
  seed("csr_graph", "synthetic-bf16", Bytes(1, '\x00') + file_bytes(tmp));
  fs::remove(tmp);
  // Partition files (flags & 8) of the small graph in 2 parts, under its own key and the header's.
  const std::vector<int> offsets32(offsets.begin(), offsets.end());
  const std::vector<int> columns32(columns.begin(), columns.end());
  const ist::PartitionKey key{2, 5, 8, ist::graph_structure_xxh64(offsets32, columns32), 0};
  const fs::path part_tmp = fs::temp_directory_path() / ("ist_make_corpus_" + std::to_string(::getpid()) + ".istpart");
  ist::write_partition_file(part_tmp.string(), ist::metis_partition(offsets32, columns32, 2, 0), key);
  const Bytes part = file_bytes(part_tmp);
  fs::remove(part_tmp);
  seed("csr_graph", "partition", Bytes(1, '\x08') + part);
  seed("csr_graph", "partition-fix-checksums", Bytes(1, '\x09') + part);
  seed("csr_graph", "partition-own-key-fix-checksums", Bytes(1, '\x0b') + part);
}

}  // namespace

// fuzz_codec: codec byte, fraction byte, u16 n, payload (see fuzz_codec.cpp). Valid payloads of each codec,
// values and updates, for a few slice lengths.
void codec_seeds() {
  const auto as_string = [](const ist::codec::Bytes& b) {
    return Bytes(reinterpret_cast<const char*>(b.data()), b.size());
  };
  for (std::size_t n : {0u, 1u, 7u, 40u, 300u}) {
    std::vector<float> v(n), residual(n, 0.f);
    for (std::size_t i = 0; i < n; ++i) v[i] = float((int(i * 37 % 23) - 11)) * 0.01f;
    // TopK twice: at (1 + 25) / 256 (a bitmap of indices, int8 values down) and at (1 + 0) / 256 (u32
    // indices, float32 values down).
    const char* names[] = {"float32", "bf16", "fp16", "topk", "topk-small-f32-down"};
    for (int which = 0; which < 5; ++which) {
      const int small = which == 4 ? 1 : 0;
      ist::codec::AnyCodec c =
          which < 3 ? ist::codec::parse_codec(names[which])
                    : ist::codec::AnyCodec(ist::codec::TopK{small ? 1.0 / 256.0 : 26.0 / 256.0, true,
                                                            small ? ist::codec::Downlink::Float32
                                                                  : ist::codec::Downlink::Int8});
      for (int update = 0; update < 2; ++update) {
        ist::codec::Bytes b;
        if (update)
          c.encode_update(v, std::span<float>(residual), b);
        else
          c.encode_values(v, b);
        Bytes head;
        head += char(std::min(which, 3) | (update ? 4 : 0) | (small ? 8 : 0));
        head += char(small ? 0 : 25);  // TopK: fraction (1 + byte) / 256
        le16(head, n);
        seed("codec", std::string(names[which]) + (update ? "-update-" : "-values-") + std::to_string(n),
             head + as_string(b));
      }
    }
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_corpus OUT_DIR [PLANETOID_CORA_DIR]\n");
    return 2;
  }
  out_root = argv[1];
  idx_seeds();
  cifar_seeds();
  planetoid_seeds(argc > 2 ? argv[2] : nullptr);
  checkpoint_seeds();
  image_folder_seeds();
  safetensors_seeds();
  codec_seeds();
  csr_graph_seeds();
  return 0;
}
