#pragma once
// An image classification data set held in memory as bytes (60 000 Fashion-MNIST images take 47 MB),
// as the IDX and CIFAR readers return it. Conversion to float happens batch by batch (batch_iterator.hpp).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"

namespace ist {

struct ImageDataset {
  std::vector<std::uint8_t> pixels;  // [n, c, h, w] row-major, raw 0..255
  std::vector<std::int32_t> labels;  // [n], each in [0, num_classes)
  int n = 0, c = 0, h = 0, w = 0, num_classes = 0;
  std::string source;  // the file(s) it came from, for messages
  std::vector<std::string> class_names;  // label k's name, where the reader knows it (image folders); else empty
  std::size_t image_size() const { return static_cast<std::size_t>(c) * h * w; }
};

// The first `count` images and labels of `data` (0 <= count <= data.n).
inline ImageDataset take_first(const ImageDataset& data, int count) {
  IST_CHECK(count >= 0 && count <= data.n, "ist::take_first: ", data.source, ": expected count in [0, ", data.n,
            "], found ", count);
  IST_CHECK(data.pixels.size() == static_cast<std::size_t>(data.n) * data.image_size() &&
                data.labels.size() == static_cast<std::size_t>(data.n),
            "ist::take_first: ", data.source, ": expected ", data.n, " images of ", data.image_size(),
            " bytes and ", data.n, " labels, found ", data.pixels.size(), " pixel bytes and ", data.labels.size(),
            " labels");
  ImageDataset out;
  const std::size_t bytes = static_cast<std::size_t>(count) * data.image_size();
  out.pixels.assign(data.pixels.begin(), data.pixels.begin() + static_cast<std::ptrdiff_t>(bytes));
  out.labels.assign(data.labels.begin(), data.labels.begin() + count);
  out.n = count;
  out.c = data.c;
  out.h = data.h;
  out.w = data.w;
  out.num_classes = data.num_classes;
  out.class_names = data.class_names;
  out.source = data.source + " (first " + std::to_string(count) + ")";
  return out;
}

// A copy of `data` with its images in one random order, a pure function of `seed` (Rng(seed).shuffle).
// An image folder is sorted by class; shuffle it once after loading so that
//   * take_first(d, N) keeps every class in proportion (in expectation), not the first classes only, and
//   * evaluation with batch statistics (ResIST's, and ist's: no running statistics) sees batches of mixed
//     classes: a batch of one class, normalized by its own statistics, measures nothing useful.
// Training order is unaffected: every epoch shuffles anyway.
inline ImageDataset shuffled(const ImageDataset& data, std::uint64_t seed) {
  IST_CHECK(data.pixels.size() == static_cast<std::size_t>(data.n) * data.image_size() &&
                data.labels.size() == static_cast<std::size_t>(data.n),
            "ist::shuffled: ", data.source, ": expected ", data.n, " images of ", data.image_size(),
            " bytes and ", data.n, " labels, found ", data.pixels.size(), " pixel bytes and ", data.labels.size(),
            " labels");
  std::vector<std::int32_t> order(static_cast<std::size_t>(data.n));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  rng.shuffle(std::span<std::int32_t>(order));
  ImageDataset out = take_first(data, 0);
  const std::size_t image = data.image_size();
  out.pixels.resize(static_cast<std::size_t>(data.n) * image);
  out.labels.resize(static_cast<std::size_t>(data.n));
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t i = static_cast<std::size_t>(order[k]);
    std::copy_n(data.pixels.begin() + static_cast<std::ptrdiff_t>(i * image), image,
                out.pixels.begin() + static_cast<std::ptrdiff_t>(k * image));
    out.labels[k] = data.labels[i];
  }
  out.n = data.n;
  out.source = data.source;
  return out;
}

}  // namespace ist
