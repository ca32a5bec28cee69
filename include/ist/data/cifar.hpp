#pragma once
// CIFAR-10 and CIFAR-100 "binary version" reader (https://www.cs.toronto.edu/~kriz/cifar.html).
//
// A file is a sequence of records, each: label byte(s), then 3072 pixel bytes (3x32x32, CHW, row-major).
//   CIFAR-10:  1 label byte in [0, 10)                        -> 3073-byte records
//   CIFAR-100: coarse label byte in [0, 20), fine in [0, 100) -> 3074-byte records
// A file whose size is not a positive multiple of the record size is reported as truncated. Files may
// also be gzipped (detected by their magic bytes).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/data/image_dataset.hpp"
#include "ist/data/input_file.hpp"

namespace ist {

// Which data set, and for CIFAR-100 which of its two labels becomes ImageDataset::labels.
enum class CifarKind { cifar10, cifar100_coarse, cifar100_fine };

namespace detail {
inline constexpr int cifar_side = 32;
inline constexpr int cifar_image_bytes = 3 * cifar_side * cifar_side;
inline const char* cifar_name(CifarKind kind) { return kind == CifarKind::cifar10 ? "CIFAR-10" : "CIFAR-100"; }
inline const char* cifar_download_hint(CifarKind kind) {
  return kind == CifarKind::cifar10
             ? "download the CIFAR-10 binary version (cifar-10-binary.tar.gz from "
               "https://www.cs.toronto.edu/~kriz/cifar.html), extract it and pass the folder it extracts to (or "
               "the one above it) as `dir` to ist::load_cifar10(dir, train), or its files to "
               "ist::load_cifar_binary(files, kind)"
             : "download the CIFAR-100 binary version (cifar-100-binary.tar.gz from "
               "https://www.cs.toronto.edu/~kriz/cifar.html), extract it and pass the folder it extracts to (or "
               "the one above it) as `dir` to ist::load_cifar100(dir, train, fine), or its files to "
               "ist::load_cifar_binary(files, kind)";
}
}  // namespace detail

// Number of classes of the labels `kind` selects: 10, 20 (CIFAR-100 coarse) or 100 (CIFAR-100 fine).
inline int cifar_num_classes(CifarKind kind) {
  switch (kind) {
    case CifarKind::cifar10: return 10;
    case CifarKind::cifar100_coarse: return 20;
    case CifarKind::cifar100_fine: return 100;
  }
  fail("ist::cifar_num_classes: expected a CifarKind, found ", static_cast<int>(kind));
}

// Every record of `files`, in order, as one 3x32x32 ImageDataset.
inline ImageDataset load_cifar_binary(const std::vector<std::string>& files, CifarKind kind) {
  constexpr const char* who = "ist::load_cifar_binary";
  IST_CHECK(!files.empty(), who, ": expected at least one file, found none");
  const bool c100 = kind != CifarKind::cifar10;
  const std::size_t label_bytes = c100 ? 2 : 1;
  const std::size_t record = label_bytes + detail::cifar_image_bytes;
  const int num_classes = cifar_num_classes(kind);

  ImageDataset d;
  d.c = 3;
  d.h = detail::cifar_side;
  d.w = detail::cifar_side;
  d.num_classes = num_classes;

  std::vector<unsigned char> rec(record);
  std::size_t n = 0;
  for (const std::string& path : files) {
    detail::InputFile in(path, who, detail::cifar_download_hint(kind));
    if (!in.gzipped()) {
      const std::uint64_t size = in.disk_size();
      if (size == 0 || size % record != 0) {
        fail(who, ": ", path, ": expected a size that is a positive multiple of the ", record, "-byte ",
             detail::cifar_name(kind), " record (", label_bytes, " label byte", c100 ? "s" : "", " + 3072 pixel bytes), found ",
             size, " bytes", size == 0 ? " (empty file)" : " (file truncated or not a CIFAR binary file)");
      }
      const std::size_t records = static_cast<std::size_t>(size / record);
      d.pixels.reserve(d.pixels.size() + records * detail::cifar_image_bytes);
      d.labels.reserve(d.labels.size() + records);
    }
    std::size_t in_file = 0;
    for (;;) {
      const std::size_t got = in.read(rec.data(), record);
      if (got == 0) break;
      if (got != record) {
        fail(who, ": ", path, ": expected a whole number of ", record, "-byte records, found ",
             in_file * record + got, " bytes (file truncated", in.gz_note(), ")");
      }
      const int coarse_or_label = rec[0];
      if (c100) {
        const int fine = rec[1];
        if (coarse_or_label >= 20 || fine >= 100) {
          fail(who, ": ", path, ": expected coarse labels in [0, 20) and fine labels in [0, 100), found coarse ",
               coarse_or_label, " and fine ", fine, " in record ", in_file, " (label out of range)");
        }
        d.labels.push_back(kind == CifarKind::cifar100_fine ? fine : coarse_or_label);
      } else {
        if (coarse_or_label >= 10) {
          fail(who, ": ", path, ": expected labels in [0, 10), found ", coarse_or_label, " in record ", in_file,
               " (label out of range)");
        }
        d.labels.push_back(coarse_or_label);
      }
      d.pixels.insert(d.pixels.end(), rec.begin() + static_cast<std::ptrdiff_t>(label_bytes), rec.end());
      ++in_file;
    }
    IST_CHECK(in_file > 0, who, ": ", path, ": expected at least one record, found an empty file");
    n += in_file;
    IST_CHECK(n <= 100000000, who, ": ", path, ": expected at most 100000000 records in all, found more");
  }
  d.n = static_cast<int>(n);
  d.source = files.front();
  for (std::size_t i = 1; i < files.size(); ++i) d.source += ", " + files[i];
  return d;
}

namespace detail {
// The folder among {dir, dir/sub} that holds `first`; throws naming both when neither does.
inline std::string cifar_find_dir(const char* who, const std::string& dir, const char* sub, const std::string& first,
                                  CifarKind kind) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path candidates[2] = {fs::path(dir), fs::path(dir) / sub};
  for (const fs::path& c : candidates) {
    if (fs::exists(c / first, ec)) return c.string();
  }
  fail(who, ": ", dir, ": expected ", first, " in ", candidates[0].string(), " or ", candidates[1].string(),
       ", found neither; ", cifar_download_hint(kind));
}
}  // namespace detail

