#pragma once
// A directory of round checkpoints: <dir>/round-NNNNNN.ckpt, one per saved round, the newest K kept.
//
//   save_round_checkpoint(dir, info, state, keep)   writes round-<state.rounds_done>.ckpt atomically, then
//                                                   removes all but the newest `keep`
//   latest_checkpoint(dir)                          the newest one, or nothing
//   resolve_checkpoint(path)                        a file as is; a directory: its newest checkpoint
//
// A checkpoint is written completely (temp file, fsync, rename) before an older one is removed, so a crash
// at any moment leaves at least the previous round's checkpoint intact.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/train/checkpoint.hpp"

namespace ist {

inline std::string checkpoint_file_name(std::uint64_t rounds_done) {
  char name[40];
  std::snprintf(name, sizeof name, "round-%06llu.ckpt", static_cast<unsigned long long>(rounds_done));
  return name;
}

// The round checkpoints in `dir`, oldest first (by the round in the name). Other files are ignored.
inline std::vector<std::filesystem::path> list_checkpoints(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::uint64_t, fs::path>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    unsigned long long round = 0;
    char tail = 0;
    // "round-" digits ".ckpt" and nothing after (the temp files of an interrupted write end otherwise).
    if (name.size() > 11 && name.compare(name.size() - 5, 5, ".ckpt") == 0 &&
        std::sscanf(name.c_str(), "round-%llu.ckp%c", &round, &tail) == 2 && tail == 't')
      found.emplace_back(round, entry.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

inline std::optional<std::string> latest_checkpoint(const std::string& dir) {
  const auto all = list_checkpoints(dir);
  if (all.empty()) return std::nullopt;
  return all.back().string();
}

// `path` names a checkpoint file, or a checkpoint directory whose newest checkpoint is meant.
inline std::string resolve_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return path;
  const auto latest = latest_checkpoint(path);
  IST_CHECK(latest.has_value(), "ist: resume from ", path, ": the directory holds no checkpoint (round-NNNNNN.ckpt); "
            "start the run without resuming, or name a checkpoint file");
  return *latest;
}

inline std::string save_round_checkpoint(const std::string& dir, const ModelInfo& info, const TrainingState& state,
                                         int keep) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  IST_CHECK(!ec, "ist: checkpoint directory ", dir, ": cannot create it (", ec.message(), ")");
  const std::string path = (fs::path(dir) / checkpoint_file_name(state.rounds_done)).string();
  save_checkpoint(path, info, state);
  auto all = list_checkpoints(dir);
  for (std::size_t i = 0; i + std::size_t(std::max(keep, 1)) < all.size(); ++i) fs::remove(all[i], ec);
  return path;
}

}  // namespace ist
