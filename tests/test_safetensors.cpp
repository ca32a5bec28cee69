// safetensors (ist/io/safetensors.hpp) and PyTorch state dicts (ist/io/state_dict.hpp): exact round trips,
// the name mapping, every kind of bad file rejected with an error naming the file and the field (crafted
// headers, then random damage), and the PyTorch check: tests/torch/check_state_dict.py loads exported
// ResNets and an MLP into the equivalent torch modules and compares logits (skipped without python3-torch).
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ist/backend/eigen/softmax_cross_entropy.hpp"
#include "ist/core/rng.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/io/safetensors.hpp"
#include "ist/io/state_dict.hpp"
#include "ist/model/gcn.hpp"
#include "ist/model/init.hpp"
#include "ist/model/mlp.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/model/presets.hpp"
#include "ist/networks/mlp_network.hpp"
#include "ist/networks/resnet_network.hpp"
#include "file_util.hpp"
#include "skip.hpp"

namespace test_safetensors {

using namespace ist;
namespace fs = std::filesystem;

namespace {

doctest::Contains contains(const std::string& s) { return doctest::Contains(s.c_str()); }

struct TempDir : ist::test::TempDir {
  TempDir() : ist::test::TempDir("safetensors_test") {}
};

using test::read_all;
using test::write_all;

// A safetensors file from a header text and a byte buffer.
std::string file_of(const std::string& header, const std::string& buffer) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += char((std::uint64_t(header.size()) >> (8 * i)) & 0xff);
  return out + header + buffer;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size_bytes()) == 0);
}

// Parameters with every tensor non-trivial (norm scales and shifts, biases), so a wrong mapping shows.
template <class Net>
std::vector<float> random_params(std::uint64_t seed) {
  std::vector<float> p(Net::num_params);
  Rng rng(seed);
  for (float& v : p) v = float(0.3 * rng.normal());
  for (const TensorDesc& d : Net::tensors)
    if (d.role == TensorRole::BnWeight)
      for (std::size_t i = 0; i < d.size; ++i) p[d.offset + i] = float(0.5 + rng.uniform());
  return p;
}

using SmallResNet = ResNet<Stem<3, 8>, Stage<8, 8, 2, 1>, Stage<8, 16, 3, 2, Partitioned>, Head<16, 5>>;
using WiderResNet = ResNet<Stem<3, 16>, Stage<16, 16, 2, 1>, Stage<16, 32, 3, 2, Partitioned>, Head<32, 5>>;
using SmallResNetNoBn = ResNet<Stem<1, 8>, Stage<8, 16, 2, 2, Partitioned>, Head<16, 4, NoFinalBn>>;
using SmallMlp = Mlp<Input<12>, Dense<10>, Dense<7>, Dense<4>>;
using SmallGcn = Gcn<Input<9>, GraphConv<6>, GraphConv<3>>;

}  // namespace

TEST_CASE("safetensors: write then read gives back names, shapes, metadata and every value bit for bit") {
  TempDir t;
  const std::vector<float> a = {1.f, -2.5f, 3.25f, 1e-30f, -0.f, 7.f};
  const std::vector<float> b = {std::nanf(""), INFINITY};
  const std::vector<float> scalar = {42.f};
  const std::vector<SafetensorsTensorView> tensors = {
      {"a", {2, 3}, a}, {"empty", {0, 4}, {}}, {"b.x", {2}, b}, {"s", {}, scalar}};
  write_safetensors(t.path("x.safetensors"), tensors, {{"format", "pt"}, {"note", "h\u00e9llo"}});
  const std::string bytes = read_all(t.path("x.safetensors"));
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK((8 + n) % 8 == 0);  // the data starts 8-byte aligned
  CHECK(bytes.size() == 8 + n + 4 * (6 + 2 + 1));

  const SafetensorsFile f = read_safetensors(t.path("x.safetensors"));
  CHECK(f.names() == std::vector<std::string>{"a", "empty", "b.x", "s"});
  CHECK(f.metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"note", "h\u00e9llo"}});
  CHECK(f.entry("a").dtype == "F32");
  CHECK(f.entry("a").shape == std::vector<std::int64_t>{2, 3});
  CHECK(f.entry("empty").shape == std::vector<std::int64_t>{0, 4});
  CHECK(f.entry("s").shape.empty());
  CHECK(same_bits(f.floats("a"), a));
  CHECK(same_bits(f.floats("b.x"), b));
  CHECK(same_bits(f.floats("s"), scalar));
  CHECK(f.floats("empty").empty());
  CHECK_THROWS_WITH_AS(f.floats("nope"), contains(t.path("x.safetensors") + ": no tensor named \"nope\""), Error);

  CHECK_THROWS_WITH_AS(write_safetensors(t.path("y.safetensors"), std::vector<SafetensorsTensorView>{{"a", {4}, a}}),
                       contains("tensor \"a\": shape [4] needs 4 values, found 6"), Error);
  CHECK_THROWS_WITH_AS(
      write_safetensors(t.path("y.safetensors"), std::vector<SafetensorsTensorView>{{"a", {6}, a}, {"a", {6}, a}}),
      contains("tensor \"a\" is given twice"), Error);
  CHECK_FALSE(fs::exists(t.path("y.safetensors")));
}

