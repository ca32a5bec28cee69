// Per-layer tests of the Eigen backend: known values and finite-difference gradient checks (double).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "grad_check.hpp"
#include "ist/backend/eigen/batch_norm.hpp"
#include "ist/backend/eigen/conv2d.hpp"
#include "ist/backend/eigen/elementwise.hpp"
#include "ist/backend/eigen/linear.hpp"
#include "ist/backend/eigen/pooling.hpp"
#include "ist/backend/eigen/softmax_cross_entropy.hpp"

namespace test_layers {

using namespace ist;
using ist::test::dot;
using ist::test::max_rel_error;
using ist::test::random_vector;

namespace {

// Direct convolution, the definition, for reference.
std::vector<double> conv_reference(const ConvShape& s, const std::vector<double>& x, const std::vector<double>& w) {
  std::vector<double> y(s.out_size(), 0.0);
  const int oh = s.out_h(), ow = s.out_w();
  for (int n = 0; n < s.n; ++n)
    for (int k = 0; k < s.k; ++k)
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          double acc = 0;
          for (int c = 0; c < s.c; ++c)
            for (int a = 0; a < s.r; ++a)
              for (int b = 0; b < s.r; ++b) {
                const int ih = i * s.stride - s.pad + a, iw = j * s.stride - s.pad + b;
                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                acc += x[((std::size_t(n) * s.c + c) * s.h + ih) * s.w + iw] *
                       w[((std::size_t(k) * s.c + c) * s.r + a) * s.r + b];
              }
          y[((std::size_t(n) * s.k + k) * oh + i) * ow + j] = acc;
        }
  return y;
}

// n x c x h x w -> k, r x r / stride, pad: a shape for a failing check's message.
std::string shape_text(const ConvShape& s) {
  return std::to_string(s.n) + "x" + std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w) +
         " -> " + std::to_string(s.k) + ", " + std::to_string(s.r) + "x" + std::to_string(s.r) + " / " +
         std::to_string(s.stride) + ", pad " + std::to_string(s.pad);
}

// A test that forces a convolution path (eigen::detail::same_path) puts Auto back when it ends, passed or not.
struct RestoreSamePath {
  ~RestoreSamePath() { eigen::detail::same_path = eigen::detail::SamePath::Auto; }
};

// The largest absolute difference between a float (or double) result and the double one, over the largest
// double value.
template <class T>
double worst_error(const std::vector<T>& got, const std::vector<double>& want) {
  double scale = 0, err = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::abs(want[i]));
    err = std::max(err, std::abs(double(got[i]) - want[i]));
  }
  return err / scale;
}

const ConvShape kConvCases[] = {
    {2, 3, 5, 5, 4, 3, 1, 1},  // 3x3 stride 1 pad 1
    {2, 3, 6, 5, 4, 3, 2, 1},  // 3x3 stride 2, odd/even sizes
    {3, 4, 5, 5, 2, 1, 1, 0},  // 1x1 pointwise
    {2, 4, 7, 6, 3, 1, 2, 0},  // 1x1 stride 2 (projection shortcut)
    {1, 2, 4, 4, 2, 3, 1, 0},  // 3x3 no padding
    // The shapes of the real networks' fast paths: direct stride-1 kernels, phase-plane stride-2 kernels
    // (16+ input channels), odd sizes, 8 channels.
    {2, 16, 8, 8, 16, 3, 1, 1},
    {2, 16, 9, 7, 32, 3, 2, 1},
    {3, 8, 7, 7, 8, 3, 1, 1},
    {2, 32, 6, 6, 16, 3, 2, 1},
};

}  // namespace

TEST_CASE("layers: conv2d forward matches the direct definition (known values)") {
  {  // a hand-sized case: 1 channel 3x3 input, all-ones kernel, pad 1: each output = sum of its neighbourhood
    eigen::CpuContext ctx(1);
    const ConvShape s{1, 1, 3, 3, 1, 3, 1, 1};
    const std::vector<double> x{1, 2, 3, 4, 5, 6, 7, 8, 9}, w(9, 1.0);
    std::vector<double> y(9);
    eigen::conv2d_forward(ctx, s, x.data(), w.data(), y.data());
    const std::vector<double> expect{12, 21, 16, 27, 45, 33, 24, 39, 28};
    for (int i = 0; i < 9; ++i) CHECK(y[std::size_t(i)] == doctest::Approx(expect[std::size_t(i)]));
  }
  for (int threads : {1, 2}) {
    eigen::CpuContext ctx(threads);
    for (const auto& s : kConvCases) {
      auto x = random_vector(s.in_size(), 1), w = random_vector(s.weight_size(), 2);
      std::vector<double> y(s.out_size());
      eigen::conv2d_forward(ctx, s, x.data(), w.data(), y.data());
      const auto ref = conv_reference(s, x, w);
      for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == doctest::Approx(ref[i]).epsilon(1e-12));
    }
  }
}

TEST_CASE("layers: conv2d backward passes finite differences") {
  eigen::CpuContext ctx(2);
  for (const auto& s : kConvCases) {
    CAPTURE(s.r);
    CAPTURE(s.stride);
    auto x = random_vector(s.in_size(), 3), w = random_vector(s.weight_size(), 4);
    const auto probe = random_vector(s.out_size(), 5);
    std::vector<double> y(s.out_size()), dx(s.in_size(), 7.0), dw(s.weight_size(), 0.0);
    auto loss = [&] {
      eigen::conv2d_forward(ctx, s, x.data(), w.data(), y.data());
      return dot(y, probe);
    };
    eigen::conv2d_backward(ctx, s, x.data(), w.data(), probe.data(), dx.data(), dw.data());
    CHECK(max_rel_error(x, dx, loss) < 1e-6);
    CHECK(max_rel_error(w, dw, loss) < 1e-6);
    // Contract: weight gradients accumulate, input gradients overwrite (or add when asked).
    auto dw2 = dw;
    auto dx2 = dx;
    eigen::conv2d_backward(ctx, s, x.data(), w.data(), probe.data(), dx2.data(), dw2.data(), true);
    for (std::size_t i = 0; i < dw.size(); ++i) REQUIRE(dw2[i] == doctest::Approx(2 * dw[i]));
    for (std::size_t i = 0; i < dx.size(); ++i) REQUIRE(dx2[i] == doctest::Approx(2 * dx[i]));
  }
}

