#pragma once
// IDX reader for MNIST and Fashion-MNIST, gzipped (detected by the magic bytes 1f 8b) or raw.
//
// Format (all header integers big-endian):
//   images: u32 magic 2051 (0x00000803: unsigned bytes, 3 dimensions), u32 n, u32 rows, u32 cols,
//           then n*rows*cols pixel bytes, row-major.
//   labels: u32 magic 2049 (0x00000801: unsigned bytes, 1 dimension), u32 n, then n label bytes.
// The files must hold exactly that many bytes: a short file is reported as truncated, extra bytes as
// trailing data. Every error names the function, the file, what was expected and what was found.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/data/image_dataset.hpp"
#include "ist/data/input_file.hpp"

namespace ist {

namespace detail {
inline constexpr std::uint32_t idx_images_magic = 2051;
inline constexpr std::uint32_t idx_labels_magic = 2049;
inline constexpr std::uint32_t idx_max_side = 4096;                   // rows and cols
inline constexpr std::uint64_t idx_max_pixel_bytes = std::uint64_t{1} << 34;  // 16 GiB
inline constexpr const char* idx_missing_hint =
    "expected an IDX file at `path` (for Fashion-MNIST install the Debian package dataset-fashion-mnist, which "
    "puts the files in /usr/share/datasets/fashion-mnist, and pass that folder as `dir` to "
    "ist::load_fashion_mnist(dir, train))";

inline const char* idx_magic_note(std::uint32_t magic) {
  if (magic == idx_images_magic) return " (an IDX images file)";
  if (magic == idx_labels_magic) return " (an IDX labels file)";
  return "";
}
}  // namespace detail

// Images of an IDX file as an ImageDataset with c = 1 and no labels (labels empty, num_classes 0).
inline ImageDataset load_idx_images(const std::string& path) {
  constexpr const char* who = "ist::load_idx_images";
  detail::InputFile in(path, who, detail::idx_missing_hint);
  unsigned char header[16];
  const std::size_t got = in.read(header, sizeof header);
  if (got < 4) fail(who, ": ", path, ": expected a 16-byte IDX images header, found ", got, " bytes");
  const std::uint32_t magic = detail::read_be32(header);
  if (magic != detail::idx_images_magic) {
    fail(who, ": ", path, ": expected magic 2051 (IDX images), found ", magic, detail::idx_magic_note(magic));
  }
  if (got < sizeof header) fail(who, ": ", path, ": expected a 16-byte IDX images header, found ", got, " bytes");
  const std::uint32_t n = detail::read_be32(header + 4);
  const std::uint32_t rows = detail::read_be32(header + 8);
  const std::uint32_t cols = detail::read_be32(header + 12);
  IST_CHECK(n >= 1 && n <= static_cast<std::uint32_t>(std::numeric_limits<int>::max()), who, ": ", path,
            ": expected an image count in [1, 2147483647], found ", n);
  IST_CHECK(rows >= 1 && rows <= detail::idx_max_side && cols >= 1 && cols <= detail::idx_max_side, who, ": ",
            path, ": expected image dimensions in [1, ", detail::idx_max_side, "], found ", rows, "x", cols);
  const std::uint64_t payload = std::uint64_t{n} * rows * cols;
  IST_CHECK(payload <= detail::idx_max_pixel_bytes, who, ": ", path, ": expected at most ",
            detail::idx_max_pixel_bytes, " pixel bytes, found a header claiming ", n, "x", rows, "x", cols, " = ",
            payload);
  const std::uint64_t total = sizeof header + payload;
  if (!in.gzipped() && in.disk_size() != total) {
    fail(who, ": ", path, ": expected 16 + ", n, "*", rows, "*", cols, " = ", total, " bytes, found ",
         in.disk_size(), in.disk_size() < total ? " (file truncated)" : " (trailing data)");
  }
  ImageDataset d;
  in.read_exact_into(d.pixels, payload, "pixel data after the 16-byte header");
  in.expect_end(total);
  d.n = static_cast<int>(n);
  d.c = 1;
  d.h = static_cast<int>(rows);
  d.w = static_cast<int>(cols);
  d.source = path;
  return d;
}

// Labels of an IDX file, each 0..255 (range against a class count is checked by load_idx_dataset).
inline std::vector<std::int32_t> load_idx_labels(const std::string& path) {
  constexpr const char* who = "ist::load_idx_labels";
  detail::InputFile in(path, who, detail::idx_missing_hint);
  unsigned char header[8];
  const std::size_t got = in.read(header, sizeof header);
  if (got < 4) fail(who, ": ", path, ": expected an 8-byte IDX labels header, found ", got, " bytes");
  const std::uint32_t magic = detail::read_be32(header);
  if (magic != detail::idx_labels_magic) {
    fail(who, ": ", path, ": expected magic 2049 (IDX labels), found ", magic, detail::idx_magic_note(magic));
  }
  if (got < sizeof header) fail(who, ": ", path, ": expected an 8-byte IDX labels header, found ", got, " bytes");
  const std::uint32_t n = detail::read_be32(header + 4);
  IST_CHECK(n >= 1 && n <= static_cast<std::uint32_t>(std::numeric_limits<int>::max()), who, ": ", path,
            ": expected a label count in [1, 2147483647], found ", n);
  const std::uint64_t total = sizeof header + std::uint64_t{n};
  if (!in.gzipped() && in.disk_size() != total) {
    fail(who, ": ", path, ": expected 8 + ", n, " = ", total, " bytes, found ", in.disk_size(),
         in.disk_size() < total ? " (file truncated)" : " (trailing data)");
  }
  std::vector<std::uint8_t> bytes;
  in.read_exact_into(bytes, n, "labels after the 8-byte header");
  in.expect_end(total);
  return std::vector<std::int32_t>(bytes.begin(), bytes.end());
}

// Images and labels together; checks that the counts agree and every label is in [0, num_classes).
inline ImageDataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                     int num_classes = 10) {
  constexpr const char* who = "ist::load_idx_dataset";
  IST_CHECK(num_classes >= 1, who, ": ", labels_path, ": expected num_classes >= 1, found ", num_classes);
  ImageDataset d = load_idx_images(images_path);
  d.labels = load_idx_labels(labels_path);
  if (d.labels.size() != static_cast<std::size_t>(d.n)) {
    fail(who, ": ", images_path, ", ", labels_path, ": expected as many labels as images (", d.n, "), found ",
         d.labels.size(), " labels (count mismatch between the images and labels files)");
  }
  for (std::size_t i = 0; i < d.labels.size(); ++i) {
    if (d.labels[i] < 0 || d.labels[i] >= num_classes) {
      fail(who, ": ", labels_path, ": expected labels in [0, ", num_classes, "), found ", d.labels[i],
           " at index ", i, " (label out of range)");
    }
  }
  d.num_classes = num_classes;
  d.source = images_path + " + " + labels_path;
  return d;
}

