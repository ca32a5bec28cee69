// MetricsRow and MetricsLog: rows are valid JSON whatever their keys and values hold, doubles round-trip,
// the log appends to one open file (no whole-file rewrite per round), and a resumed run keeps the rows of
// rounds 1..k, dropping later rows and a torn last line.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/train/metrics_log.hpp"

namespace test_metrics {

namespace fs = std::filesystem;
using ist::MetricsLog;
using ist::MetricsRow;

namespace {

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const char* tag) {
    path = fs::temp_directory_path() / ("ist_metrics_" + std::string(tag) + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const char* name) const { return (path / name).string(); }
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const std::string& path, const std::string& s) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << s;
}

ino_t inode_of(const std::string& path) {
  struct stat st {};
  REQUIRE_MESSAGE(::stat(path.c_str(), &st) == 0, "cannot stat ", path);
  return st.st_ino;
}

// Every line of the file parses as a JSON object; returns their "round" values in file order.
std::vector<std::uint64_t> rounds_of(const std::string& path) {
  std::vector<std::uint64_t> rounds;
  for (const auto& line : lines_of(path)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("round") || !j["round"].is_number_unsigned())
      throw std::runtime_error(path + ": expected a JSON object with an unsigned \"round\", found the line " + line);
    rounds.push_back(j["round"].get<std::uint64_t>());
  }
  return rounds;
}

std::vector<std::uint64_t> one_to(std::uint64_t n) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t r = 1; r <= n; ++r) v.push_back(r);
  return v;
}

MetricsRow round_row(std::uint64_t round) {
  MetricsRow row;
  row.add("round", round).add("train_loss", 1.0 / double(round + 2)).add("decomposer", "layerwise");
  return row;
}

}  // namespace

TEST_CASE("metrics: a row's keys and values are escaped into valid JSON and read back unchanged") {
  const std::vector<std::string> texts = {
      "plain",
      "a \"quoted\" word",
      "back\\slash and \\\" both",
      "line\nbreak, tab\tand carriage\rreturn",
      std::string("control \x01 and \x1f and NUL ") + std::string(1, '\0') + " inside",
      "UTF-8: Grüße, 日本語, emoji \xF0\x9F\x98\x80",
      "/* not a comment */ {\"round\": 99}",
  };
  for (const auto& text : texts) {
    CAPTURE(text);
    MetricsRow row;
    row.add(text, text).add("round", 1).add("key " + text, 2.5);
    const std::string json = row.json();
    CAPTURE(json);
    CHECK(json.find('\n') == std::string::npos);  // one row, one line
    const auto j = nlohmann::json::parse(json, nullptr, false);
    REQUIRE_MESSAGE(!j.is_discarded(), "row.json() is not valid JSON: ", json);
    REQUIRE(j.is_object());
    REQUIRE(j.contains(text));
    CHECK(j[text].get<std::string>() == text);
    CHECK(j["round"].get<int>() == 1);
    REQUIRE(j.contains("key " + text));
    CHECK(j["key " + text].get<double>() == 2.5);
  }
}

TEST_CASE("metrics: numbers round-trip exactly, non-finite doubles are null, fields keep their order") {
  const double values[] = {0.1 + 0.2, 1.0 / 3.0, 3.141592653589793, 1e-300, 6.02214076e23, -0.0, 123456789.123456789,
                           std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::max()};
  MetricsRow row;
  row.add("round", std::uint64_t(7));
  // The keys are built by append, not "d" + std::to_string(i): GCC 12's false -Wrestrict (bug 105329).
  auto key_of = [](int i) {
    std::string k(1, 'd');
    k += std::to_string(i);
    return k;
  };
  for (int i = 0; i < int(std::size(values)); ++i) row.add(key_of(i), values[i]);
  row.add("i64_min", std::numeric_limits<std::int64_t>::min())
      .add("i64_max", std::numeric_limits<std::int64_t>::max())
      .add("u64_max", std::numeric_limits<std::uint64_t>::max())
      .add("int", -42)
      .add("nan", std::nan(""))
      .add("inf", std::numeric_limits<double>::infinity())
      .add("minus_inf", -std::numeric_limits<double>::infinity());
  const std::string json = row.json();
  CAPTURE(json);
  CHECK(json.rfind("{\"round\":7,", 0) == 0);  // the first field first (tests/test_reliability.cpp relies on it)
  const auto j = nlohmann::json::parse(json, nullptr, false);
  REQUIRE_MESSAGE(!j.is_discarded(), "row.json() is not valid JSON: ", json);
  for (int i = 0; i < int(std::size(values)); ++i) {
    const std::string key = key_of(i);
    CAPTURE(key);
    const double back = j[key].get<double>();
    CHECK(std::memcmp(&back, &values[i], sizeof(double)) == 0);  // bit for bit, sign of -0.0 included
  }
  CHECK(j["i64_min"].get<std::int64_t>() == std::numeric_limits<std::int64_t>::min());
  CHECK(j["i64_max"].get<std::int64_t>() == std::numeric_limits<std::int64_t>::max());
  CHECK(j["u64_max"].get<std::uint64_t>() == std::numeric_limits<std::uint64_t>::max());
  CHECK(j["int"].get<int>() == -42);
  CHECK(j["nan"].is_null());
  CHECK(j["inf"].is_null());
  CHECK(j["minus_inf"].is_null());
  CHECK(MetricsRow().json() == "{}");
}

