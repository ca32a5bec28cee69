#pragma once
// Round-atomic checkpoints of a training run.
//
// File layout (little-endian):
//   "ISTCKPT\0"                 8 bytes magic
//   u32 version                 kCheckpointVersion
//   u32 reserved (0)
//   u64 payload_bytes
//   u64 xxh64(payload, seed 0)
//   payload:
//     u64 rounds_done, u64 seed
//     str model name, str config          (str = u32 length + bytes; config: a JSON object, UTF-8)
//     u32 tensor count, then per tensor: str name, u32 rank, rank x u32 dims, u64 offset, u64 size
//     u64 n, n x f32 parameters
//     u32 k, then per optimizer state buffer: str name, u64 n, n x f32 values   (k = 0 when none is kept)
//                                 (with a TopK codec, the workers' error-feedback residuals follow as buffers
//                                 named codec.residual.workerW)
//     u32 r, u32 w, u64 r*w, r*w x f32   the trainer's pace history: r rounds (oldest first) of w workers'
//                                        seconds per local step and parameter (version 4; r = w = 0 when empty)
// Older files still load: version 3 (no pace history: it loads empty), version 2 (the config as key=value text) and version 1 (also: one unnamed buffer,
// u64 m, m x f32 momentum, loaded as a buffer named "momentum"). Their config is kept as a JSON string of that
// text, which check_resumable (trainer_config.hpp) rejects with a message saying so.
//
// save_checkpoint writes through write_file_atomically (temp file, fsync, rename): a crash leaves the
// previous checkpoint intact. load_checkpoint checks magic, version, size, checksum, and that the tensor
// table matches the model's (a checkpoint of another model is rejected, naming the first mismatching
// tensor), and every message names the file.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ist/core/atomic_file.hpp"
#include "ist/core/error.hpp"
#include "ist/io/json.hpp"
#include "ist/model/model_info.hpp"