TEST_CASE("layers: conv2d float32 agrees with double") {
  eigen::CpuContext ctx(2);
  const ConvShape s{4, 16, 14, 14, 32, 3, 2, 1};
  const auto xd = random_vector(s.in_size(), 6), wd = random_vector(s.weight_size(), 7);
  std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end()), yf(s.out_size());
  std::vector<double> yd(s.out_size());
  eigen::conv2d_forward(ctx, s, xd.data(), wd.data(), yd.data());
  eigen::conv2d_forward(ctx, s, xf.data(), wf.data(), yf.data());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < yd.size(); ++i) {
    num += (yf[i] - yd[i]) * (yf[i] - yd[i]);
    den += yd[i] * yd[i];
  }
  CHECK(std::sqrt(num / den) < 1e-5);
}

// The float kernels have their own packet widths and tails (16 floats on AVX-512, 8 doubles), so the double
// finite-difference checks above do not cover them: every float gradient is checked against the double one
// on the shapes of the presets' layers, odd sizes included (resnet26's stages run at 28, 14, 7 and 4 pixels).
TEST_CASE("layers: conv2d float32 backward agrees with double on the presets' shapes") {
  const ConvShape cases[] = {
      {3, 1, 28, 28, 16, 3, 1, 1},   // stem
      {3, 16, 28, 28, 32, 3, 2, 1},  // stride 2, 28 -> 14
      {3, 16, 28, 28, 32, 1, 2, 0},  // its projection
      {3, 32, 14, 14, 64, 3, 2, 1},  // 14 -> 7
      {3, 64, 7, 7, 64, 3, 1, 1},    // stage 3
      {3, 64, 7, 7, 128, 3, 2, 1},   // 7 -> 4: odd input
      {3, 64, 7, 7, 128, 1, 2, 0},   // its projection
      {3, 128, 4, 4, 128, 3, 1, 1},  // stage 4
      {3, 16, 32, 32, 16, 3, 1, 1},  // CIFAR sizes
      {3, 32, 16, 16, 64, 3, 2, 1},
  };
  for (int threads : {1, 2}) {
    eigen::CpuContext ctx(threads);
    for (const auto& s : cases) {
      CAPTURE(threads);
      CAPTURE(s.c);
      CAPTURE(s.h);
      CAPTURE(s.k);
      CAPTURE(s.r);
      CAPTURE(s.stride);
      const auto xd = random_vector(s.in_size(), 11), wd = random_vector(s.weight_size(), 12);
      const auto dyd = random_vector(s.out_size(), 13);
      std::vector<double> dxd(s.in_size()), dwd(s.weight_size(), 0.0);
      eigen::conv2d_backward(ctx, s, xd.data(), wd.data(), dyd.data(), dxd.data(), dwd.data());
      const std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end()), dyf(dyd.begin(), dyd.end());
      std::vector<float> dxf(s.in_size()), dwf(s.weight_size(), 0.0f);
      eigen::conv2d_backward(ctx, s, xf.data(), wf.data(), dyf.data(), dxf.data(), dwf.data());
      CHECK(worst_error(dxf, dxd) < 1e-5);
      CHECK(worst_error(dwf, dwd) < 1e-5);
    }
  }
}

// The padded-plane copies move rows in packets (masked where a row is shorter than a packet, an overlapping
// last packet for copies, element by element for the tail of an add): every width around the packet sizes
// (4, 8, 16 floats), every height's last row (which must not write past its plane), all three paddings.
TEST_CASE("layers: conv2d padded-plane copies equal element-wise copies for every row width") {
  for (int r : {3, 5, 7})
    for (int h : {1, 2, 5, 24, 31})
      for (int w = 1; w <= 40; ++w) {
        CAPTURE(r);
        CAPTURE(h);
        CAPTURE(w);
        const eigen::detail::Padded<float> g(h, w, r);
        const int channels = 3;
        const auto xd = random_vector(std::size_t(channels) * h * w, 21);
        const std::vector<float> x(xd.begin(), xd.end());
        // One plane more than needed, filled with a marker: nothing may be written past the last plane.
        std::vector<float> xp((channels + 1) * g.plane, -7.0f);
        eigen::detail::pad_planes(g, channels, x.data(), xp.data());
        bool ok = true;
        for (int c = 0; c < channels; ++c)
          for (std::size_t e = 0; e < g.plane; ++e) {
            const long q = long(e) - g.front;  // grid position
            const long i = q >= 0 ? q / g.pw : -1, j = q >= 0 ? q % g.pw : -1;
            const float want = (q >= 0 && i < h && j < w) ? x[(std::size_t(c) * h + std::size_t(i)) * w + std::size_t(j)]
                                                          : 0.0f;
            ok = ok && xp[std::size_t(c) * g.plane + e] == want;
          }
        for (std::size_t e = channels * g.plane; e < xp.size(); ++e) ok = ok && xp[e] == -7.0f;
        CHECK(ok);
        // Back: copy and add, from planes of output pitch; dst rows are packed, so a row's excess would land
        // on the next row (and past the last one: the marker).
        const auto yd = random_vector(std::size_t(channels) * g.oplane, 22);
        const std::vector<float> yq(yd.begin(), yd.end());
        std::vector<float> y(std::size_t(channels) * h * w + 16, -7.0f), base(y.size());
        for (std::size_t e = 0; e < std::size_t(channels) * h * w; ++e) base[e] = float(e % 13) - 6.0f;
        for (bool add : {false, true}) {
          CAPTURE(add);
          std::copy(base.begin(), base.begin() + std::ptrdiff_t(channels * h * w), y.begin());
          eigen::detail::unpad_planes(g, channels, yq.data(), y.data(), add);
          bool same = true;
          for (int c = 0; c < channels; ++c)
            for (int i = 0; i < h; ++i)
              for (int j = 0; j < w; ++j) {
                const std::size_t o = (std::size_t(c) * h + std::size_t(i)) * w + std::size_t(j);
                const float v = yq[std::size_t(c) * g.oplane + std::size_t(i) * g.pw + std::size_t(j)];
                same = same && y[o] == (add ? base[o] + v : v);
              }
          for (std::size_t e = std::size_t(channels) * h * w; e < y.size(); ++e) same = same && y[e] == -7.0f;
          CHECK(same);
        }
      }
}

