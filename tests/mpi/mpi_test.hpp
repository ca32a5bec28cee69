#pragma once
// Helpers of the MPI tests: this rank, a synthetic data set that every rank builds identically, and the
// small ResNet the trainer tests train.
#include <mpi.h>

#include <algorithm>
#include <cstdint>

#include "ist/core/rng.hpp"
#include "ist/data/image_dataset.hpp"
#include "ist/model/resnet.hpp"

namespace ist::mpi_test {

inline int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
inline int world_size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// A stem, one shared stage and a partitioned stage whose 8 decomposable blocks ResIST deals out.
using TinyNet = ResNet<Stem<1, 4>, Stage<4, 4, 1, 1>, Stage<4, 8, 9, 2, Partitioned>, Head<8, 3>>;

inline ImageDataset synthetic(int n, int c, int hw, int classes, std::uint64_t seed) {
  ImageDataset d;
  d.n = n;
  d.c = c;
  d.h = d.w = hw;
  d.num_classes = classes;
  d.source = "synthetic";
  Rng rng(seed);
  d.pixels.resize(std::size_t(n) * std::size_t(c * hw * hw));
  d.labels.resize(std::size_t(n));
  for (int i = 0; i < n; ++i) {
    const int y = int(rng.below(std::uint64_t(classes)));
    d.labels[std::size_t(i)] = y;
    for (int p = 0; p < c * hw * hw; ++p)  // class-dependent brightness plus noise: learnable
      d.pixels[std::size_t(i) * std::size_t(c * hw * hw) + std::size_t(p)] =
          std::uint8_t(std::min(255.0, 60.0 * y + 80.0 * rng.uniform()));
  }
  return d;
}

}  // namespace ist::mpi_test

// In a doctest test case: tags every failure of the enclosing scope with the rank that saw it.
#define MPI_RANK_INFO() INFO("on MPI rank ", ::ist::mpi_test::world_rank(), " of ", ::ist::mpi_test::world_size())