TEST_CASE("safetensors: state-dict names follow PyTorch's modules") {
  const auto resnet = state_dict_names<PreActResNet20<3, 10>>();
  const ModelInfo info = model_info<PreActResNet20<3, 10>>();
  REQUIRE(resnet.size() == info.tensors.size());
  CHECK(resnet.front() == "stem.weight");
  CHECK(resnet[1] == "blocks.0.bn1.weight");
  CHECK(resnet[3] == "blocks.0.conv1.weight");
  CHECK(resnet.back() == "fc.bias");
  for (std::size_t i = 0; i < resnet.size(); ++i) {
    CAPTURE(info.tensors[i].name);
    // Stage 2's first block (blocks.3 among the basic blocks) changes shape: its shortcut is blocks.3.proj.
    if (info.tensors[i].name == "stage2.block1.shortcut.weight") CHECK(resnet[i] == "blocks.3.proj.weight");
    if (info.tensors[i].name == "stage3.block3.conv2.weight") CHECK(resnet[i] == "blocks.8.conv2.weight");
    if (info.tensors[i].name == "head.bn.weight") CHECK(resnet[i] == "bn.weight");
  }
  CHECK(state_dict_names<SmallResNetNoBn>() ==
        std::vector<std::string>{"stem.weight",          "blocks.0.bn1.weight",  "blocks.0.bn1.bias",
                                 "blocks.0.conv1.weight", "blocks.0.bn2.weight", "blocks.0.bn2.bias",
                                 "blocks.0.conv2.weight", "blocks.0.proj.weight", "blocks.1.bn1.weight",
                                 "blocks.1.bn1.bias",    "blocks.1.conv1.weight", "blocks.1.bn2.weight",
                                 "blocks.1.bn2.bias",    "blocks.1.conv2.weight", "fc.weight",
                                 "fc.bias"});
  CHECK(state_dict_names<SmallMlp>() == std::vector<std::string>{"0.weight", "1.weight", "1.bias", "3.weight",
                                                                 "4.weight", "4.bias", "6.weight", "6.bias"});
  CHECK(state_dict_names<SmallGcn>() == std::vector<std::string>{"layer1.weight", "output.weight"});
}

TEST_CASE("safetensors: export then import gives the same weights bit for bit (ResNets, MLP, GCN)") {
  TempDir t;
  auto round_trip = [&]<class Net>() {
    const std::vector<float> p = random_params<Net>(7);
    const std::string path = t.path("w.safetensors");
    save_weights<Net>(path, p, {{"ist.preset", "test"}});
    CHECK(same_bits(load_weights<Net>(path), p));
    const SafetensorsFile f = read_safetensors(path);
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.metadata().at("ist.preset") == "test");
    CHECK(f.names() == state_dict_names<Net>());  // in the model's order
  };
  round_trip.template operator()<SmallResNet>();
  round_trip.template operator()<SmallResNetNoBn>();
  round_trip.template operator()<PreActResNet26Fashion<1, 10>>();
  round_trip.template operator()<SmallMlp>();
  round_trip.template operator()<SmallGcn>();
}

