// IDX reader (MNIST / Fashion-MNIST): raw and gzipped files, malformed inputs, the real Fashion-MNIST.
#include <doctest/doctest.h>
#include <zlib.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/data/batch_iterator.hpp"
#include "ist/data/idx.hpp"
#include "skip.hpp"
#include "expect_error.hpp"

namespace test_data_idx {

#ifndef IST_FASHION_MNIST_DIR
#define IST_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#endif

namespace fs = std::filesystem;

namespace {

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
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

void write_gz(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

void put_be32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 24));
  v.push_back(static_cast<std::uint8_t>(x >> 16));
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}

// n images of rows x cols; pixel (i, k) = (7 * i + k) % 256.
std::vector<std::uint8_t> idx_images(std::uint32_t n, std::uint32_t rows, std::uint32_t cols,
                                     std::uint32_t magic = 2051) {
  std::vector<std::uint8_t> v;
  put_be32(v, magic);
  put_be32(v, n);
  put_be32(v, rows);
  put_be32(v, cols);
  for (std::uint32_t i = 0; i < n; ++i)
    for (std::uint32_t k = 0; k < rows * cols; ++k) v.push_back(static_cast<std::uint8_t>((7 * i + k) % 256));
  return v;
}

std::vector<std::uint8_t> idx_labels(const std::vector<std::uint8_t>& labels, std::uint32_t magic = 2049) {
  std::vector<std::uint8_t> v;
  put_be32(v, magic);
  put_be32(v, static_cast<std::uint32_t>(labels.size()));
  v.insert(v.end(), labels.begin(), labels.end());
  return v;
}

using ist::test::contains;
using ist::test::error_of;

void check_valid_small(const ist::ImageDataset& d) {
  CHECK(d.n == 3);
  CHECK(d.c == 1);
  CHECK(d.h == 2);
  CHECK(d.w == 4);
  CHECK(d.num_classes == 10);
  CHECK(d.image_size() == 8);
  REQUIRE(d.pixels.size() == 24);
  for (std::uint32_t i = 0; i < 3; ++i)
    for (std::uint32_t k = 0; k < 8; ++k) CHECK(d.pixels[i * 8 + k] == (7 * i + k) % 256);
  CHECK(d.labels == std::vector<std::int32_t>{4, 0, 9});
}

}  // namespace

TEST_CASE("data: idx reads a valid raw and a valid gzipped file") {
  TempDir dir("idx_valid");
  const auto images = idx_images(3, 2, 4);
  const auto labels = idx_labels({4, 0, 9});
  write_raw(dir.file("img"), images);
  write_raw(dir.file("lab"), labels);
  write_gz(dir.file("img.gz"), images);
  write_gz(dir.file("lab.gz"), labels);

  SUBCASE("raw") { check_valid_small(ist::load_idx_dataset(dir.file("img"), dir.file("lab"))); }
  SUBCASE("gzipped") { check_valid_small(ist::load_idx_dataset(dir.file("img.gz"), dir.file("lab.gz"))); }
  SUBCASE("mixed") { check_valid_small(ist::load_idx_dataset(dir.file("img.gz"), dir.file("lab"))); }
  SUBCASE("images alone have no labels") {
    const auto d = ist::load_idx_images(dir.file("img.gz"));
    CHECK(d.n == 3);
    CHECK(d.labels.empty());
    CHECK(d.source == dir.file("img.gz"));
    CHECK(ist::load_idx_labels(dir.file("lab.gz")) == std::vector<std::int32_t>{4, 0, 9});
  }
  SUBCASE("take_first") {
    const auto d = ist::load_idx_dataset(dir.file("img"), dir.file("lab"));
    const auto first = ist::take_first(d, 2);
    CHECK(first.n == 2);
    CHECK(first.labels == std::vector<std::int32_t>{4, 0});
    CHECK(first.pixels == std::vector<std::uint8_t>(d.pixels.begin(), d.pixels.begin() + 16));
    CHECK(ist::take_first(d, 0).n == 0);
    const auto msg = error_of([&] { (void)ist::take_first(d, 4); });
    CHECK(contains(msg, "ist::take_first: "));
    CHECK(contains(msg, "expected count in [0, 3], found 4"));
  }
}

