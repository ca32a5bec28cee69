// The consumer program of both packaging tests (tests/cmake/{find_package,add_subdirectory}): it includes
// ist headers the way a user does and checks that they work and that ist's dependencies (Eigen, OpenMP,
// zlib, TurboJPEG, libpng) reach the user through the targets ist::ist and ist::data.
#include <ist/ist.hpp>

#include <Eigen/Core>
#include <omp.h>
#include <png.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <cstring>
#include <vector>

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

  // The image-folder reader's decoders: a 2x2 gray image through libpng's and TurboJPEG's encoders.
  const unsigned char gray[4] = {0, 85, 170, 255};
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = png.height = 2;
  png.format = PNG_FORMAT_GRAY;
  std::vector<unsigned char> png_file(1024);
  png_alloc_size_t png_size = png_file.size();
  unsigned char* jpeg_file = nullptr;
  unsigned long jpeg_size = 0;
  tjhandle tj = tjInitCompress();
  if (png_image_write_to_memory(&png, png_file.data(), &png_size, 0, gray, 0, nullptr) == 0 || tj == nullptr ||
      tjCompress2(tj, gray, 2, 0, 2, TJPF_GRAY, &jpeg_file, &jpeg_size, TJSAMP_GRAY, 100, 0) != 0) {
    std::fprintf(stderr, "consumer: expected to encode a PNG and a JPEG, failed\n");
    return 1;
  }
  const ist::detail::DecodedImage from_png = ist::detail::decode_image(png_file.data(), png_size, 3, "consumer.png");
  const ist::detail::DecodedImage from_jpeg = ist::detail::decode_image(jpeg_file, jpeg_size, 0, "consumer.jpg");
  tjFree(jpeg_file);
  tjDestroy(tj);
  if (from_png.c != 3 || from_png.pixels[11] != 255 || from_jpeg.c != 1 || from_jpeg.pixels.size() != 4) {
    std::fprintf(stderr, "consumer: expected a 3x2x2 PNG ending in 255 and a 1x2x2 JPEG, found %dx%dx%d and %dx%dx%d\n",
                 from_png.c, from_png.h, from_png.w, from_jpeg.c, from_jpeg.h, from_jpeg.w);
    return 1;
  }

  const Eigen::Vector3f v = Eigen::Vector3f::Ones();
  std::printf("ist consumer OK: 1 ResIST round moved %llu bytes, Rng draw %llu, Eigen %d.%d.%d sum %g, OpenMP threads %d, zlib %s, libpng %s\n",
              static_cast<unsigned long long>(r.total_bytes), static_cast<unsigned long long>(a()), EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION,
              EIGEN_MINOR_VERSION, static_cast<double>(v.sum()), omp_get_max_threads(), zlibVersion(), png_get_libpng_ver(nullptr));
  return 0;
}