// The stride-2 row moves (phase planes, 1x1 stride-2 subsampling, their input gradients) are packets with
// masked or overlapping ends for float: each against the element-wise definition for every row length 1-40
// (around the 8- and 16-float packets), with a marker after what each may read or write, and the odd
// elements between scattered ones untouched.
TEST_CASE("layers: conv2d stride-2 row moves equal element-wise moves for every row length") {
  for (int n = 1; n <= 40; ++n) {
    CAPTURE(n);
    const auto sd = random_vector(std::size_t(2 * n), 31);
    // gather_even needs s[0, 2n - 1): s[2n - 1] is a NaN that must not reach d.
    std::vector<float> s(sd.begin(), sd.end());
    s[std::size_t(2 * n - 1)] = std::nanf("");
    std::vector<float> d(std::size_t(n) + 16, -7.0f);
    eigen::detail::gather_even(d.data(), s.data(), n);
    bool ok = true;
    for (int v = 0; v < n; ++v) ok = ok && d[std::size_t(v)] == s[std::size_t(2 * v)];
    for (std::size_t e = std::size_t(n); e < d.size(); ++e) ok = ok && d[e] == -7.0f;
    CHECK(ok);
    // scatter_even writes d[0, 2n - 1) at the even elements (set or add); expand_even writes d[0, m) whole.
    const std::vector<float> src(sd.begin(), sd.begin() + n);
    std::vector<float> base(std::size_t(2 * n) + 16);
    for (std::size_t e = 0; e < base.size(); ++e) base[e] = float(e % 11) - 5.0f;
    for (bool add : {false, true}) {
      CAPTURE(add);
      std::vector<float> out = base;
      if (add)
        eigen::detail::scatter_even<float, true>(out.data(), src.data(), n);
      else
        eigen::detail::scatter_even<float, false>(out.data(), src.data(), n);
      bool same = true;
      for (std::size_t e = 0; e < out.size(); ++e) {
        const bool hit = e % 2 == 0 && e < std::size_t(2 * n);
        same = same && out[e] == (hit ? (add ? base[e] + src[e / 2] : src[e / 2]) : base[e]);
      }
      CHECK(same);
    }
    for (int m : {2 * n - 1, 2 * n}) {
      CAPTURE(m);
      std::vector<float> out(std::size_t(m) + 16, -7.0f);
      eigen::detail::expand_even(out.data(), src.data(), m);
      bool same = true;
      for (std::size_t e = 0; e < out.size(); ++e)
        same = same && out[e] == (e < std::size_t(m) ? (e % 2 ? 0.0f : src[e / 2]) : -7.0f);
      CHECK(same);
    }
  }
}

// The padding copies' row moves: move_row copies or adds exactly d[0, n) from s[0, n), and pad_row copies
// d[0, n) and may write only zeros after it, within a packet, for every row length 1-40 and both ends (masked
// with AVX-512; overlapping packets or half packets, or element by element, elsewhere). s holds exactly n
// elements, so a read past it is a sanitizer's finding.
TEST_CASE("layers: conv2d padding row moves copy and add exactly the row, for every row length") {
  constexpr int L = eigen::detail::packet_size<float>;
  for (int n = 1; n <= 40; ++n) {
    CAPTURE(n);
    const auto sd = random_vector(std::size_t(n), 41);
    const std::vector<float> s(sd.begin(), sd.end());
    std::vector<float> base(std::size_t(n) + 16);
    for (std::size_t e = 0; e < base.size(); ++e) base[e] = float(e % 13) - 6.0f;
    std::vector<float> copy = base, sum = base, padded = base;
    eigen::detail::move_row(copy.data(), s.data(), n);
    eigen::detail::move_row<float, true>(sum.data(), s.data(), n);
    eigen::detail::pad_row(padded.data(), s.data(), n);
    bool ok = true;
    for (std::size_t e = 0; e < base.size(); ++e) {
      const bool in = e < std::size_t(n);
      ok = ok && copy[e] == (in ? s[e] : base[e]);
      ok = ok && sum[e] == (in ? base[e] + s[e] : base[e]);
      ok = ok && (in ? padded[e] == s[e] : (padded[e] == base[e] || (padded[e] == 0.0f && e < std::size_t(n + L))));
    }
    CHECK(ok);
  }
}