// CIFAR-10's training (data_batch_1.bin .. data_batch_5.bin, 50 000 images) or test split (test_batch.bin,
// 10 000 images) from `dir` or from `dir`/cifar-10-batches-bin (the folder the archive extracts to).
inline ImageDataset load_cifar10(const std::string& dir, bool train) {
  std::vector<std::string> names;
  if (train) {
    for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
  } else {
    names.push_back("test_batch.bin");
  }
  const std::string folder =
      detail::cifar_find_dir("ist::load_cifar10", dir, "cifar-10-batches-bin", names.front(), CifarKind::cifar10);
  std::vector<std::string> files;
  for (const std::string& name : names) files.push_back((std::filesystem::path(folder) / name).string());
  return load_cifar_binary(files, CifarKind::cifar10);
}

// CIFAR-100's training (train.bin, 50 000 images) or test split (test.bin, 10 000 images) from `dir` or from
// `dir`/cifar-100-binary (the folder the archive extracts to); fine = 100 classes, else the 20 superclasses.
inline ImageDataset load_cifar100(const std::string& dir, bool train, bool fine = true) {
  const std::string name = train ? "train.bin" : "test.bin";
  const CifarKind kind = fine ? CifarKind::cifar100_fine : CifarKind::cifar100_coarse;
  const std::string folder = detail::cifar_find_dir("ist::load_cifar100", dir, "cifar-100-binary", name, kind);
  return load_cifar_binary({(std::filesystem::path(folder) / name).string()}, kind);
}

}  // namespace ist