TEST_CASE("data: idx reports a missing file with what to do") {
  TempDir dir("idx_missing");
  const auto msg = error_of([&] { (void)ist::load_idx_images(dir.file("nope.gz")); });
  CHECK(contains(msg, "ist::load_idx_images: " + dir.file("nope.gz") + ": file not found"));
  CHECK(contains(msg, "dataset-fashion-mnist"));
  // The library speaks of its own arguments, not of a program's flags.
  CHECK(contains(msg, "expected an IDX file at `path`"));
  CHECK(!contains(msg, "--data"));

  const auto msg2 = error_of([&] { (void)ist::load_fashion_mnist(dir.path.string(), true); });
  CHECK(contains(msg2, "ist::load_fashion_mnist: "));
  CHECK(contains(msg2, "train-images-idx3-ubyte.gz or train-images-idx3-ubyte"));
  CHECK(contains(msg2, "found neither"));
  CHECK(contains(msg2, "dataset-fashion-mnist"));
  CHECK(contains(msg2, "as `dir` (ist::load_fashion_mnist(dir, train))"));
  CHECK(!contains(msg2, "--data"));

  const auto msg3 = error_of([&] { (void)ist::load_fashion_mnist(dir.file("no_such_dir"), false); });
  CHECK(contains(msg3, dir.file("no_such_dir")));
  CHECK(contains(msg3, "expected a directory"));
}

TEST_CASE("data: idx rejects a wrong magic") {
  TempDir dir("idx_magic");
  write_raw(dir.file("img"), idx_images(3, 2, 4));
  write_gz(dir.file("lab.gz"), idx_labels({1, 2, 3}));
  write_raw(dir.file("zeros"), std::vector<std::uint8_t>(40, 0));
  // Swapped arguments: a labels file where images are expected, and the other way round.
  auto msg = error_of([&] { (void)ist::load_idx_images(dir.file("lab.gz")); });
  CHECK(msg == "ist::load_idx_images: " + dir.file("lab.gz") +
                   ": expected magic 2051 (IDX images), found 2049 (an IDX labels file)");
  msg = error_of([&] { (void)ist::load_idx_labels(dir.file("img")); });
  CHECK(contains(msg, "ist::load_idx_labels: " + dir.file("img") + ": expected magic 2049"));
  CHECK(contains(msg, "found 2051"));
  msg = error_of([&] { (void)ist::load_idx_images(dir.file("zeros")); });
  CHECK(msg == "ist::load_idx_images: " + dir.file("zeros") + ": expected magic 2051 (IDX images), found 0");
}

TEST_CASE("data: idx rejects truncated and oversized files") {
  TempDir dir("idx_trunc");
  auto images = idx_images(3, 2, 4);  // 16 + 24 bytes
  auto cut = images;
  cut.resize(30);
  write_raw(dir.file("img_cut"), cut);
  write_gz(dir.file("img_cut.gz"), cut);
  auto longer = images;
  longer.push_back(0);
  write_raw(dir.file("img_long"), longer);
  write_gz(dir.file("img_long.gz"), longer);
  write_raw(dir.file("short_header"), std::vector<std::uint8_t>(images.begin(), images.begin() + 10));
  auto labels = idx_labels({1, 2, 3, 4, 5});
  labels.pop_back();
  write_raw(dir.file("lab_cut"), labels);

  auto msg = error_of([&] { (void)ist::load_idx_images(dir.file("img_cut")); });
  CHECK(msg == "ist::load_idx_images: " + dir.file("img_cut") +
                   ": expected 16 + 3*2*4 = 40 bytes, found 30 (file truncated)");
  msg = error_of([&] { (void)ist::load_idx_images(dir.file("img_cut.gz")); });
  CHECK(contains(msg, "ist::load_idx_images: " + dir.file("img_cut.gz") + ": expected 24 bytes of pixel data"));
  CHECK(contains(msg, "found 14 (file truncated"));
  msg = error_of([&] { (void)ist::load_idx_images(dir.file("img_long")); });
  CHECK(contains(msg, "expected 16 + 3*2*4 = 40 bytes, found 41 (trailing data)"));
  msg = error_of([&] { (void)ist::load_idx_images(dir.file("img_long.gz")); });
  CHECK(contains(msg, dir.file("img_long.gz") + ": expected 40 bytes in total, found more (trailing data)"));
  msg = error_of([&] { (void)ist::load_idx_images(dir.file("short_header")); });
  CHECK(contains(msg, "expected a 16-byte IDX images header, found 10 bytes"));
  msg = error_of([&] { (void)ist::load_idx_labels(dir.file("lab_cut")); });
  CHECK(contains(msg, "ist::load_idx_labels: " + dir.file("lab_cut") + ": expected 8 + 5 = 13 bytes, found 12"));
  CHECK(contains(msg, "truncated"));
}

