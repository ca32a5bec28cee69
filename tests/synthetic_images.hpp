#pragma once
// Small learnable image sets for trainer tests, built the same in every process.
#include <cstddef>
#include <cstdint>

#include "ist/core/rng.hpp"
#include "ist/data/image_dataset.hpp"

namespace ist::test {

// n gray 8x8 images in 3 classes: the class is the quadrant that is brighter, plus noise.
inline ImageDataset quadrant_images(int n, std::uint64_t seed) {
  ImageDataset d;
  d.n = n;
  d.c = 1;
  d.h = d.w = 8;
  d.num_classes = 3;
  d.source = "quadrants";
  Rng rng(seed);
  d.pixels.resize(std::size_t(n) * 64);
  d.labels.resize(std::size_t(n));
  for (int i = 0; i < n; ++i) {
    const int y = int(rng.below(3));
    d.labels[std::size_t(i)] = y;
    for (int p = 0; p < 64; ++p) {
      const int quadrant = (p / 8 >= 4 ? 2 : 0) + (p % 8 >= 4 ? 1 : 0);
      d.pixels[std::size_t(i) * 64 + std::size_t(p)] = std::uint8_t(40 + (quadrant == y ? 120 : 0) + 90 * rng.uniform());
    }
  }
  return d;
}

}  // namespace ist::test