TEST_CASE("safetensors: load_weights rejects another model's file, naming the file and the tensor") {
  TempDir t;
  const std::string path = t.path("w.safetensors");
  const std::vector<float> p = random_params<SmallResNet>(1);
  save_weights<SmallResNet>(path, p);
  CHECK_THROWS_WITH_AS(load_weights<SmallResNetNoBn>(path),
                       contains("ist::load_weights: " + path + ": the file has a tensor \"blocks.2.bn1.weight\" that "
                                "model resnet does not have"),
                       Error);
  CHECK_THROWS_WITH_AS(load_weights<SmallMlp>(path), contains(path + ": the file has a tensor"), Error);
  CHECK_THROWS_WITH_AS(load_weights<WiderResNet>(path),
                       contains(path + ": tensor \"stem.weight\": expected shape [16, 3, 3, 3], found [8, 3, 3, 3]"),
                       Error);

  // One tensor missing; one of another dtype; PyTorch's batch-norm buffers, which are ignored.
  const ModelInfo info = weights_model_info<SmallResNet>();
  const std::vector<std::string> names = state_dict_names<SmallResNet>();
  std::vector<SafetensorsTensorView> views;
  for (std::size_t i = 0; i + 1 < info.tensors.size(); ++i)
    views.push_back({names[i], detail::torch_shape(info.tensors[i]),
                     std::span<const float>(p).subspan(info.tensors[i].offset, info.tensors[i].size)});
  write_safetensors(path, views);
  CHECK_THROWS_WITH_AS(load_weights<SmallResNet>(path),
                       contains(path + ": tensor \"fc.bias\" of model resnet (ist: head.fc.bias) is missing"), Error);

  const std::vector<float> running(8, 1.f), zero(1, 0.f);
  views.push_back({"fc.bias", {5}, std::span<const float>(p).subspan(info.tensors.back().offset, 5)});
  views.push_back({"blocks.0.bn1.running_mean", {8}, running});
  views.push_back({"blocks.0.bn1.running_var", {8}, running});
  views.push_back({"blocks.0.bn1.num_batches_tracked", {}, zero});
  write_safetensors(path, views);
  CHECK(same_bits(load_weights<SmallResNet>(path), p));
  views.push_back({"blocks.0.conv1.running_mean", {8}, running});  // conv1 is no norm
  write_safetensors(path, views);
  CHECK_THROWS_WITH_AS(load_weights<SmallResNet>(path), contains("\"blocks.0.conv1.running_mean\" that model"), Error);

  // A float64 tensor (hand-made file).
  write_all(path, file_of(R"({"fc.bias":{"dtype":"F64","shape":[5],"data_offsets":[0,40]}})", std::string(40, '\0')));
  CHECK_THROWS_WITH_AS(read_safetensors(path).floats("fc.bias"),
                       contains(path + ": tensor \"fc.bias\": expected dtype F32, found F64"), Error);
  CHECK_THROWS_WITH_AS(save_weights<SmallResNet>(path, std::vector<float>(3)),
                       contains("ist::save_weights: " + path + ": expected " + std::to_string(SmallResNet::num_params) +
                                " parameters"),
                       Error);
}