// The stride-2 and 1x1 stride-2 paths in float against double: forward, and the input gradient overwritten
// and added (the presets' backward test above covers the overwrite only), odd sizes included.
TEST_CASE("layers: conv2d float32 stride-2 forward and added input gradient agree with double") {
  const ConvShape cases[] = {
      {2, 16, 28, 28, 32, 1, 2, 0}, {2, 64, 7, 7, 128, 1, 2, 0}, {2, 8, 9, 11, 8, 1, 2, 0},
      {2, 16, 28, 28, 32, 3, 2, 1}, {2, 64, 7, 7, 128, 3, 2, 1}, {2, 16, 9, 13, 16, 3, 2, 1},
  };
  eigen::CpuContext ctx(2);
  for (const auto& s : cases) {
    CAPTURE(s.c);
    CAPTURE(s.h);
    CAPTURE(s.w);
    CAPTURE(s.r);
    const auto xd = random_vector(s.in_size(), 41), wd = random_vector(s.weight_size(), 42);
    const auto dyd = random_vector(s.out_size(), 43), dx0 = random_vector(s.in_size(), 44);
    std::vector<double> yd(s.out_size()), dxd = dx0, dwd(s.weight_size(), 0.0);
    eigen::conv2d_forward(ctx, s, xd.data(), wd.data(), yd.data());
    eigen::conv2d_backward(ctx, s, xd.data(), wd.data(), dyd.data(), dxd.data(), dwd.data(), true);
    const std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end()), dyf(dyd.begin(), dyd.end());
    std::vector<float> yf(s.out_size()), dxf(dx0.begin(), dx0.end()), dwf(s.weight_size(), 0.0f);
    eigen::conv2d_forward(ctx, s, xf.data(), wf.data(), yf.data());
    eigen::conv2d_backward(ctx, s, xf.data(), wf.data(), dyf.data(), dxf.data(), dwf.data(), true);
    CHECK(worst_error(yf, yd) < 1e-5);
    CHECK(worst_error(dxf, dxd) < 1e-5);
    CHECK(worst_error(dwf, dwd) < 1e-5);
  }
}

// The 1x1 stride-2 backward works on groups of images (their subsampled inputs and dy side by side, one GEMM
// per group for the weight gradient): both gradients against the definition in double, in float and in
// double, with channel counts and row lengths that are not whole packets, batches of several groups per
// thread (130 images of 16 + 32 channels: groups of 13), and 1-3 threads, whose input gradients have the
// same bits.
TEST_CASE("layers: conv2d 1x1 stride-2 gradients agree with the definition across groups and threads") {
  const ConvShape cases[] = {
      {70, 3, 5, 7, 5, 1, 2, 0}, {130, 16, 28, 28, 32, 1, 2, 0}, {5, 64, 7, 7, 128, 1, 2, 0},
      {9, 7, 6, 9, 6, 1, 2, 0},  {1, 16, 2, 2, 4, 1, 2, 0},
  };
  for (const auto& s : cases) {
    INFO("shape ", shape_text(s));
    const int oh = s.out_h(), ow = s.out_w();
    const auto xd = random_vector(s.in_size(), 51), wd = random_vector(s.weight_size(), 52);
    const auto dyd = random_vector(s.out_size(), 53);
    std::vector<double> dx_ref(s.in_size(), 0.0), dw_ref(s.weight_size(), 0.0);
    for (int n = 0; n < s.n; ++n)
      for (int k = 0; k < s.k; ++k)
        for (int i = 0; i < oh; ++i)
          for (int j = 0; j < ow; ++j) {
            const double g = dyd[((std::size_t(n) * s.k + k) * oh + i) * ow + j];
            for (int c = 0; c < s.c; ++c) {
              const std::size_t xi = ((std::size_t(n) * s.c + c) * s.h + 2 * i) * s.w + 2 * j;
              dw_ref[std::size_t(k) * s.c + c] += g * xd[xi];
              dx_ref[xi] += g * wd[std::size_t(k) * s.c + c];
            }
          }
    const std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end()), dyf(dyd.begin(), dyd.end());
    std::vector<float> dx1, dw1;
    for (int threads : {1, 2, 3}) {
      CAPTURE(threads);
      eigen::CpuContext ctx(threads);
      std::vector<float> dxf(s.in_size(), 9.0f), dwf(s.weight_size(), 0.0f);
      eigen::conv2d_backward(ctx, s, xf.data(), wf.data(), dyf.data(), dxf.data(), dwf.data());
      CHECK(worst_error(dxf, dx_ref) < 1e-6);
      CHECK(worst_error(dwf, dw_ref) < 1e-5);
      // Added into dx, as a ResNet block runs its projection.
      std::vector<float> dxa(s.in_size(), 9.0f), dwa(s.weight_size(), 0.0f);
      eigen::conv2d_backward(ctx, s, xf.data(), wf.data(), dyf.data(), dxa.data(), dwa.data(), true);
      std::vector<double> dx_plus(dx_ref);
      for (double& v : dx_plus) v += 9.0;
      CHECK(worst_error(dxa, dx_plus) < 1e-6);
      CHECK(dwa == dwf);
      if (threads == 1) {
        dx1 = dxf, dw1 = dwf;
      } else {
        CHECK(dxf == dx1);  // each image's input gradient is computed alone
        std::vector<double> dwt(s.weight_size(), 0.0);
        eigen::conv2d_backward(ctx, s, xd.data(), wd.data(), dyd.data(), static_cast<double*>(nullptr), dwt.data());
        CHECK(worst_error(dwt, dw_ref) < 1e-12);
      }
      std::vector<double> dxd(s.in_size(), 9.0), dwd(s.weight_size(), 0.0);
      eigen::conv2d_backward(ctx, s, xd.data(), wd.data(), dyd.data(), dxd.data(), dwd.data());
      CHECK(worst_error(dxd, dx_ref) < 1e-12);
      CHECK(worst_error(dwd, dw_ref) < 1e-12);
    }
  }
}

