#pragma once
// MetricsLog: one JSON object per line (JSONL), one line per round or epoch, ready to plot
// (pandas.read_json(path, lines=True)). Every append rewrites the file atomically, so a crash never
// leaves a torn line and the file always holds every finished row.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ist/core/atomic_file.hpp"

namespace ist {

// One row under construction: row.add("round", 3).add("test_accuracy", 0.91).
class MetricsRow {
 public:
  MetricsRow& add(std::string_view key, double value) {
    field(key);
    if (std::isfinite(value)) {
      std::ostringstream v;
      v << std::setprecision(10) << value;
      os_ << v.str();
    } else {
      os_ << "null";
    }
    return *this;
  }
  MetricsRow& add(std::string_view key, std::int64_t value) {
    field(key);
    os_ << value;
    return *this;
  }
  MetricsRow& add(std::string_view key, int value) { return add(key, std::int64_t(value)); }
  MetricsRow& add(std::string_view key, std::uint64_t value) {
    field(key);
    os_ << value;
    return *this;
  }
  MetricsRow& add(std::string_view key, std::string_view value) {
    field(key);
    os_ << '"';
    for (char c : value) {
      if (c == '"' || c == '\\') os_ << '\\';
      os_ << c;
    }
    os_ << '"';
    return *this;
  }
  std::string json() const {
    // Appended piece by piece: "{" + str + "}" trips GCC 12's false -Wrestrict (GCC bug 105329) when inlined.
    std::string s(1, '{');
    s += os_.str();
    s += '}';
    return s;
  }

 private:
  void field(std::string_view key) {
    if (!first_) os_ << ',';
    first_ = false;
    os_ << '"' << key << "\":";
  }
  std::ostringstream os_;
  bool first_ = true;
};

class MetricsLog {
 public:
  MetricsLog() = default;  // disabled: append() does nothing
  // Starts the file afresh, or, with keep_rounds > 0 (a resumed run), keeps its rows of rounds 1..keep_rounds
  // and drops the rest (rounds the interrupted run finished after its last checkpoint are trained again).
  explicit MetricsLog(std::string path, std::uint64_t keep_rounds = 0) : path_(std::move(path)) {
    if (path_.empty()) return;
    if (keep_rounds > 0) {
      std::ifstream in(path_);
      std::string line;
      while (std::getline(in, line)) {
        const auto key = line.find("\"round\":");
        if (key == std::string::npos) continue;
        const unsigned long long round = std::strtoull(line.c_str() + key + 8, nullptr, 10);
        if (round >= 1 && round <= keep_rounds) content_ += line + '\n';
      }
    }
    write_file_atomically(path_, content_);
  }
  bool enabled() const noexcept { return !path_.empty(); }
  const std::string& path() const noexcept { return path_; }
  void append(const MetricsRow& row) {
    if (!enabled()) return;
    content_ += row.json();
    content_ += '\n';
    write_file_atomically(path_, content_);
  }

 private:
  std::string path_;
  std::string content_;
};

}  // namespace ist