TEST_CASE("data: idx rejects a truncated and a corrupted gzip stream") {
  TempDir dir("idx_gzcut");
  // Incompressible-ish pixels so the compressed stream is long enough to cut in the middle.
  auto images = idx_images(50, 28, 28);
  ist::Rng rng(5);
  for (std::size_t k = 16; k < images.size(); ++k) images[k] = static_cast<std::uint8_t>(rng());
  write_gz(dir.file("img.gz"), images);
  const auto full = fs::file_size(dir.file("img.gz"));
  fs::copy_file(dir.file("img.gz"), dir.file("cut.gz"));
  fs::resize_file(dir.file("cut.gz"), full / 2);
  auto msg = error_of([&] { (void)ist::load_idx_images(dir.file("cut.gz")); });
  CHECK(contains(msg, "ist::load_idx_images: " + dir.file("cut.gz") + ": expected 39200 bytes of pixel data"));
  CHECK(contains(msg, "truncated or corrupt"));

  // Flip a byte of the stored CRC (8 bytes from the end): the data decompresses but fails its check.
  std::vector<char> bytes(full);
  {
    std::ifstream f(dir.file("img.gz"), std::ios::binary);
    f.read(bytes.data(), static_cast<std::streamsize>(full));
  }
  bytes[full - 8] = static_cast<char>(bytes[full - 8] ^ 0x55);
  {
    std::ofstream f(dir.file("crc.gz"), std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(full));
  }
  msg = error_of([&] { (void)ist::load_idx_images(dir.file("crc.gz")); });
  CHECK(contains(msg, "ist::load_idx_images: " + dir.file("crc.gz") + ": corrupt gzip data"));
}

TEST_CASE("data: idx rejects absurd dimensions") {
  TempDir dir("idx_dims");
  write_raw(dir.file("zero_n"), idx_images(0, 28, 28));
  write_raw(dir.file("zero_rows"), idx_images(2, 0, 28));
  std::vector<std::uint8_t> huge;
  put_be32(huge, 2051);
  put_be32(huge, 60000);
  put_be32(huge, 100000);
  put_be32(huge, 28);
  write_raw(dir.file("huge"), huge);
  std::vector<std::uint8_t> negative;
  put_be32(negative, 2051);
  put_be32(negative, 0x80000000u);
  put_be32(negative, 28);
  put_be32(negative, 28);
  write_raw(dir.file("negative"), negative);

  auto msg = error_of([&] { (void)ist::load_idx_images(dir.file("zero_n")); });
  CHECK(contains(msg, dir.file("zero_n") + ": expected an image count in [1, 2147483647], found 0"));
  msg = error_of([&] { (void)ist::load_idx_images(dir.file("zero_rows")); });
  CHECK(contains(msg, "expected image dimensions in [1, 4096], found 0x28"));
  msg = error_of([&] { (void)ist::load_idx_images(dir.file("huge")); });
  CHECK(contains(msg, "expected image dimensions in [1, 4096], found 100000x28"));
  msg = error_of([&] { (void)ist::load_idx_images(dir.file("negative")); });
  CHECK(contains(msg, "found 2147483648"));
}

TEST_CASE("data: idx rejects count mismatch and labels out of range") {
  TempDir dir("idx_labels");
  write_gz(dir.file("img.gz"), idx_images(3, 2, 4));
  write_gz(dir.file("lab4.gz"), idx_labels({1, 2, 3, 4}));
  write_gz(dir.file("lab_bad.gz"), idx_labels({1, 10, 3}));

  auto msg = error_of([&] { (void)ist::load_idx_dataset(dir.file("img.gz"), dir.file("lab4.gz")); });
  CHECK(msg == "ist::load_idx_dataset: " + dir.file("img.gz") + ", " + dir.file("lab4.gz") +
                   ": expected as many labels as images (3), found 4 labels (count mismatch between the images and "
                   "labels files)");
  msg = error_of([&] { (void)ist::load_idx_dataset(dir.file("img.gz"), dir.file("lab_bad.gz")); });
  CHECK(msg == "ist::load_idx_dataset: " + dir.file("lab_bad.gz") +
                   ": expected labels in [0, 10), found 10 at index 1 (label out of range)");
  // With 11 classes the same labels are fine.
  CHECK(ist::load_idx_dataset(dir.file("img.gz"), dir.file("lab_bad.gz"), 11).num_classes == 11);
  msg = error_of([&] { (void)ist::load_idx_dataset(dir.file("img.gz"), dir.file("lab_bad.gz"), 0); });
  CHECK(contains(msg, "expected num_classes >= 1, found 0"));
}