TEST_CASE("metrics: a per-worker column is a JSON array of unsigned integers, entry w for worker w") {
  MetricsRow row;
  const std::vector<std::uint64_t> bytes{7, 0, std::numeric_limits<std::uint64_t>::max()};
  row.add("round", std::uint64_t(1)).add("bytes_to_each_worker", bytes).add("none", std::vector<std::uint64_t>{});
  const auto j = nlohmann::json::parse(row.json());
  REQUIRE(j["bytes_to_each_worker"].is_array());
  CHECK(j["bytes_to_each_worker"].get<std::vector<std::uint64_t>>() == bytes);
  CHECK(j["none"].is_array());
  CHECK(j["none"].empty());
}

TEST_CASE("metrics: MetricsLog appends each row to the same open file, every row readable right after its append") {
  TempDir dir("append");
  const std::string path = dir.file("m.jsonl");
  MetricsLog log(path);
  REQUIRE(log.enabled());
  CHECK(log.path() == path);
  CHECK(read_all(path).empty());  // started afresh
  const ino_t inode = inode_of(path);
  for (std::uint64_t r = 1; r <= 6; ++r) {
    CAPTURE(r);
    log.append(round_row(r));
    // The same file, grown by one line (an atomic rewrite would put a new inode behind the path each time),
    // and flushed: a reader sees every row so far.
    CHECK(inode_of(path) == inode);
    CHECK(rounds_of(path) == one_to(r));
  }
  // Disabled log: append does nothing.
  MetricsLog off;
  CHECK_FALSE(off.enabled());
  off.append(round_row(1));
}

TEST_CASE("metrics: starting afresh empties an existing file") {
  TempDir dir("fresh");
  const std::string path = dir.file("m.jsonl");
  write_all(path, "{\"round\":1}\n{\"round\":2}\n");
  MetricsLog log(path);
  CHECK(read_all(path).empty());
  log.append(round_row(1));
  CHECK(rounds_of(path) == one_to(1));
}

TEST_CASE("metrics: a resumed log keeps rounds 1..k, drops later rows and a torn last line, then appends") {
  TempDir dir("resume");
  const std::string path = dir.file("m.jsonl");
  std::string rows;
  for (std::uint64_t r = 1; r <= 5; ++r) rows += round_row(r).json() + "\n";

  SUBCASE("later rounds dropped") {
    write_all(path, rows);
    MetricsLog log(path, 3);
    CHECK(rounds_of(path) == one_to(3));
    const ino_t inode = inode_of(path);
    log.append(round_row(4));
    CHECK(rounds_of(path) == one_to(4));
    CHECK(inode_of(path) == inode);
  }
  SUBCASE("a crash tore the last line, inside the kept rounds") {
    // Rows 1..4 finished; the process died while writing row 5's line. The checkpoint says 5 rounds ran.
    const std::string torn = round_row(5).json().substr(0, 14);  // {"round":5,"tr
    write_all(path, rows.substr(0, rows.size() - round_row(5).json().size() - 1) + torn);
    MetricsLog log(path, 5);
    CHECK(rounds_of(path) == one_to(4));
    log.append(round_row(5));
    log.append(round_row(6));
    CHECK(rounds_of(path) == one_to(6));
  }
  SUBCASE("a torn line that even holds a complete \"round\" field") {
    write_all(path, rows.substr(0, rows.size() - 1 - round_row(5).json().size()) + "{\"round\":5,\"train_loss\":0.1");
    MetricsLog log(path, 9);
    CHECK(rounds_of(path) == one_to(4));
  }
  SUBCASE("a complete last row without its newline is kept") {
    write_all(path, rows.substr(0, rows.size() - 1));
    MetricsLog log(path, 5);
    log.append(round_row(6));
    CHECK(rounds_of(path) == one_to(6));
  }
  SUBCASE("a missing file resumes to an empty log") {
    MetricsLog log(path, 3);
    CHECK(read_all(path).empty());
    log.append(round_row(4));
    CHECK(rounds_of(path) == std::vector<std::uint64_t>{4});
  }
}

TEST_CASE("metrics: a log in a folder that does not exist is an error naming the file") {
  TempDir dir("missing");
  const std::string path = dir.file("no-such-folder/m.jsonl");
  CHECK_THROWS_WITH_AS(MetricsLog{path}, doctest::Contains(path.c_str()), ist::Error);
}

}  // namespace test_metrics
