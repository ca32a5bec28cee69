// The consumer program of both packaging tests (tests/cmake/{find_package,add_subdirectory}): it includes
// ist headers the way a user does and checks that they work and that ist's dependencies (Eigen, OpenMP,
// zlib) reach the user through the targets ist::ist and ist::data.
#include <ist/core/error.hpp>
#include <ist/core/rng.hpp>

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

  const Eigen::Vector3f v = Eigen::Vector3f::Ones();
  std::printf("ist consumer OK: Rng draw %llu, Eigen %d.%d.%d sum %g, OpenMP threads %d, zlib %s\n",
              static_cast<unsigned long long>(a()), EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION,
              EIGEN_MINOR_VERSION, static_cast<double>(v.sum()), omp_get_max_threads(), zlibVersion());
  return 0;
}