// The weight gradient alone (no input gradient: the stem) of a "same" convolution with fewer input planes (times r)
// than output planes reads dy where it lies, against shifted copies of x, when the image is whole packets of
// pixels (28x28, 32x32, 8x8); 7x7 keeps the padded planes. Both against the definition, in double and float,
// over thread counts and groups, accumulated (+=) as every weight gradient is.
TEST_CASE("layers: conv2d weight gradient alone (dy in place) agrees with the definition") {
  const ConvShape cases[] = {
      {5, 1, 28, 28, 16, 3, 1, 1},   // the Fashion-MNIST stem
      {3, 3, 32, 32, 16, 3, 1, 1},   // the CIFAR stem
      {40, 1, 8, 8, 16, 5, 1, 2},    // 5x5, more images than a group
      {4, 2, 8, 16, 24, 3, 1, 1},    // two input channels, a wide image
      {3, 1, 7, 7, 16, 3, 1, 1},     // 49 pixels: padded planes
  };
  for (const auto& s : cases) {
    INFO("shape ", shape_text(s));
    const auto xd = random_vector(s.in_size(), 61), wd = random_vector(s.weight_size(), 62);
    const auto dyd = random_vector(s.out_size(), 63);
    const int pad = s.pad;
    std::vector<double> dw_ref(s.weight_size(), 0.0);
    for (int n = 0; n < s.n; ++n)
      for (int k = 0; k < s.k; ++k)
        for (int c = 0; c < s.c; ++c)
          for (int kh = 0; kh < s.r; ++kh)
            for (int kw = 0; kw < s.r; ++kw) {
              double sum = 0;
              for (int i = 0; i < s.h; ++i)
                for (int j = 0; j < s.w; ++j) {
                  const int xi = i + kh - pad, xj = j + kw - pad;
                  if (xi < 0 || xi >= s.h || xj < 0 || xj >= s.w) continue;
                  sum += dyd[((std::size_t(n) * s.k + k) * s.h + i) * s.w + j] *
                         xd[((std::size_t(n) * s.c + c) * s.h + xi) * s.w + xj];
                }
              dw_ref[((std::size_t(k) * s.c + c) * s.r + kh) * s.r + kw] += sum;
            }
    const std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end()), dyf(dyd.begin(), dyd.end());
    for (int threads : {1, 2, 3}) {
      CAPTURE(threads);
      eigen::CpuContext ctx(threads);
      std::vector<double> dwd(s.weight_size(), 0.0);
      eigen::conv2d_backward(ctx, s, xd.data(), wd.data(), dyd.data(), static_cast<double*>(nullptr), dwd.data());
      CHECK(worst_error(dwd, dw_ref) < 1e-12);
      std::vector<float> dwf(s.weight_size(), 0.0f);
      eigen::conv2d_backward(ctx, s, xf.data(), wf.data(), dyf.data(), static_cast<float*>(nullptr), dwf.data());
      CHECK(worst_error(dwf, dw_ref) < 1e-5);
      // Accumulated: a second call adds the same gradient.
      std::vector<float> twice = dwf;
      eigen::conv2d_backward(ctx, s, xf.data(), wf.data(), dyf.data(), static_cast<float*>(nullptr), twice.data());
      for (std::size_t i = 0; i < twice.size(); ++i) REQUIRE(twice[i] == doctest::Approx(2 * dwf[i]));
    }
  }
}

// A "same" 3x3 convolution with whole packets of channels runs on padded planes or, for small images, on the
// channel-vectorized kernel (whichever computes less): both, forced, against double on small and odd sizes,
// forward and both gradients, the input gradient overwritten and added.
TEST_CASE("layers: conv2d planes and channel-vectorized kernels agree with double on small images") {
  const RestoreSamePath restore;
  const ConvShape cases[] = {
      {2, 16, 7, 7, 32, 3, 1, 1}, {2, 32, 4, 4, 16, 3, 1, 1}, {2, 16, 5, 9, 48, 3, 1, 1},
      {2, 16, 14, 14, 16, 3, 1, 1}, {3, 16, 1, 1, 16, 3, 1, 1}, {2, 48, 3, 2, 32, 3, 1, 1},
  };
  for (int threads : {1, 2}) {
    eigen::CpuContext ctx(threads);
    for (const auto& s : cases) {
      const auto xd = random_vector(s.in_size(), 41), wd = random_vector(s.weight_size(), 42);
      const auto dyd = random_vector(s.out_size(), 43);
      const auto yd = conv_reference(s, xd, wd);
      std::vector<double> dxd(s.in_size()), dwd(s.weight_size(), 0.0);
      eigen::conv2d_backward(ctx, s, xd.data(), wd.data(), dyd.data(), dxd.data(), dwd.data());
      const std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end()), dyf(dyd.begin(), dyd.end());
      for (auto path : {eigen::detail::SamePath::Planes, eigen::detail::SamePath::Channels}) {
        CAPTURE(threads);
        CAPTURE(s.c);
        CAPTURE(s.h);
        CAPTURE(s.w);
        CAPTURE(s.k);
        CAPTURE(int(path));
        eigen::detail::same_path = path;
        CHECK(eigen::detail::use_nhwc<float>(s) == (path == eigen::detail::SamePath::Channels));
        std::vector<float> yf(s.out_size()), dxf(s.in_size(), 0.25f), dwf(s.weight_size(), 0.0f);
        eigen::conv2d_forward(ctx, s, xf.data(), wf.data(), yf.data());
        CHECK(worst_error(yf, yd) < 1e-5);
        eigen::conv2d_backward(ctx, s, xf.data(), wf.data(), dyf.data(), dxf.data(), dwf.data());
        CHECK(worst_error(dxf, dxd) < 1e-5);
        CHECK(worst_error(dwf, dwd) < 1e-5);
        // Added into an existing gradient: 0.25 + dx.
        std::fill(dxf.begin(), dxf.end(), 0.25f);
        eigen::conv2d_backward(ctx, s, xf.data(), wf.data(), dyf.data(), dxf.data(), dwf.data(), true);
        std::vector<double> shifted(dxd);
        for (auto& v : shifted) v += 0.25;
        CHECK(worst_error(dxf, shifted) < 1e-5);
      }
    }
  }
}

