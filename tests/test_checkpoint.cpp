// Checkpoints: exact round trip, and every kind of bad file rejected with a message naming it.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ist/model/presets.hpp"
#include "ist/train/checkpoint.hpp"
#include "ist/train/model_traits.hpp"
#include "ist/train/trainer_config.hpp"
#include "file_util.hpp"

namespace test_checkpoint {

using namespace ist;

namespace {
using Net = PreActResNet20<1, 10>;

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("ist_ckpt_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

using test::read_all;
using test::write_all;

// The checkpoint file `bytes` with its version set to `version` and its config string replaced by `config`,
// the payload size and checksum made valid again: what an older ist (or a forger) would have written. Below
// version 4 the (empty) pace history that ends `bytes` is dropped: u32 rounds, u32 workers, u64 count, all 0.
std::string with_config(const std::string& bytes, std::uint32_t version, const std::string& config) {
  const std::size_t header = detail::kCheckpointHeader;
  std::uint32_t model_len = 0, config_len = 0;
  std::memcpy(&model_len, bytes.data() + header + 16, 4);
  const std::size_t config_at = header + 16 + 4 + model_len;
  std::memcpy(&config_len, bytes.data() + config_at, 4);
  std::string payload = bytes.substr(header, config_at - header);
  const auto len = std::uint32_t(config.size());
  payload.append(reinterpret_cast<const char*>(&len), 4);
  payload += config;
  payload += bytes.substr(config_at + 4 + config_len);
  if (version < 4) {
    REQUIRE(payload.substr(payload.size() - 16) == std::string(16, '\0'));
    payload.resize(payload.size() - 16);
  }
  std::string out = bytes.substr(0, 8);
  out.append(reinterpret_cast<const char*>(&version), 4);
  out.append(4, '\0');
  const std::uint64_t size = payload.size(), sum = XXH64(payload.data(), payload.size(), 0);
  out.append(reinterpret_cast<const char*>(&size), 8);
  out.append(reinterpret_cast<const char*>(&sum), 8);
  return out + payload;
}

TrainingState sample_state() {
  TrainingState s;
  s.rounds_done = 7;
  s.seed = 42;
  s.model = "resnet20";
  s.config = {{"seed", 42}, {"local_steps", 50}, {"schedule", "step:0.5,0.75"}, {"optimizer", {{"name", "adam"}}}};
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
  CHECK(r.config == s.config);
  CHECK(r.config.at("optimizer").at("name") == "adam");
  CHECK(std::memcmp(r.params.data(), s.params.data(), s.params.size() * sizeof(float)) == 0);
  CHECK(r.optimizer_state == s.optimizer_state);
  CHECK(r.pace.empty());
}

TEST_CASE("checkpoint: the pace history round-trips bit for bit; a version 3 file loads with none") {
  const auto info = model_info<Net>("resnet20");
  const std::string path = temp_path("pace.ckpt");
  TrainingState s = sample_state();
  s.pace = {{1.5e-9f, 2.25e-9f, 0.f}, {1.0f / 3.0f, 7e-10f, 3e-9f}};
  save_checkpoint(path, info, s);
  const TrainingState r = load_checkpoint(path, info);
  CHECK(r.pace == s.pace);

  s.pace.push_back({1.f});  // rows of unequal length
  CHECK_THROWS_WITH_AS(save_checkpoint(temp_path("ragged.ckpt"), info, s),
                       doctest::Contains("expected pace rows of 3 workers, found one of 1"), Error);

  // What ist wrote before the pace history (version 3): the same bytes without it.
  s.pace.clear();
  save_checkpoint(path, info, s);
  const std::string v3 = temp_path("v3.ckpt");
  write_all(v3, with_config(read_all(path), 3, detail::json_text(s.config)));
  const TrainingState old = load_checkpoint(v3, info);
  CHECK(old.pace.empty());
  CHECK(old.optimizer_state == s.optimizer_state);

  // A count that disagrees with rounds x workers is named.
  std::string bytes = read_all(path);
  const std::size_t header = detail::kCheckpointHeader;
  std::string payload = bytes.substr(header);
  const std::uint32_t rows = 2, workers = 3;
  std::memcpy(payload.data() + payload.size() - 16, &rows, 4);
  std::memcpy(payload.data() + payload.size() - 12, &workers, 4);
  const std::uint64_t size = payload.size(), sum = XXH64(payload.data(), payload.size(), 0);
  std::memcpy(bytes.data() + 16, &size, 8);
  std::memcpy(bytes.data() + 24, &sum, 8);
  const std::string bad = temp_path("pace-count.ckpt");
  write_all(bad, bytes.substr(0, header) + payload);
  CHECK_THROWS_WITH_AS(load_checkpoint(bad, info),
                       doctest::Contains("pace-count.ckpt: the pace history holds 0 values, expected 2 rounds x 3 "
                                         "workers = 6"),
                       Error);
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
  CHECK_THROWS_WITH_AS(load_checkpoint(version, info), doctest::Contains("expected version 1 to 4, found 9"), Error);

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

TEST_CASE("checkpoint: the config is JSON, and a version 2 file (config as text) loads but cannot resume") {
  const auto info = model_info<Net>("resnet20");
  const std::string good = temp_path("json.ckpt");
  const TrainingState s = sample_state();
  save_checkpoint(good, info, s);
  const std::string bytes = read_all(good);
  // The config lies in the file as compact JSON text.
  CHECK(bytes.find(R"({"seed":42,"local_steps":50,"schedule":"step:0.5,0.75","optimizer":{"name":"adam"}})") !=
        std::string::npos);

  const std::string old = temp_path("v2.ckpt");
  write_all(old, with_config(bytes, 2, "seed=42\nlocal_steps=50\n"));
  const TrainingState r = load_checkpoint(old, info);
  CHECK(r.config == "seed=42\nlocal_steps=50\n");
  CHECK(r.params == s.params);
  CHECK(r.optimizer_state == s.optimizer_state);
  TrainerConfig now;
  CHECK_THROWS_WITH_AS(check_resumable(r.config, run_config_json(now, {{"name", "sgd"}}), now, old),
                       doctest::Contains("v2.ckpt: the checkpoint's config is key=value text (a version 1 or 2 "
                                         "checkpoint, written by an older ist), not a JSON object"),
                       Error);

  const std::string bad_json = temp_path("bad_json.ckpt");
  write_all(bad_json, with_config(bytes, 3, "{\"seed\": 42,"));
  CHECK_THROWS_WITH_AS(load_checkpoint(bad_json, info),
                       doctest::Contains(("ist::load_checkpoint: " + bad_json + ": invalid JSON in the config at line "
                                          "1, column 13").c_str()),
                       Error);
  const std::string not_object = temp_path("not_object.ckpt");
  write_all(not_object, with_config(bytes, 3, "[1, 2]"));
  CHECK_THROWS_WITH_AS(load_checkpoint(not_object, info),
                       doctest::Contains((not_object + ": expected the config to be a JSON object, found an array").c_str()),
                       Error);
  std::filesystem::remove_all(std::filesystem::path(good).parent_path());
}

TEST_CASE("checkpoint: check_resumable names the first field that differs") {
  TrainerConfig a, b;
  a.local_steps = 3;
  b.local_steps = 4;
  const auto sgd = nlohmann::ordered_json{{"name", "sgd"}, {"lr", 0.1}};
  CHECK_NOTHROW(check_resumable(run_config_json(a, sgd), run_config_json(a, sgd), a, "x.ckpt"));
  // Survives the trip through text, as a checkpoint stores it.
  const auto stored = nlohmann::ordered_json::parse(detail::json_text(run_config_json(a, sgd)));
  CHECK_NOTHROW(check_resumable(stored, run_config_json(a, sgd), a, "x.ckpt"));
  CHECK_THROWS_WITH_AS(check_resumable(stored, run_config_json(b, sgd), b, "x.ckpt"),
                       doctest::Contains("ist: resume from x.ckpt: local_steps must match the checkpoint's (3), found 4"),
                       Error);
  a.optimizer_state = b.optimizer_state = OptimizerState::Carry;
  b.local_steps = 3;
  CHECK_THROWS_WITH_AS(check_resumable(run_config_json(a, sgd), run_config_json(b, {{"name", "adam"}}), b, "x.ckpt"),
                       doctest::Contains("optimizer must match the checkpoint's (sgd), found adam"), Error);
  auto missing = run_config_json(a, sgd);
  missing.erase("batch");
  CHECK_THROWS_WITH_AS(check_resumable(missing, run_config_json(a, sgd), a, "x.ckpt"),
                       doctest::Contains("the checkpoint's config has no field batch"), Error);
}

}  // namespace test_checkpoint