// Fashion-MNIST's training (60 000) or test (10 000) split from `dir`, which holds
// {train,t10k}-{images-idx3,labels-idx1}-ubyte, each gzipped (.gz, preferred) or raw. The Debian package
// dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist.
inline ImageDataset load_fashion_mnist(const std::string& dir, bool train) {
  constexpr const char* who = "ist::load_fashion_mnist";
  const char* hint =
      "install the Debian package dataset-fashion-mnist (files in /usr/share/datasets/fashion-mnist) or pass "
      "the folder holding the files as `dir` (ist::load_fashion_mnist(dir, train))";
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(who, ": ", dir, ": expected a directory of Fashion-MNIST files, found ",
                                       fs::exists(dir, ec) ? "a file" : "nothing", "; ", hint);
  const std::string prefix = train ? "train" : "t10k";
  auto find = [&](const std::string& base) {
    for (const std::string& name : {base + ".gz", base}) {
      const fs::path p = fs::path(dir) / name;
      if (fs::is_regular_file(p, ec)) return p.string();
    }
    fail(who, ": ", (fs::path(dir) / base).string(), "(.gz): expected ", base, ".gz or ", base, " in ", dir,
         ", found neither; ", hint);
  };
  const std::string images = find(prefix + "-images-idx3-ubyte");
  const std::string labels = find(prefix + "-labels-idx1-ubyte");
  return load_idx_dataset(images, labels, 10);
}

}  // namespace ist