// Winograd F(2x2, 3x3), forced, against the definition (forward) and the planes' kernels in double (both
// gradients, the weight gradient summed over the images' tiles) on odd and even sizes (tiles cut by the
// image's right and bottom edges, images of one pixel) and channel counts of 1-4 packets; its results are the
// same bits for 1, 2 and 3 threads.
TEST_CASE("layers: conv2d Winograd F(2x2, 3x3) agrees with double and does not depend on the thread count") {
  const RestoreSamePath restore;
  const ConvShape cases[] = {
      {3, 16, 5, 7, 16, 3, 1, 1},   {13, 16, 7, 7, 16, 3, 1, 1}, {5, 32, 14, 14, 16, 3, 1, 1},
      {2, 16, 28, 28, 16, 3, 1, 1}, {4, 16, 9, 6, 48, 3, 1, 1},  {3, 16, 1, 1, 16, 3, 1, 1},
      {2, 32, 2, 3, 16, 3, 1, 1},   {7, 64, 7, 7, 64, 3, 1, 1},
  };
  for (const auto& s : cases) {
    INFO("shape ", shape_text(s));
    const auto xd = random_vector(s.in_size(), 51), wd = random_vector(s.weight_size(), 52);
    const auto dyd = random_vector(s.out_size(), 53);
    const auto yd = conv_reference(s, xd, wd);
    std::vector<double> dxd(s.in_size()), dwd(s.weight_size(), 0.0);
    eigen::detail::same_path = eigen::detail::SamePath::Planes;
    eigen::CpuContext ctx1(1);
    eigen::conv2d_backward(ctx1, s, xd.data(), wd.data(), dyd.data(), dxd.data(), dwd.data());
    eigen::detail::same_path = eigen::detail::SamePath::Winograd;
    REQUIRE(eigen::detail::use_winograd<float>(s));
    REQUIRE(eigen::detail::use_winograd<double>(s));
    const std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end()), dyf(dyd.begin(), dyd.end());
    std::vector<float> y1, dx1;
    for (int threads : {1, 2, 3}) {
      CAPTURE(threads);
      eigen::CpuContext ctx(threads);
      std::vector<float> yf(s.out_size()), dxf(s.in_size(), 0.25f), dwf(s.weight_size(), 0.0f);
      eigen::conv2d_forward(ctx, s, xf.data(), wf.data(), yf.data());
      CHECK(worst_error(yf, yd) < 1e-5);
      eigen::conv2d_backward(ctx, s, xf.data(), wf.data(), dyf.data(), dxf.data(), dwf.data());
      CHECK(worst_error(dxf, dxd) < 1e-5);
      CHECK(worst_error(dwf, dwd) < 1e-5);
      if (threads == 1) {
        y1 = yf;
        dx1 = dxf;
      } else {
        CHECK(std::memcmp(yf.data(), y1.data(), yf.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(dxf.data(), dx1.data(), dxf.size() * sizeof(float)) == 0);
      }
      // Added into an existing gradient: 0.25 + dx.
      std::fill(dxf.begin(), dxf.end(), 0.25f);
      eigen::conv2d_backward(ctx, s, xf.data(), wf.data(), dyf.data(), dxf.data(), dwf.data(), true);
      std::vector<double> shifted(dxd);
      for (auto& v : shifted) v += 0.25;
      CHECK(worst_error(dxf, shifted) < 1e-5);
    }
    // Double through Winograd: the transforms are exact up to rounding.
    std::vector<double> ydw(s.out_size()), dxdw(s.in_size()), dwdw(s.weight_size(), 0.0);
    eigen::conv2d_forward(ctx1, s, xd.data(), wd.data(), ydw.data());
    eigen::conv2d_backward(ctx1, s, xd.data(), wd.data(), dyd.data(), dxdw.data(), dwdw.data());
    for (std::size_t i = 0; i < yd.size(); ++i) CHECK(std::abs(ydw[i] - yd[i]) < 1e-12);
    for (std::size_t i = 0; i < dxd.size(); ++i) CHECK(std::abs(dxdw[i] - dxd[i]) < 1e-12);
    for (std::size_t i = 0; i < dwd.size(); ++i) CHECK(std::abs(dwdw[i] - dwd[i]) < 1e-11);
  }
}

TEST_CASE("layers: batch norm forward normalizes per channel (known values)") {
  eigen::CpuContext ctx(1);
  // n=2, c=1, hw=2: values 1,3 | 5,7 -> mean 4, var 5.
  const std::vector<double> x{1, 3, 5, 7}, gamma{2}, beta{0.5};
  std::vector<double> y(4), mean(1), invstd(1), rm{0}, rv{1};
  eigen::batch_norm_forward_train(ctx, {2, 1, 2}, x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                  invstd.data(), false, 0.0, RunningStats<double>{rm.data(), rv.data(), 0.1});
  CHECK(mean[0] == doctest::Approx(4));
  CHECK(invstd[0] == doctest::Approx(1 / std::sqrt(5.0)));
  CHECK(y[0] == doctest::Approx(2 * (1 - 4) / std::sqrt(5.0) + 0.5));
  CHECK(y[3] == doctest::Approx(2 * (7 - 4) / std::sqrt(5.0) + 0.5));
  CHECK(rm[0] == doctest::Approx(0.4));                   // 0.9*0 + 0.1*4
  CHECK(rv[0] == doctest::Approx(0.9 + 0.1 * 20.0 / 3));  // unbiased variance 20/3
  // Inference with given statistics, and the fused ReLU.
  std::vector<double> yi(4);
  const std::vector<double> m{4}, v{5};
  eigen::batch_norm_forward_infer(ctx, {2, 1, 2}, x.data(), gamma.data(), beta.data(), m.data(), v.data(), yi.data(),
                                  true, 0.0);
  CHECK(yi[0] == 0.0);
  CHECK(yi[3] == doctest::Approx(y[3]));
}