TEST_CASE("data: idx finds Fashion-MNIST files with or without .gz") {
  TempDir dir("idx_fashion");
  write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_images(3, 2, 4));
  write_raw(dir.file("t10k-labels-idx1-ubyte"), idx_labels({4, 0, 9}));
  const auto d = ist::load_fashion_mnist(dir.path.string(), false);
  check_valid_small(d);
  CHECK(contains(d.source, "t10k-images-idx3-ubyte.gz"));
  CHECK(contains(d.source, "t10k-labels-idx1-ubyte"));
  const auto msg = error_of([&] { (void)ist::load_fashion_mnist(dir.path.string(), true); });
  CHECK(contains(msg, "train-images-idx3-ubyte"));
}

// The environment variable IST_FASHION_MNIST_DIR overrides the folder (tests/CMakeLists.txt points it at a
// missing one to check that the test then reports itself skipped).
TEST_CASE("data: the real Fashion-MNIST") {
  const char* env = std::getenv("IST_FASHION_MNIST_DIR");
  const std::string dir = env && *env ? env : IST_FASHION_MNIST_DIR;
  if (!fs::is_directory(dir))
    IST_SKIP_TEST(dir + " not found (install the Debian package dataset-fashion-mnist)");
  SUBCASE("test split") {
    const auto d = ist::load_fashion_mnist(dir, false);
    CHECK(d.n == 10000);
    CHECK(d.c == 1);
    CHECK(d.h == 28);
    CHECK(d.w == 28);
    CHECK(d.num_classes == 10);
    CHECK(d.pixels.size() == 10000u * 784u);
    std::array<int, 10> per_class{};
    for (auto y : d.labels) {
      REQUIRE((y >= 0 && y < 10));
      ++per_class[static_cast<std::size_t>(y)];
    }
    for (int k : per_class) CHECK(k == 1000);
  }
  SUBCASE("training split matches the published normalization") {
    const auto d = ist::load_fashion_mnist(dir, true);
    CHECK(d.n == 60000);
    std::array<int, 10> per_class{};
    for (auto y : d.labels) ++per_class[static_cast<std::size_t>(y)];
    for (int k : per_class) CHECK(k == 6000);
    const auto norm = ist::compute_normalization(d);
    const auto ref = ist::fashion_mnist_normalization();
    CHECK(norm.mean[0] == doctest::Approx(ref.mean[0]).epsilon(0.001));
    CHECK(norm.stddev[0] == doctest::Approx(ref.stddev[0]).epsilon(0.001));
  }
}

// Found by tests/fuzz/fuzz_idx (out of memory): a gzipped file's size is unknown until it is read, so a few
// bytes of gzip whose header claims 16 GiB of pixels (or 2^31 - 1 labels) made the reader allocate all of it
// before finding the data short. The buffer now grows only as data arrives.
TEST_CASE("data: idx rejects a small gzipped file whose header claims gigabytes, without allocating them") {
  TempDir dir("idx_gzbomb");
  std::vector<std::uint8_t> images;
  put_be32(images, 2051);
  put_be32(images, 1024);
  put_be32(images, 4096);
  put_be32(images, 4096);  // 1024 x 4096 x 4096 = 2^34 bytes, the largest payload the header check allows
  images.insert(images.end(), 100, 7);
  write_gz(dir.file("images.gz"), images);
  auto msg = error_of([&] { (void)ist::load_idx_images(dir.file("images.gz")); });
  CHECK(contains(msg, "ist::load_idx_images: " + dir.file("images.gz") +
                          ": expected 17179869184 bytes of pixel data after the 16-byte header, found 100 (file truncated"));

  std::vector<std::uint8_t> labels;
  put_be32(labels, 2049);
  put_be32(labels, 2147483647u);
  labels.insert(labels.end(), 5, 1);
  write_gz(dir.file("labels.gz"), labels);
  msg = error_of([&] { (void)ist::load_idx_labels(dir.file("labels.gz")); });
  CHECK(contains(msg, "ist::load_idx_labels: " + dir.file("labels.gz") +
                          ": expected 2147483647 bytes of labels after the 8-byte header, found 5 (file truncated"));
}

}  // namespace test_data_idx
