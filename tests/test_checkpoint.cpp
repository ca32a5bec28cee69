// Checkpoints: exact round trip, and every kind of bad file rejected with a message naming it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "ist/model/presets.hpp"
#include "ist/train/checkpoint.hpp"
#include "ist/train/model_traits.hpp"

using namespace ist;

namespace {
using Net = PreActResNet20<1, 10>;

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("ist_ckpt_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_all(const std::string& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

TrainingState sample_state() {
  TrainingState s;
  s.rounds_done = 7;
  s.seed = 42;
  s.model = "resnet20";
  s.config = "S=4 L=50";
  s.params.resize(Net::num_params);
  ModelTraits<Net>::init(std::span<float>(s.params), 3);
  s.optimizer_state.push_back({"exp_avg", std::vector<float>(Net::num_params, 0.25f)});
  s.optimizer_state.push_back({"exp_avg_sq", std::vector<float>(Net::num_params, 0.5f)});
  return s;
}
}  // namespace

TEST_CASE("checkpoint: save then load gives back every value bit for bit") {
  const auto info = model_info<Net>("resnet20");
  const std::string path = temp_path("ok.ckpt");
  const TrainingState s = sample_state();
  save_checkpoint(path, info, s);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));  // temp file renamed away
  const TrainingState r = load_checkpoint(path, info);
  CHECK(r.rounds_done == 7);
  CHECK(r.seed == 42);
  CHECK(r.model == "resnet20");
  CHECK(r.config == "S=4 L=50");
  CHECK(std::memcmp(r.params.data(), s.params.data(), s.params.size() * sizeof(float)) == 0);
  CHECK(r.optimizer_state == s.optimizer_state);
}

TEST_CASE("checkpoint: bad files are rejected with the file named and the problem said") {
  const auto info = model_info<Net>("resnet20");
  const std::string good = temp_path("good.ckpt");
  save_checkpoint(good, info, sample_state());
  const std::string bytes = read_all(good);

  CHECK_THROWS_WITH_AS(load_checkpoint(temp_path("missing.ckpt"), info),
                       doctest::Contains("missing.ckpt: cannot open the checkpoint"), Error);

  const std::string truncated = temp_path("truncated.ckpt");
  write_all(truncated, bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_WITH_AS(load_checkpoint(truncated, info), doctest::Contains("truncated.ckpt: expected"), Error);
  write_all(truncated, bytes.substr(0, 10));
  CHECK_THROWS_WITH_AS(load_checkpoint(truncated, info), doctest::Contains("(truncated)"), Error);

  const std::string corrupt = temp_path("corrupt.ckpt");
  std::string flipped = bytes;
  flipped[flipped.size() - 100] ^= 0x5a;
  write_all(corrupt, flipped);
  CHECK_THROWS_WITH_AS(load_checkpoint(corrupt, info), doctest::Contains("corrupt.ckpt: checksum mismatch"), Error);

  const std::string magic = temp_path("magic.ckpt");
  std::string other = bytes;
  other[0] = 'X';
  write_all(magic, other);
  CHECK_THROWS_WITH_AS(load_checkpoint(magic, info), doctest::Contains("not an ist checkpoint"), Error);

  const std::string version = temp_path("version.ckpt");
  other = bytes;
  other[8] = 9;
  write_all(version, other);
  CHECK_THROWS_WITH_AS(load_checkpoint(version, info), doctest::Contains("expected version 1 or 2, found 9"), Error);

  // A checkpoint of another model names the first tensor that differs.
  const auto info32 = model_info<PreActResNet32<1, 10>>("resnet32");
  CHECK_THROWS_WITH_AS(load_checkpoint(good, info32), doctest::Contains("the checkpoint is of another model: tensor #"),
                       Error);
  const auto info3 = model_info<PreActResNet20<3, 10>>("resnet20-rgb");
  CHECK_THROWS_WITH_AS(load_checkpoint(good, info3),
                       doctest::Contains("tensor #0 is stem.conv.weight [16, 1, 3, 3] in the file, stem.conv.weight "
                                         "[16, 3, 3, 3] in model resnet20-rgb"),
                       Error);
  CHECK_THROWS_WITH_AS(save_checkpoint(temp_path("x.ckpt"), info3, sample_state()),
                       doctest::Contains("expected 272282 parameters for model resnet20-rgb, found 271994"), Error);
  std::filesystem::remove_all(std::filesystem::path(good).parent_path());
}

// Found by tests/fuzz/fuzz_checkpoint (UBSan): loading a checkpoint without optimizer state passed the null
// data() of the empty vector to memcpy. The ASan + UBSan build (scripts/run-sanitizers.sh) runs this.
TEST_CASE("checkpoint: a checkpoint without optimizer state loads with no state buffers") {
  const auto info = model_info<Net>("resnet20");
  const std::string path = temp_path("no_momentum.ckpt");
  TrainingState s = sample_state();
  s.optimizer_state.clear();
  save_checkpoint(path, info, s);
  const TrainingState r = load_checkpoint(path, info);
  CHECK(r.optimizer_state.empty());
  CHECK(r.params == s.params);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}