TEST_CASE("layers: batch norm (+ReLU) backward passes finite differences") {
  eigen::CpuContext ctx(2);
  for (bool relu : {false, true}) {
    CAPTURE(relu);
    const BatchNormShape s{3, 4, 5};
    auto x = random_vector(s.size(), 8), gamma = random_vector(4, 9), beta = random_vector(4, 10);
    const auto probe = random_vector(s.size(), 11);
    std::vector<double> y(s.size()), mean(4), invstd(4), dx(s.size()), dg(4, 0.0), db(4, 0.0);
    auto loss = [&] {
      eigen::batch_norm_forward_train(ctx, s, x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                      invstd.data(), relu);
      return dot(y, probe);
    };
    loss();
    eigen::batch_norm_backward(ctx, s, x.data(), y.data(), probe.data(), gamma.data(), mean.data(), invstd.data(),
                               dx.data(), dg.data(), db.data(), relu);
    CHECK(max_rel_error(x, dx, loss) < 1e-6);
    CHECK(max_rel_error(gamma, dg, loss) < 1e-6);
    CHECK(max_rel_error(beta, db, loss) < 1e-6);
  }
}

// The float backward runs in packets of 16 (AVX-512), 8 (AVX) or 4 floats with scalar tails; the double check
// above uses a plane of 5. Float against double on the presets' plane sizes (28x28, 14x14, 7x7, 4x4, 32x32)
// and odd ones, from the same forward statistics (so both sides see the same ReLU mask).
TEST_CASE("layers: batch norm (+ReLU) float32 backward agrees with double on the presets' plane sizes") {
  eigen::CpuContext ctx(2);
  for (int hw : {784, 196, 49, 16, 1024, 13, 1})
    for (bool relu : {false, true}) {
      CAPTURE(hw);
      CAPTURE(relu);
      const BatchNormShape s{3, 4, hw};
      const auto x = random_vector(s.size(), 31), gamma = random_vector(4, 32), beta = random_vector(4, 33);
      const auto dy = random_vector(s.size(), 34);
      std::vector<double> y(s.size()), mean(4), invstd(4), dx(s.size()), dg(4, 0.0), db(4, 0.0);
      eigen::batch_norm_forward_train(ctx, s, x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                      invstd.data(), relu);
      eigen::batch_norm_backward(ctx, s, x.data(), y.data(), dy.data(), gamma.data(), mean.data(), invstd.data(),
                                 dx.data(), dg.data(), db.data(), relu);
      auto to_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
      const auto xf = to_float(x), yf = to_float(y), dyf = to_float(dy), gf = to_float(gamma), mf = to_float(mean),
                 isf = to_float(invstd);
      std::vector<float> dxf(s.size()), dgf(4, 0.0f), dbf(4, 0.0f);
      eigen::batch_norm_backward(ctx, s, xf.data(), yf.data(), dyf.data(), gf.data(), mf.data(), isf.data(), dxf.data(),
                                 dgf.data(), dbf.data(), relu);
      CHECK(worst_error(dxf, dx) < 1e-5);
      CHECK(worst_error(dgf, dg) < 1e-5);
      CHECK(worst_error(dbf, db) < 1e-5);
    }
}

