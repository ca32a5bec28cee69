// The Eigen kernels' vector width follows the compiler's target: no silent fallback to narrower vectors or
// scalar code. The kernels (include/ist/backend/eigen) are written on Eigen's packets, so their width is
// Eigen's packet of floats, which these tests tie to the instruction set the compiler targets (-march:
// AVX-512 -> 16 floats, AVX2 -> 8 with FMA, SSE2 -> 4), and the paths that need whole packets of channels
// to the channel counts of the shipped ResNet presets.
#include <doctest/doctest.h>

#include "ist/backend/eigen/conv2d.hpp"
#include "ist/model/presets.hpp"

namespace test_simd {

namespace {

constexpr int kFloats = ist::eigen::detail::packet_size<float>;

// Every stride-1 3x3 convolution (the weight gradient from the transposed input) and every stride-2 one
// (phase planes) of Net has its input channels in whole packets: no layer of it leaves the packet kernels
// for the im2col fallback, except the stem (1 input channel: its own packet dot-product kernel).
template <class Net>
void check_channels_in_whole_packets() {
  for (const auto& d : Net::blocks) {
    if (d.kind != ist::BlockKind::Basic) continue;
    INFO("block ", d.in_channels, " -> ", d.out_channels, " channels, stride ", d.stride, "; packet of ", kFloats,
         " floats");
    CHECK(d.in_channels % kFloats == 0);
    CHECK(d.out_channels % kFloats == 0);
  }
}

}  // namespace

TEST_CASE("simd: Eigen's packets are the widest vectors the compiler targets") {
  INFO("packet of ", kFloats, " floats");
  CHECK(kFloats > 1);  // not scalar
#if defined(__AVX512F__)
#if !defined(EIGEN_VECTORIZE_AVX512)
  FAIL("the compiler targets AVX-512 but Eigen does not vectorize for it");
#endif
  CHECK(kFloats == 16);
#elif defined(__AVX__)
  CHECK(kFloats == 8);
#if defined(__AVX2__) && !defined(EIGEN_VECTORIZE_AVX2)
  FAIL("the compiler targets AVX2 but Eigen does not vectorize for it");
#endif
#elif defined(__SSE2__) || defined(__ARM_NEON)
  CHECK(kFloats == 4);
#endif
#if defined(__FMA__) && !defined(EIGEN_VECTORIZE_FMA)
  FAIL("the compiler targets FMA but Eigen's pmadd does not use it");
#endif
}

TEST_CASE("simd: the ResNet presets' convolutions take the packet kernels") {
  check_channels_in_whole_packets<ist::PreActResNet20<1, 10>>();
  check_channels_in_whole_packets<ist::PreActResNet26Fashion<1, 10>>();
  check_channels_in_whole_packets<ist::PreActResNet56<3, 10>>();
}

}  // namespace test_simd
