#pragma once
// MetricsLog: one JSON object per line (JSONL), one line per round or epoch, ready to plot
// (pandas.read_json(path, lines=True)). The file is opened once and each row is appended and flushed, so
// a reader sees every finished row and a round costs one line of I/O, not a rewrite of the whole file. A
// crash can leave a torn last line; a resumed run drops it (see the constructor).
//
// Rows are written by nlohmann::json: keys and string values are escaped as JSON requires (quotes,
// backslashes, control characters; invalid UTF-8 is replaced by U+FFFD), doubles are printed with the
// shortest form that reads back to the same bits, non-finite doubles as null.
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ist/core/atomic_file.hpp"
#include "ist/core/error.hpp"

namespace ist {

// One row under construction: row.add("round", 3).add("test_accuracy", 0.91). Fields keep the order
// they were added in.
class MetricsRow {
 public:
  MetricsRow& add(std::string_view key, double value) {
    if (std::isfinite(value))
      put(key, value);
    else
      put(key, nullptr);
    return *this;
  }
  MetricsRow& add(std::string_view key, std::int64_t value) { return put(key, value); }
  MetricsRow& add(std::string_view key, int value) { return add(key, std::int64_t(value)); }
  MetricsRow& add(std::string_view key, std::uint64_t value) { return put(key, value); }
  MetricsRow& add(std::string_view key, std::string_view value) { return put(key, std::string(value)); }
  // A JSON array of integers (per-worker figures: entry w is worker w's).
  MetricsRow& add(std::string_view key, const std::vector<std::uint64_t>& values) { return put(key, values); }
  MetricsRow& add(std::string_view key, const std::vector<int>& values) { return put(key, values); }
  // A JSON array of numbers (per-worker figures: entry w is worker w's); NaN and infinities as null.
  MetricsRow& add(std::string_view key, const std::vector<double>& values) {
    nlohmann::ordered_json row = nlohmann::ordered_json::array();
    for (double x : values) row.push_back(std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr));
    return put(key, std::move(row));
  }
  // A JSON array of arrays of numbers (per-worker series: entry w is worker w's); NaN and infinities as null.
  MetricsRow& add(std::string_view key, const std::vector<std::vector<double>>& values) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const auto& v : values) {
      nlohmann::ordered_json row = nlohmann::ordered_json::array();
      for (double x : v) row.push_back(std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr));
      rows.push_back(std::move(row));
    }
    return put(key, std::move(rows));
  }
  // The row as one line of JSON (no newline).
  std::string json() const { return row_.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace); }

 private:
  template <class V>
  MetricsRow& put(std::string_view key, V&& value) {
    row_[std::string(key)] = std::forward<V>(value);
    return *this;
  }
  nlohmann::ordered_json row_ = nlohmann::ordered_json::object();
};

class MetricsLog {
 public:
  MetricsLog() = default;  // disabled: append() does nothing
  // Starts the file afresh, or, with keep_rounds > 0 (a resumed run), keeps its rows of rounds 1..keep_rounds
  // and drops the rest (rounds the interrupted run finished after its last checkpoint are trained again).
  // Rows that do not parse as a JSON object with an unsigned "round" (a line torn by a crash) are dropped
  // too. The kept rows are written back atomically (write_file_atomically) once, here; append() then adds
  // to that file.
  explicit MetricsLog(std::string path, std::uint64_t keep_rounds = 0) : path_(std::move(path)) {
    if (path_.empty()) return;
    std::string kept;
    if (keep_rounds > 0) {
      std::ifstream in(path_, std::ios::binary);
      for (std::string line; std::getline(in, line);) {
        const auto row = nlohmann::json::parse(line, nullptr, false);
        if (row.is_discarded() || !row.is_object()) continue;
        const auto round = row.find("round");
        if (round == row.end() || !round->is_number_unsigned()) continue;
        const auto r = round->get<std::uint64_t>();
        if (r < 1 || r > keep_rounds) continue;
        kept += line;
        kept += '\n';
      }
    }
    write_file_atomically(path_, kept);
    out_.open(path_, std::ios::binary | std::ios::app);
    IST_CHECK(out_.is_open(), "ist::MetricsLog: ", path_, ": cannot open for appending (", std::strerror(errno), ")");
  }
  bool enabled() const noexcept { return !path_.empty(); }
  const std::string& path() const noexcept { return path_; }
  // Appends the row as one line and flushes it to the operating system (no fsync: a lost tail is the
  // rounds after the last checkpoint, which a resumed run trains and writes again).
  void append(const MetricsRow& row) {
    if (!enabled()) return;
    std::string line = row.json();
    line += '\n';
    out_.write(line.data(), std::streamsize(line.size()));
    out_.flush();
    IST_CHECK(out_.good(), "ist::MetricsLog: ", path_, ": appending a row of ", line.size(),
              " bytes failed (disk full or file removed?)");
  }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace ist
