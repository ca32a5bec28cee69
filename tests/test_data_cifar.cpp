// CIFAR-10 / CIFAR-100 binary reader: valid files, folder layouts, malformed inputs.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/cifar.hpp"
#include "expect_error.hpp"

namespace test_data_cifar {

namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const char* tag) {
    static int counter = 0;
    const auto ticks = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    path = fs::temp_directory_path() /
           ("ist_test_data_" + std::string(tag) + "_" + std::to_string(ist::mix64(ticks)) + "_" +
            std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void write_raw(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

// Records with the given label bytes (1 per record for CIFAR-10, 2 for CIFAR-100);
// pixel k of record r = (r * 31 + k + salt) % 256.
std::vector<std::uint8_t> records(const std::vector<std::vector<std::uint8_t>>& labels, int salt = 0) {
  std::vector<std::uint8_t> v;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    v.insert(v.end(), labels[r].begin(), labels[r].end());
    for (int k = 0; k < 3072; ++k) v.push_back(static_cast<std::uint8_t>((static_cast<int>(r) * 31 + k + salt) % 256));
  }
  return v;
}

using ist::test::contains;
using ist::test::error_of;

bool pixels_match(const ist::ImageDataset& d, int i, int r, int salt) {
  for (int k = 0; k < 3072; ++k) {
    if (d.pixels[static_cast<std::size_t>(i) * 3072 + static_cast<std::size_t>(k)] != (r * 31 + k + salt) % 256)
      return false;
  }
  return true;
}

}  // namespace

TEST_CASE("data: cifar10 reads valid files in order") {
  TempDir dir("cifar10");
  write_raw(dir.file("a.bin"), records({{3}, {9}}, 0));
  write_raw(dir.file("b.bin"), records({{0}}, 100));
  const auto d = ist::load_cifar_binary({dir.file("a.bin"), dir.file("b.bin")}, ist::CifarKind::cifar10);
  CHECK(d.n == 3);
  CHECK(d.c == 3);
  CHECK(d.h == 32);
  CHECK(d.w == 32);
  CHECK(d.num_classes == 10);
  CHECK(d.image_size() == 3072);
  CHECK(d.labels == std::vector<std::int32_t>{3, 9, 0});
  REQUIRE(d.pixels.size() == 3u * 3072u);
  CHECK(pixels_match(d, 0, 0, 0));
  CHECK(pixels_match(d, 1, 1, 0));
  CHECK(pixels_match(d, 2, 0, 100));
  CHECK(d.source == dir.file("a.bin") + ", " + dir.file("b.bin"));
}

TEST_CASE("data: cifar100 reads fine or coarse labels") {
  TempDir dir("cifar100");
  write_raw(dir.file("test.bin"), records({{19, 99}, {0, 42}}));
  const auto fine = ist::load_cifar100(dir.path.string(), false);
  CHECK(fine.num_classes == 100);
  CHECK(fine.labels == std::vector<std::int32_t>{99, 42});
  CHECK(pixels_match(fine, 1, 1, 0));
  const auto coarse = ist::load_cifar100(dir.path.string(), false, false);
  CHECK(coarse.num_classes == 20);
  CHECK(coarse.labels == std::vector<std::int32_t>{19, 0});
  CHECK(coarse.pixels == fine.pixels);
  CHECK(ist::cifar_num_classes(ist::CifarKind::cifar10) == 10);
}

TEST_CASE("data: cifar folder layouts") {
  TempDir dir("cifar_layout");
  SUBCASE("cifar-10 training batches in the archive's subfolder") {
    const fs::path sub = dir.path / "cifar-10-batches-bin";
    fs::create_directories(sub);
    for (int i = 1; i <= 5; ++i)
      write_raw((sub / ("data_batch_" + std::to_string(i) + ".bin")).string(),
                records({{static_cast<std::uint8_t>(i)}}, i));
    const auto d = ist::load_cifar10(dir.path.string(), true);
    CHECK(d.n == 5);
    CHECK(d.labels == std::vector<std::int32_t>{1, 2, 3, 4, 5});
    CHECK(pixels_match(d, 4, 0, 5));
    // The same folder passed directly.
    CHECK(ist::load_cifar10(sub.string(), true).labels == d.labels);
  }
  SUBCASE("cifar-10 test batch") {
    write_raw(dir.file("test_batch.bin"), records({{7}, {8}}));
    CHECK(ist::load_cifar10(dir.path.string(), false).labels == std::vector<std::int32_t>{7, 8});
  }
  SUBCASE("cifar-100 in its subfolder") {
    fs::create_directories(dir.path / "cifar-100-binary");
    write_raw((dir.path / "cifar-100-binary" / "train.bin").string(), records({{1, 11}}));
    CHECK(ist::load_cifar100(dir.path.string(), true).labels == std::vector<std::int32_t>{11});
  }
}

TEST_CASE("data: cifar reports missing files") {
  TempDir dir("cifar_missing");
  auto msg = error_of([&] { (void)ist::load_cifar10(dir.path.string(), true); });
  CHECK(contains(msg, "ist::load_cifar10: " + dir.path.string() + ": expected data_batch_1.bin in "));
  CHECK(contains(msg, "cifar-10-batches-bin"));
  CHECK(contains(msg, "found neither"));
  // The library speaks of its own arguments, not of a program's flags.
  CHECK(contains(msg, "as `dir` to ist::load_cifar10(dir, train)"));
  CHECK(!contains(msg, "--data"));
  msg = error_of([&] { (void)ist::load_cifar100(dir.path.string(), false); });
  CHECK(contains(msg, "ist::load_cifar100: "));
  CHECK(contains(msg, "expected test.bin in "));
  CHECK(contains(msg, "cifar-100-binary"));
  CHECK(contains(msg, "as `dir` to ist::load_cifar100(dir, train, fine)"));

  // data_batch_1 present, data_batch_3 missing: the missing one is named.
  for (int i : {1, 2, 4, 5}) write_raw(dir.file("data_batch_" + std::to_string(i) + ".bin"), records({{1}}));
  msg = error_of([&] { (void)ist::load_cifar10(dir.path.string(), true); });
  CHECK(contains(msg, "ist::load_cifar_binary: " + dir.file("data_batch_3.bin") + ": file not found"));
  CHECK(contains(msg, "cifar-10-binary.tar.gz"));
  msg = error_of([&] { (void)ist::load_cifar_binary({}, ist::CifarKind::cifar10); });
  CHECK(contains(msg, "expected at least one file, found none"));
}

TEST_CASE("data: cifar rejects truncated files") {
  TempDir dir("cifar_trunc");
  auto bytes = records({{1}, {2}});
  bytes.resize(bytes.size() - 100);
  write_raw(dir.file("cut.bin"), bytes);
  write_raw(dir.file("empty.bin"), {});
  auto msg = error_of([&] { (void)ist::load_cifar_binary({dir.file("cut.bin")}, ist::CifarKind::cifar10); });
  CHECK(msg == "ist::load_cifar_binary: " + dir.file("cut.bin") +
                   ": expected a size that is a positive multiple of the 3073-byte CIFAR-10 record (1 label byte + "
                   "3072 pixel bytes), found 6046 bytes (file truncated or not a CIFAR binary file)");
  // A CIFAR-10 file read as CIFAR-100 does not fit the 3074-byte records either.
  write_raw(dir.file("c10.bin"), records({{1}, {2}}));
  msg = error_of([&] { (void)ist::load_cifar_binary({dir.file("c10.bin")}, ist::CifarKind::cifar100_fine); });
  CHECK(contains(msg, dir.file("c10.bin") + ": expected a size that is a positive multiple of the 3074-byte"));
  CHECK(contains(msg, "found 6146 bytes"));
  msg = error_of([&] { (void)ist::load_cifar_binary({dir.file("empty.bin")}, ist::CifarKind::cifar10); });
  CHECK(contains(msg, dir.file("empty.bin") + ": expected a size that is a positive multiple"));
  CHECK(contains(msg, "found 0 bytes (empty file)"));
}

TEST_CASE("data: cifar rejects labels out of range") {
  TempDir dir("cifar_labels");
  write_raw(dir.file("c10.bin"), records({{9}, {10}}));
  auto msg = error_of([&] { (void)ist::load_cifar_binary({dir.file("c10.bin")}, ist::CifarKind::cifar10); });
  CHECK(msg == "ist::load_cifar_binary: " + dir.file("c10.bin") +
                   ": expected labels in [0, 10), found 10 in record 1 (label out of range)");
  write_raw(dir.file("fine.bin"), records({{3, 100}}));
  msg = error_of([&] { (void)ist::load_cifar_binary({dir.file("fine.bin")}, ist::CifarKind::cifar100_fine); });
  CHECK(contains(msg, dir.file("fine.bin") + ": expected coarse labels in [0, 20) and fine labels in [0, 100), "
                                             "found coarse 3 and fine 100 in record 0"));
  write_raw(dir.file("coarse.bin"), records({{20, 5}}));
  msg = error_of([&] { (void)ist::load_cifar_binary({dir.file("coarse.bin")}, ist::CifarKind::cifar100_fine); });
  CHECK(contains(msg, "found coarse 20 and fine 5"));
}

}  // namespace test_data_cifar