// a * b + c as Eigen's pmadd computes it: fused where the target has FMA (packets and scalars alike).
template <class T>
T madd(T a, T b, T c) {
#ifdef EIGEN_VECTORIZE_FMA
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

template <class T>
std::vector<T> random_values(std::size_t n, std::uint64_t seed) {
  const std::vector<double> d = random_vector(n, seed);
  std::vector<T> v(d.begin(), d.end());
  return v;
}

// The same values bit for bit (NaN included).
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <class T>
void check_packet_loops_bitwise() {
  constexpr int L = Eigen::internal::packet_traits<T>::size;
  for (std::size_t n = 0; n <= std::size_t(4 * L + 3); ++n) {
    CAPTURE(n);
    std::vector<T> x = random_values<T>(n, 11 + n), y0 = random_values<T>(n, 12 + n), b = random_values<T>(n, 13 + n);
    if (n > 2) x[1] = T(-0.0), x[2] = std::numeric_limits<T>::quiet_NaN();
    const T w = T(0.3125), s = T(-1.7);
    std::vector<T> got = y0, want = y0;
    eigen::detail::axpy(w, x.data(), got.data(), n);
    for (std::size_t j = 0; j < n; ++j) want[j] = madd(w, x[j], want[j]);
    CHECK(same_bits(got, want));
    got = y0, want = y0;
    eigen::detail::scale_add(s, b.data(), got.data(), n);
    for (std::size_t j = 0; j < n; ++j) want[j] = madd(s, want[j], b[j]);
    CHECK(same_bits(got, want));
    got = y0, want = y0;
    eigen::detail::add(x.data(), got.data(), n);
    for (std::size_t j = 0; j < n; ++j) want[j] = want[j] + x[j];
    CHECK(same_bits(got, want));
    eigen::detail::multiply(x.data(), b.data(), got.data(), n);
    for (std::size_t j = 0; j < n; ++j) want[j] = x[j] * b[j];
    CHECK(same_bits(got, want));
    got = x;
    eigen::detail::scale(s, got.data(), got.data(), n);  // in place
    for (std::size_t j = 0; j < n; ++j) want[j] = x[j] * s;
    CHECK(same_bits(got, want));
    eigen::detail::relu(x.data(), got.data(), n);  // -0 stays -0 and NaN stays NaN, as std::max(x, 0) leaves them
    for (std::size_t j = 0; j < n; ++j) want[j] = std::max(x[j], T(0));
    CHECK(same_bits(got, want));
    got = y0, want = y0;
    eigen::detail::relu_mask(x.data(), static_cast<const T*>(got.data()), got.data(), n);
    for (std::size_t j = 0; j < n; ++j) want[j] = x[j] > T(0) ? want[j] : T(0);
    CHECK(same_bits(got, want));
  }
}

TEST_CASE("layers: the packet loops equal the plain loops bit for bit, for every length and tail") {
  check_packet_loops_bitwise<float>();
  check_packet_loops_bitwise<double>();
  // The element-wise ops over one range per thread: the same values with 1 and 2 threads.
  const std::size_t n = 3 * 4096 + 5;
  const std::vector<float> x = random_values<float>(n, 3), sc = random_values<float>(n, 4);
  std::vector<float> a = random_values<float>(n, 5), b = a;
  eigen::CpuContext one(1), two(2);
  eigen::residual_add(one, n, 0.7f, sc.data(), a.data());
  eigen::residual_add(two, n, 0.7f, sc.data(), b.data());
  CHECK(a == b);
  eigen::relu_backward(one, n, x.data(), sc.data(), a.data());
  eigen::relu_backward(two, n, x.data(), sc.data(), b.data());
  CHECK(a == b);
}

TEST_CASE("layers: relu, residual add, pooling, linear: known values and finite differences") {
  eigen::CpuContext ctx(2);
  {
    const std::vector<double> x{-1, 0, 2};
    std::vector<double> y(3), dx(3);
    eigen::relu_forward(ctx, 3, x.data(), y.data());
    CHECK(y == std::vector<double>{0, 0, 2});
    const std::vector<double> dy{5, 6, 7};
    eigen::relu_backward(ctx, 3, y.data(), dy.data(), dx.data());
    CHECK(dx == std::vector<double>{0, 0, 7});
    std::vector<double> out{1, 2, 3};
    eigen::residual_add(ctx, 3, 0.5, x.data(), out.data());  // 0.5*out + x
    CHECK(out == std::vector<double>{-0.5, 1, 3.5});
  }
  {  // pooling: [1, 2, 3] -> [mean, mean]
    const std::vector<double> x{1, 2, 3, 10, 20, 30};
    std::vector<double> y(2), dx(6);
    eigen::global_avg_pool_forward(ctx, 1, 2, 3, x.data(), y.data());
    CHECK(y[0] == doctest::Approx(2));
    CHECK(y[1] == doctest::Approx(20));
    const std::vector<double> dy{3, 6};
    eigen::global_avg_pool_backward(ctx, 1, 2, 3, dy.data(), dx.data());
    CHECK(dx == std::vector<double>{1, 1, 1, 2, 2, 2});
  }
  {  // linear: known value and gradients
    const std::vector<double> x1{1, 2}, w1{1, 0, 0, 1, 1, 1}, b1{0.5, 0, -1};
    std::vector<double> y1(3);
    eigen::linear_forward(ctx, 1, 2, 3, x1.data(), w1.data(), b1.data(), y1.data());
    CHECK(y1 == std::vector<double>{1.5, 2, 2});
    const int n = 4, in = 5, out = 3;
    auto x = random_vector(std::size_t(n * in), 12), w = random_vector(std::size_t(out * in), 13),
         b = random_vector(std::size_t(out), 14);
    const auto probe = random_vector(std::size_t(n * out), 15);
    std::vector<double> y(std::size_t(n * out)), dx(x.size()), dw(w.size(), 0.0), db(b.size(), 0.0);
    auto loss = [&] {
      eigen::linear_forward(ctx, n, in, out, x.data(), w.data(), b.data(), y.data());
      return dot(y, probe);
    };
    eigen::linear_backward(ctx, n, in, out, x.data(), w.data(), probe.data(), dx.data(), dw.data(), db.data());
    CHECK(max_rel_error(x, dx, loss) < 1e-7);
    CHECK(max_rel_error(w, dw, loss) < 1e-7);
    CHECK(max_rel_error(b, db, loss) < 1e-7);
  }
}

TEST_CASE("layers: softmax cross-entropy: known value, gradient, bad label") {
  // Two classes with equal logits: loss ln 2, gradient (0.5 - 1, 0.5) / n.
  const std::vector<double> z{0.0, 0.0};
  const std::int32_t label[1] = {0};
  std::vector<double> dz(2);
  auto r = eigen::softmax_cross_entropy(1, 2, z.data(), label, dz.data());
  CHECK(r.loss == doctest::Approx(std::log(2.0)));
  CHECK(dz[0] == doctest::Approx(-0.5));
  CHECK(dz[1] == doctest::Approx(0.5));
  // Finite differences on a random batch.
  const int n = 3, k = 4;
  auto logits = random_vector(std::size_t(n * k), 16);
  const std::int32_t labels[3] = {0, 3, 1};
  std::vector<double> g(logits.size());
  eigen::softmax_cross_entropy(n, k, logits.data(), labels, g.data());
  auto loss = [&] { return eigen::softmax_cross_entropy<double>(n, k, logits.data(), labels, nullptr).loss; };
  CHECK(max_rel_error(logits, g, loss) < 1e-7);
  const std::int32_t bad[1] = {7};
  CHECK_THROWS_WITH_AS(eigen::softmax_cross_entropy(1, 2, z.data(), bad, dz.data()),
                       doctest::Contains("expected a label in [0, 2), found 7"), ist::Error);
}

}  // namespace test_layers
