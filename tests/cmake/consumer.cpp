// The consumer program of both packaging tests (tests/cmake/{find_package,add_subdirectory}): it includes
// ist headers the way a user does and checks that they work and that ist's dependencies (Eigen, OpenMP,
// zlib) reach the user through the targets ist::ist and ist::data.
#include <ist/ist.hpp>

#include <Eigen/Core>
#include <omp.h>
#include <zlib.h>

#include <cstdio>
#include <string>

int main() {
  ist::Rng a(42, {1, 2});
  ist::Rng b(42, {1, 2});
  for (int i = 0; i < 1000; ++i) {
    if (a() != b()) {
      std::fprintf(stderr, "consumer: expected two Rng(42, {1, 2}) to agree, they differ at draw %d\n", i);
      return 1;
    }
  }

  std::string message;
  try {
    IST_CHECK(1 + 1 == 3, "consumer: expected ", 3, ", found ", 2);
  } catch (const ist::Error& e) {
    message = e.what();
  }
  if (message != "consumer: expected 3, found 2") {
    std::fprintf(stderr, "consumer: IST_CHECK threw '%s'\n", message.c_str());
    return 1;
  }

  // One training round of a tiny ResNet through the public API: the plan, slices, trainer and ledger.
  using Net = ist::ResNet<ist::Stem<1, 4>, ist::Stage<4, 4, 3, 1, ist::Partitioned>, ist::Head<4, 2>>;
  ist::ImageDataset data;
  data.n = 16;
  data.c = 1;
  data.h = data.w = 6;
  data.num_classes = 2;
  data.source = "consumer";
  data.pixels.assign(16 * 36, 0);
  data.labels.assign(16, 0);
  for (int i = 0; i < 16; ++i) {
    data.labels[std::size_t(i)] = i % 2;
    for (int p = 0; p < 36; ++p) data.pixels[std::size_t(i * 36 + p)] = std::uint8_t(i % 2 ? 200 : 20);
  }
  ist::TrainerConfig cfg;
  cfg.local_steps = 2;
  cfg.max_rounds = 1;
  cfg.batch = 4;
  cfg.progress = false;
  ist::IndependentSubnetTrainer<Net, ist::LayerwiseRandom> trainer(ist::LayerwiseRandom{}, ist::HolderAverage{},
                                                                   ist::CpuBackend<>(ist::InProcessComm(2)), cfg);
  const ist::FitResult r = trainer.fit(data, data);
  if (r.rounds.size() != 1 || r.total_bytes == 0 || r.total_bytes >= r.local_sgd_bytes) {
    std::fprintf(stderr, "consumer: expected 1 round moving less than local SGD, found %zu rounds, %llu bytes\n",
                 r.rounds.size(), static_cast<unsigned long long>(r.total_bytes));
    return 1;
  }

  const Eigen::Vector3f v = Eigen::Vector3f::Ones();
  std::printf("ist consumer OK: 1 ResIST round moved %llu bytes, Rng draw %llu, Eigen %d.%d.%d sum %g, OpenMP threads %d, zlib %s\n",
              static_cast<unsigned long long>(r.total_bytes), static_cast<unsigned long long>(a()), EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION,
              EIGEN_MINOR_VERSION, static_cast<double>(v.sum()), omp_get_max_threads(), zlibVersion());
  return 0;
}