TEST_CASE("safetensors: crafted bad files are rejected, naming the file and the field") {
  TempDir t;
  const std::string path = t.path("bad.safetensors");
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string eight(8, '\0');
  struct Case {
    std::string file, message;
  };
  const std::vector<Case> cases = {
      {"", "expected at least 8 bytes (the header length), found a file of 0 bytes"},
      {std::string("\x05\0\0\0\0\0\0\0{}", 10), "the header length (the first 8 bytes, little-endian) is 5, expected 2 to 2"},
      {std::string("\xff\xff\xff\xff\xff\xff\xff\xff{}", 10), "the header length (the first 8 bytes, little-endian) is 18446744073709551615"},
      {file_of("[1, 2]", ""), "expected the header to start with '{', found byte 91"},
      {file_of("{\"w\": 1,", ""), "invalid JSON in the header at line 1, column 9"},
      {file_of("{\"a\": \"\xff\"}", ""), "invalid JSON in the header at line 1"},
      {file_of("{\"a\": 1e999}", ""), "invalid JSON in the header: number overflow parsing '1e999'"},
      {file_of("{" + ok_entry + "," + ok_entry + "}", eight), "the key \"w\" appears twice in one object"},
      {file_of(R"({"w":[1]})", ""), "tensor \"w\": expected an object {dtype, shape, data_offsets}, found an array"},
      {file_of(R"({"w":{"dtype":"F32","shape":[2]}})", eight), "tensor \"w\": missing field \"data_offsets\""},
      {file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", eight), "tensor \"w\": unexpected field \"x\""},
      {file_of(R"({"w":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", eight), "tensor \"w\": unknown dtype \"F31\""},
      {file_of(R"({"w":{"dtype":3,"shape":[2],"data_offsets":[0,8]}})", eight), "tensor \"w\": dtype: expected a string, found a number"},
      {file_of(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight), "tensor \"w\": shape[0]: expected an integer >= 0, found -2"},
      {file_of(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", eight), "tensor \"w\": shape[0]: expected an integer >= 0, found 2.0"},
      {file_of(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", eight), "tensor \"w\": shape: expected an array"},
      {file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", eight), "tensor \"w\": data_offsets: expected [begin, end], found 1 values"},
      {file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", eight), "tensor \"w\": data_offsets [8, 0]: begin is after end"},
      {file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", eight), "tensor \"w\": data_offsets [0, 16] lie outside the byte buffer of 8 bytes"},
      {file_of(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight), "tensor \"w\": data_offsets [0, 8] hold 8 bytes, but dtype F32 and shape [3] need 12"},
      {file_of(R"({"w":{"dtype":"F32","shape":[4611686018427387903, 4611686018427387903],"data_offsets":[0,8]}})", eight), "need more than 2^62"},
      {file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight + "xx"), "the tensors end at byte 8 of the byte buffer, but it has 10 bytes (trailing data)"},
      {file_of(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight), "tensor \"w\": data_offsets [4, 8] leave a gap after the start of the buffer"},
      {file_of(R"({"v":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight),
       "tensor \"w\": data_offsets [4, 8] overlap tensor \"v\" (which ends at 8)"},
      {file_of(R"({"__metadata__":{"a":1}})", ""), "__metadata__: \"a\": expected a string, found a number"},
      {file_of(R"({"__metadata__":[]})", ""), "__metadata__: expected an object of strings, found an array"},
      {file_of(R"({"":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})", ""), "a tensor has an empty name"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    write_all(path, c.file);
    CHECK_THROWS_WITH_AS(read_safetensors(path), contains("ist::read_safetensors: " + path + ": " ), Error);
    CHECK_THROWS_WITH_AS(read_safetensors(path), contains(c.message), Error);
  }
  CHECK_THROWS_WITH_AS(read_safetensors(t.path("missing.safetensors")),
                       contains(t.path("missing.safetensors") + ": cannot open for reading"), Error);
  // What is allowed: header padding with spaces, an empty file of tensors, zero-size tensors anywhere.
  write_all(path, file_of(R"({"z":{"dtype":"I64","shape":[0],"data_offsets":[0,0]},)" + ok_entry + "}    ", eight));
  CHECK(read_safetensors(path).names() == std::vector<std::string>{"z", "w"});
  write_all(path, file_of("{}", ""));
  CHECK(read_safetensors(path).names().empty());
}

// What a fuzzer would do, in the unit tests: random damage to valid files (bytes flipped, cut, inserted,
// the header length changed) must give either a valid file or an ist::Error naming the file, never another
// exception or a crash (the ASan + UBSan build runs this too). tests/fuzz/fuzz_safetensors does it with
// coverage guidance.
TEST_CASE("safetensors: randomly damaged files give a valid file or an ist::Error naming the file") {
  TempDir t;
  const std::string path = t.path("w.safetensors");
  save_weights<SmallResNetNoBn>(path, random_params<SmallResNetNoBn>(3));
  const std::string good = read_all(path);
  std::uint64_t header = 0;
  std::memcpy(&header, good.data(), 8);
  Rng rng(2024);
  int errors = 0, loaded = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    const int kind = int(rng.below(5));
    const int edits = 1 + int(rng.below(4));
    for (int e = 0; e < edits; ++e) {
      // Mostly in the header, where the structure is.
      const std::size_t limit = rng.below(4) == 0 ? bad.size() : std::min<std::size_t>(bad.size(), 8 + header);
      const std::size_t at = limit > 0 ? std::size_t(rng.below(limit)) : 0;
      if (kind == 0 && at < bad.size()) bad[at] = char(rng.below(256));
      if (kind == 1 && at < bad.size()) bad[at] = "{}[],:\"0123456789-e. "[rng.below(21)];
      if (kind == 2) bad.resize(at);
      if (kind == 3) bad.insert(at, 1 + rng.below(8), char(rng.below(256)));
      if (kind == 4 && bad.size() >= 8) bad[rng.below(8)] = char(rng.below(256));
    }
    write_all(path, bad);
    try {
      const SafetensorsFile f = read_safetensors(path);
      for (const std::string& name : f.names()) (void)f.bytes(name);
      (void)load_weights<SmallResNetNoBn>(path);
      ++loaded;
    } catch (const Error& e) {
      const std::string m = e.what();
      if (m.rfind("ist::", 0) != 0 || m.find(path) == std::string::npos) FAIL_CHECK("message: " << m);
      ++errors;
    }
  }
  MESSAGE("damaged files: " << errors << " rejected, " << loaded << " loaded (damage to values only)");
  CHECK(errors > 2500);
}

TEST_CASE("safetensors: the evaluation scale names the weights to multiply") {
  const ModelInfo resnet = weights_model_info<SmallResNet>();
  const std::vector<double> s = LayerwiseRandom{}.evaluation_scale(resnet, 4);
  // Stage 2 is partitioned: its blocks 2 and 3 (basic blocks 3 and 4) are decomposable.
  CHECK(evaluation_scale_metadata<SmallResNet>(s) == R"({"blocks.3.conv2.weight":0.25,"blocks.4.conv2.weight":0.25})");
  const ModelInfo mlp = weights_model_info<SmallMlp>();
  CHECK(evaluation_scale_metadata<SmallMlp>(WidthwiseRandom{}.evaluation_scale(mlp, 2)) ==
        R"({"3.weight":0.5,"6.weight":0.5})");
  CHECK_THROWS_WITH_AS(evaluation_scale_metadata<SmallMlp>(std::vector<double>(2, 1.0)),
                       contains("expected 3 scales (one per block), found 2"), Error);
}

namespace {

// Writes, for the PyTorch check, the weights of Net and one batch through ist's network: x, the logits, and
// (ResNet) the logits with a ResIST evaluation scale. `arch` says which torch module to build.
template <class Net>
void export_case(const std::string& dir, const std::string& name, const std::map<std::string, std::string>& arch,
                 int batch, int height, int width) {
  const std::vector<float> params = random_params<Net>(11);
  eigen::CpuContext ctx(1);
  std::size_t in = 0;  // values per sample
  if constexpr (is_resnet<Net>::value) in = std::size_t(Net::in_channels) * height * width;
  else in = std::size_t(Net::in_features);
  std::vector<float> x(std::size_t(batch) * in);
  Rng rng(5);
  for (float& v : x) v = float(rng.normal());
  std::vector<float> logits, scaled, labels;
  std::vector<std::vector<float>> grads;  // per tensor, in ModelInfo order (ResNets)
  std::map<std::string, std::string> meta = arch;
  if constexpr (is_resnet<Net>::value) {
    ResNetNetwork<Net> net(ctx);
    net.configure(batch, height, width);
    const ParamLayout layout = ParamLayout::full<Net>();
    const float* y = net.forward(params.data(), layout, x.data());
    logits.assign(y, y + batch * Net::num_classes);
    const std::vector<double> s = LayerwiseRandom{}.evaluation_scale(weights_model_info<Net>(), 4);
    const std::vector<float> sf(s.begin(), s.end());
    ForwardOptions<float> opt;
    opt.residual_scale = sf;
    y = net.forward(params.data(), layout, x.data(), opt);
    scaled.assign(y, y + batch * Net::num_classes);
    meta["ist.evaluation_scale"] = evaluation_scale_metadata<Net>(s);
    // The gradient of the mean cross-entropy for random labels, computed in double (no float rounding to
    // flip a ReLU), each tensor's stored as "grad.<its state-dict name>" for PyTorch to compare in float64.
    std::vector<std::int32_t> targets(std::size_t(batch), 0);
    for (auto& label : targets) {
      label = std::int32_t(rng.below(std::uint64_t(Net::num_classes)));
      labels.push_back(float(label));
    }
    ResNetNetwork<Net, double> dnet(ctx);
    dnet.configure(batch, height, width);
    const std::vector<double> pd(params.begin(), params.end()), xd(x.begin(), x.end());
    std::vector<double> gd(pd.size(), 0.0);
    eigen::softmax_cross_entropy(batch, Net::num_classes, dnet.forward(pd.data(), layout, xd.data()), targets.data(),
                                 dnet.dlogits());
    dnet.backward(pd.data(), gd.data(), layout);
    for (const TensorInfo& t : weights_model_info<Net>().tensors)
      grads.emplace_back(gd.begin() + std::ptrdiff_t(t.offset), gd.begin() + std::ptrdiff_t(t.offset + t.size));
  } else {
    MlpNetwork<Net> net(ctx);
    net.configure(batch);
    const float* y = net.forward(params.data(), ParamLayout::full<Net>(), x.data());
    logits.assign(y, y + batch * Net::num_classes);
  }
  save_weights<Net>(dir + "/" + name + ".safetensors", params, meta);
  std::vector<SafetensorsTensorView> io = {{"x", {batch, std::int64_t(in)}, x},
                                           {"logits", {batch, Net::num_classes}, logits}};
  if (!scaled.empty()) io.push_back({"logits_scaled", {batch, Net::num_classes}, scaled});
  if (!labels.empty()) io.push_back({"labels", {batch}, labels});
  const std::vector<std::string> names = state_dict_names<Net>();
  const ModelInfo info = weights_model_info<Net>();
  for (std::size_t i = 0; i < grads.size(); ++i)
    io.push_back({"grad." + names[i], std::vector<std::int64_t>(info.tensors[i].shape.begin(), info.tensors[i].shape.end()),
                  grads[i]});
  if constexpr (is_resnet<Net>::value) io[0].shape = {batch, Net::in_channels, height, width};
  write_safetensors(dir + "/" + name + ".io.safetensors", io);
}

}  // namespace

TEST_CASE("safetensors: PyTorch loads exported ResNets and an MLP and computes the same logits and gradients") {
  const char* env_python = std::getenv("IST_PYTHON");
  const std::string python = env_python ? env_python : "/usr/bin/python3";
  const std::string script = std::string(IST_SOURCE_DIR) + "/tests/torch/check_state_dict.py";
  if (std::system((python + " -c 'import torch' > /dev/null 2>&1").c_str()) != 0)
    IST_SKIP_TEST(python + " cannot import torch (Debian: apt-get install python3-torch; or set IST_PYTHON)");
  TempDir t;
  const std::string dir = t.dir.string();
  // The architectures, as bench/compare_pytorch.py's PreActResNet takes them: (out, stride, blocks, partitioned).
  export_case<SmallResNet>(dir, "resnet", {{"module", "PreActResNet"}, {"stages", "[[8,1,2,false],[16,2,3,true]]"},
                                           {"in_channels", "3"}, {"classes", "5"}, {"stem", "8"}, {"final_bn", "true"}},
                           8, 12, 12);
  export_case<PreActResNet26Resist<3, 10>>(
      dir, "resnet26-resist",
      {{"module", "PreActResNet"}, {"stages", "[[16,1,1,false],[32,2,1,false],[64,2,9,true],[128,2,1,false]]"},
       {"in_channels", "3"}, {"classes", "10"}, {"stem", "16"}, {"final_bn", "false"}},
      8, 32, 32);
  export_case<Mlp<Input<784>, Dense<64>, Dense<32>, Dense<10>>>(
      dir, "mlp", {{"module", "Sequential"}, {"widths", "[784,64,32,10]"}}, 16, 1, 1);
  const std::string command = python + " " + script + " " + dir + " resnet resnet26-resist mlp 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  const int status = ::pclose(pipe);
  MESSAGE(out);
  REQUIRE_MESSAGE(WIFEXITED(status), command);
  CHECK_MESSAGE(WEXITSTATUS(status) == 0, command, " exited with ", WEXITSTATUS(status));
  CHECK(out.find("resnet: max relative error") != std::string::npos);
  CHECK(out.find("resnet26-resist gradients in float64") != std::string::npos);
  CHECK(out.find("mlp: max relative error") != std::string::npos);
}

}  // namespace test_safetensors