namespace ist {

inline constexpr std::uint32_t kCheckpointVersion = 4;

// One per-parameter optimizer state buffer, named by the optimizer policy ("momentum", "exp_avg", ...).
struct StateBuffer {
  std::string name;
  std::vector<float> values;  // one per parameter, in the model's layout
  bool operator==(const StateBuffer&) const = default;
};

struct TrainingState {
  std::uint64_t rounds_done = 0;
  std::uint64_t seed = 0;
  std::string model;
  // The run's configuration: a JSON object (run_config_json, trainer_config.hpp); from a version 1 or 2
  // file, a JSON string holding its key=value text.
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  std::vector<float> params;              // the global model
  std::vector<StateBuffer> optimizer_state;  // the global optimizer state buffers, or none
  // The trainer's pace history (IndependentSubnetTrainer::pace_history): rows of equal length, or none.
  std::vector<std::vector<float>> pace;
};

namespace detail {

class CheckpointWriter {
 public:
  template <class T>
  void pod(const T& v) {
    const auto* p = reinterpret_cast<const char*>(&v);
    out_.append(p, sizeof(T));
  }
  void str(std::string_view s) {
    pod(std::uint32_t(s.size()));
    out_.append(s.data(), s.size());
  }
  void floats(const std::vector<float>& v) {
    pod(std::uint64_t(v.size()));
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

class CheckpointReader {
 public:
  CheckpointReader(std::string_view data, std::string path) : data_(data), path_(std::move(path)) {}
  template <class T>
  T pod(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const char* what) {
    const auto n = pod<std::uint32_t>(what);
    need(n, what);
    std::string s(data_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  std::vector<float> floats(const char* what) {
    const auto n = pod<std::uint64_t>(what);
    IST_CHECK(n <= (data_.size() - pos_) / sizeof(float), "ist::load_checkpoint: ", path_, ": ", what, " claims ", n,
              " values but only ", (data_.size() - pos_) / sizeof(float), " remain (corrupt file)");
    std::vector<float> v(n);
    if (n != 0) std::memcpy(v.data(), data_.data() + pos_, n * sizeof(float));  // v.data() may be null when n = 0
    pos_ += n * sizeof(float);
    return v;
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  void need(std::size_t n, const char* what) {
    IST_CHECK(n <= data_.size() - pos_, "ist::load_checkpoint: ", path_, ": truncated while reading ", what,
              " (expected ", n, " more bytes, found ", data_.size() - pos_, ")");
  }
  std::string_view data_;
  std::string path_;
  std::size_t pos_ = 0;
};

inline constexpr char kCheckpointMagic[8] = {'I', 'S', 'T', 'C', 'K', 'P', 'T', '\0'};
inline constexpr std::size_t kCheckpointHeader = 8 + 4 + 4 + 8 + 8;

}  // namespace detail

inline void save_checkpoint(const std::string& path, const ModelInfo& info, const TrainingState& s) {
  IST_CHECK(s.params.size() == info.num_params, "ist::save_checkpoint: ", path, ": expected ", info.num_params,
            " parameters for model ", info.name, ", found ", s.params.size());
  detail::CheckpointWriter p;
  p.pod(s.rounds_done);
  p.pod(s.seed);
  p.str(s.model);
  p.str(detail::json_text(s.config));
  p.pod(std::uint32_t(info.tensors.size()));
  for (const auto& t : info.tensors) {
    p.str(t.name);
    p.pod(std::uint32_t(t.shape.size()));
    for (int d : t.shape) p.pod(std::uint32_t(d));
    p.pod(std::uint64_t(t.offset));
    p.pod(std::uint64_t(t.size));
  }
  p.floats(s.params);
  p.pod(std::uint32_t(s.optimizer_state.size()));
  for (const auto& b : s.optimizer_state) {
    IST_CHECK(b.values.size() == info.num_params, "ist::save_checkpoint: ", path, ": expected ", info.num_params,
              " values in optimizer state buffer ", b.name, ", found ", b.values.size());
    p.str(b.name);
    p.floats(b.values);
  }
  const std::size_t pace_workers = s.pace.empty() ? 0 : s.pace[0].size();
  std::vector<float> pace;
  for (const auto& row : s.pace) {
    IST_CHECK(row.size() == pace_workers, "ist::save_checkpoint: ", path, ": expected pace rows of ", pace_workers,
              " workers, found one of ", row.size());
    pace.insert(pace.end(), row.begin(), row.end());
  }
  p.pod(std::uint32_t(s.pace.size()));
  p.pod(std::uint32_t(pace_workers));
  p.floats(pace);
  const std::string& payload = p.bytes();
  detail::CheckpointWriter file;
  file.bytes().append(detail::kCheckpointMagic, 8);
  file.pod(kCheckpointVersion);
  file.pod(std::uint32_t(0));
  file.pod(std::uint64_t(payload.size()));
  file.pod(std::uint64_t(XXH64(payload.data(), payload.size(), 0)));
  file.bytes() += payload;
  write_file_atomically(path, file.bytes());
}

namespace detail {
// Reads and checks a checkpoint file: header, checksum, structure, and, when `info` is given, that its
// tensor table and sizes are those of that model.
inline TrainingState parse_checkpoint(const std::string& path, const ModelInfo* info) {
  const char* who = "ist::load_checkpoint: ";
  std::ifstream in(path, std::ios::binary);
  IST_CHECK(in.good(), who, path, ": cannot open the checkpoint (missing file or no permission)");
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  IST_CHECK(data.size() >= detail::kCheckpointHeader, who, path, ": expected a header of ",
            detail::kCheckpointHeader, " bytes, found a file of ", data.size(), " bytes (truncated)");
  IST_CHECK(std::memcmp(data.data(), detail::kCheckpointMagic, 8) == 0, who, path,
            ": expected magic \"ISTCKPT\", found other bytes (not an ist checkpoint)");
  detail::CheckpointReader h(std::string_view(data).substr(8, detail::kCheckpointHeader - 8), path);
  const auto version = h.pod<std::uint32_t>("version");
  IST_CHECK(version >= 1 && version <= kCheckpointVersion, who, path, ": expected version 1 to ",
            kCheckpointVersion, ", found ", version);
  (void)h.pod<std::uint32_t>("reserved");
  const auto payload_bytes = h.pod<std::uint64_t>("payload size");
  const auto checksum = h.pod<std::uint64_t>("checksum");
  IST_CHECK(data.size() - detail::kCheckpointHeader == payload_bytes, who, path, ": expected ", payload_bytes,
            " payload bytes, found ", data.size() - detail::kCheckpointHeader, " (truncated or padded file)");
  const std::string_view payload = std::string_view(data).substr(detail::kCheckpointHeader);
  const auto actual = std::uint64_t(XXH64(payload.data(), payload.size(), 0));
  IST_CHECK(actual == checksum, who, path, ": checksum mismatch (expected xxh64 ", checksum, ", found ", actual,
            "): the file is corrupt");

  detail::CheckpointReader r(payload, path);
  TrainingState s;
  s.rounds_done = r.pod<std::uint64_t>("rounds");
  s.seed = r.pod<std::uint64_t>("seed");
  s.model = r.str("model name");
  const std::string config = r.str("config");
  if (version >= 3) {
    s.config = parse_json<nlohmann::ordered_json>(config, "ist::load_checkpoint", path, " in the config");
    IST_CHECK(s.config.is_object(), who, path, ": expected the config to be a JSON object, found ",
              json_kind(s.config));
  } else {
    s.config = config;  // key=value text
  }
  const auto count = r.pod<std::uint32_t>("tensor count");
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::string name = r.str("tensor name");
    const auto rank = r.pod<std::uint32_t>("tensor rank");
    IST_CHECK(rank <= 8, who, path, ": tensor ", name, ": rank ", rank, " is not plausible (corrupt file)");
    std::vector<int> shape;
    for (std::uint32_t d = 0; d < rank; ++d) shape.push_back(int(r.pod<std::uint32_t>("tensor shape")));
    const auto offset = r.pod<std::uint64_t>("tensor offset");
    const auto size = r.pod<std::uint64_t>("tensor size");
    if (!info) continue;
    IST_CHECK(i < info->tensors.size(), who, path, ": the checkpoint has tensor ", name, " (#", i,
              ") but model ", info->name, " has only ", info->tensors.size(), " tensors");
    const auto& t = info->tensors[i];
    auto fmt = [](const std::vector<int>& v) {
      std::string out = "[";
      for (std::size_t k = 0; k < v.size(); ++k) out += (k ? ", " : "") + std::to_string(v[k]);
      return out + "]";
    };
    IST_CHECK(name == t.name && shape == t.shape && offset == t.offset && size == t.size, who, path,
              ": the checkpoint is of another model: tensor #", i, " is ", name, " ", fmt(shape), " in the file, ",
              t.name, " ", fmt(t.shape), " in model ", info->name);
  }
  IST_CHECK(!info || count == info->tensors.size(), who, path, ": the checkpoint has ", count, " tensors, model ",
            info->name, " has ", info->tensors.size());
  s.params = r.floats("parameters");
  const std::size_t n = info ? info->num_params : s.params.size();
  IST_CHECK(s.params.size() == n, who, path, ": expected ", n, " parameters, found ", s.params.size());
  if (version == 1) {
    std::vector<float> momentum = r.floats("optimizer state");
    IST_CHECK(momentum.empty() || momentum.size() == n, who, path, ": expected 0 or ", n,
              " optimizer-state values, found ", momentum.size());
    if (!momentum.empty()) s.optimizer_state.push_back({"momentum", std::move(momentum)});
  } else {
    const auto k = r.pod<std::uint32_t>("optimizer state count");
    // At most 16 optimizer buffers plus one error-feedback residual per worker (codec.residual.workerW).
    IST_CHECK(k <= 16 + 4096, who, path, ": ", k, " state buffers is not plausible (corrupt file)");
    for (std::uint32_t b = 0; b < k; ++b) {
      StateBuffer buf;
      buf.name = r.str("optimizer state name");
      buf.values = r.floats("optimizer state");
      IST_CHECK(buf.values.size() == n, who, path, ": optimizer state buffer ", buf.name, ": expected ", n,
                " values, found ", buf.values.size());
      s.optimizer_state.push_back(std::move(buf));
    }
  }
  if (version >= 4) {
    const auto rows = r.pod<std::uint32_t>("pace rounds");
    const auto workers = r.pod<std::uint32_t>("pace workers");
    IST_CHECK(rows <= 1024 && workers <= 65536, who, path, ": a pace history of ", rows, " rounds of ", workers,
              " workers is not plausible (corrupt file)");
    const std::vector<float> pace = r.floats("pace history");
    IST_CHECK(pace.size() == std::size_t(rows) * workers, who, path, ": the pace history holds ", pace.size(),
              " values, expected ", rows, " rounds x ", workers, " workers = ", std::size_t(rows) * workers);
    for (std::uint32_t k = 0; k < rows; ++k)
      s.pace.emplace_back(pace.begin() + std::ptrdiff_t(k) * workers, pace.begin() + std::ptrdiff_t(k + 1) * workers);
  }
  IST_CHECK(r.done(), who, path, ": unexpected bytes after the ", version >= 4 ? "pace history" : "optimizer state",
            " (corrupt file)");
  return s;
}
}  // namespace detail

// Loads a checkpoint of model `info`: every check above, and that the file's tensor table is the model's
// (a checkpoint of another model is rejected, naming the first mismatching tensor).
inline TrainingState load_checkpoint(const std::string& path, const ModelInfo& info) {
  return detail::parse_checkpoint(path, &info);
}

// Reads any well-formed checkpoint without knowing its model (tools that compare runs): the header,
// checksum and structure are checked, the tensor table is not.
inline TrainingState read_checkpoint(const std::string& path) { return detail::parse_checkpoint(path, nullptr); }

}  // namespace ist
