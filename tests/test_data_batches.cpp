// BatchIterator: determinism per (seed, epoch), coverage, normalization, crop/flip, buffer reuse.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/batch_iterator.hpp"
#include "expect_error.hpp"

namespace test_data_batches {

namespace {

// n images of c x h x w with pixel k of image i = (i * 37 + k * 11) % 256 and label i % num_classes.
ist::ImageDataset make_data(int n, int c, int h, int w, int num_classes) {
  ist::ImageDataset d;
  d.n = n;
  d.c = c;
  d.h = h;
  d.w = w;
  d.num_classes = num_classes;
  d.source = "synthetic";
  for (int i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < d.image_size(); ++k)
      d.pixels.push_back(static_cast<std::uint8_t>((static_cast<std::size_t>(i) * 37 + k * 11) % 256));
    d.labels.push_back(i % num_classes);
  }
  return d;
}

struct Epoch {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  std::vector<int> sizes;
};

Epoch run_epoch(ist::BatchIterator& it, std::uint64_t epoch) {
  it.start_epoch(epoch);
  Epoch e;
  ist::Batch b;
  while (it.next(b)) {
    const std::size_t image = static_cast<std::size_t>(b.c) * b.h * b.w;
    e.x.insert(e.x.end(), b.x, b.x + static_cast<std::size_t>(b.size) * image);
    e.y.insert(e.y.end(), b.y, b.y + b.size);
    e.sizes.push_back(b.size);
  }
  return e;
}

using ist::test::contains;
using ist::test::error_of;

}  // namespace

TEST_CASE("data: batches are a pure function of (seed, epoch)") {
  const auto data = make_data(100, 1, 4, 4, 100);  // label = index
  const ist::Augmentation aug{2, true};
  ist::BatchIterator a(data, 16, ist::fashion_mnist_normalization(), aug, 42);
  ist::BatchIterator b(data, 16, ist::fashion_mnist_normalization(), aug, 42);

  // Same (seed, epoch) gives the same batches, whatever ran before.
  const Epoch a3 = run_epoch(a, 3);
  (void)run_epoch(b, 0);
  (void)run_epoch(b, 7);
  const Epoch b3 = run_epoch(b, 3);
  CHECK(a3.x == b3.x);
  CHECK(a3.y == b3.y);
  CHECK(run_epoch(a, 3).x == a3.x);  // replaying the epoch

  // The order is Rng(seed, {epoch}) applied to the identity.
  std::vector<std::int32_t> expected(100);
  for (int i = 0; i < 100; ++i) expected[static_cast<std::size_t>(i)] = i;
  ist::Rng rng(42, {3});
  rng.shuffle(std::span<std::int32_t>(expected));
  CHECK(a3.y == expected);

  // Other epochs and other seeds differ, in order and in augmentation.
  const Epoch a4 = run_epoch(a, 4);
  CHECK(a4.y != a3.y);
  ist::BatchIterator c(data, 16, ist::fashion_mnist_normalization(), aug, 43);
  CHECK(run_epoch(c, 3).y != a3.y);

  // The augmentation of a sample does not depend on the batch size.
  ist::BatchIterator one(data, 1, ist::fashion_mnist_normalization(), aug, 42);
  ist::BatchIterator all(data, 100, ist::fashion_mnist_normalization(), aug, 42);
  CHECK(run_epoch(one, 3).x == a3.x);
  CHECK(run_epoch(all, 3).x == a3.x);
}

TEST_CASE("data: every sample is visited exactly once per epoch") {
  const auto data = make_data(37, 2, 3, 5, 37);
  ist::BatchIterator it(data, 8, {}, {}, 9);
  for (std::uint64_t epoch = 0; epoch < 4; ++epoch) {
    const Epoch e = run_epoch(it, epoch);
    REQUIRE(e.y.size() == 37);
    std::vector<std::int32_t> sorted = e.y;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 37; ++i) CHECK(sorted[static_cast<std::size_t>(i)] == i);
    // Each x is its sample's pixels / 255.
    for (std::size_t b = 0; b < e.y.size(); ++b) {
      const std::size_t i = static_cast<std::size_t>(e.y[b]);
      for (std::size_t k = 0; k < data.image_size(); ++k) {
        CHECK(e.x[b * data.image_size() + k] == doctest::Approx(data.pixels[i * data.image_size() + k] / 255.0));
      }
    }
  }
  // shuffle = false: identity order every epoch.
  ist::BatchIterator plain(data, 8, {}, {}, 9, false);
  const Epoch e = run_epoch(plain, 5);
  for (int i = 0; i < 37; ++i) CHECK(e.y[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("data: normalization values") {
  auto data = make_data(2, 3, 2, 2, 2);
  data.pixels = {0, 51, 102, 255, 10, 20, 30, 40, 255, 255, 0, 0,  // image 0: channels 0, 1, 2
                 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const ist::Normalization norm = ist::cifar10_normalization();
  ist::BatchIterator it(data, 2, norm, {}, 1, false);
  ist::Batch b;
  REQUIRE(it.next(b));
  CHECK(b.size == 2);
  CHECK(b.c == 3);
  CHECK(b.h == 2);
  CHECK(b.w == 2);
  for (std::size_t k = 0; k < 24; ++k) {
    const std::size_t ch = (k / 4) % 3;
    const double expected = (data.pixels[k] / 255.0 - norm.mean[ch]) / norm.stddev[ch];
    CHECK(b.x[k] == doctest::Approx(expected).epsilon(1e-6));
  }
  CHECK(b.x[0] == doctest::Approx(-0.4914 / 0.2470).epsilon(1e-6));
  CHECK(b.x[3] == doctest::Approx((1.0 - 0.4914) / 0.2470).epsilon(1e-6));

  CHECK(ist::fashion_mnist_normalization().mean == std::vector<float>{0.2860f});
  CHECK(ist::fashion_mnist_normalization().stddev == std::vector<float>{0.3530f});

  // compute_normalization: channel 0 is half 0 and half 255 (mean 0.5, std 0.5), channel 1 constant 51.
  ist::ImageDataset two = make_data(2, 2, 1, 2, 1);
  two.pixels = {0, 255, 51, 51, 255, 0, 51, 51};
  const auto computed = ist::compute_normalization(two);
  CHECK(computed.mean[0] == doctest::Approx(0.5));
  CHECK(computed.stddev[0] == doctest::Approx(0.5));
  CHECK(computed.mean[1] == doctest::Approx(0.2));
  CHECK(computed.stddev[1] == 1.0f);  // constant channel
}

TEST_CASE("data: crop and flip on a hand-made image") {
  // One 1x3x3 image with raw values 10..90; no normalization, so outputs are raw / 255.
  ist::ImageDataset d;
  d.n = 1;
  d.c = 1;
  d.h = 3;
  d.w = 3;
  d.num_classes = 1;
  d.pixels = {10, 20, 30, 40, 50, 60, 70, 80, 90};
  d.labels = {0};
  using Image = std::vector<int>;  // raw values, 0 = padding
  auto observed_images = [&](ist::Augmentation aug) {
    ist::BatchIterator it(d, 1, {}, aug, 11);
    std::set<Image> seen;
    for (std::uint64_t epoch = 0; epoch < 400; ++epoch) {
      it.start_epoch(epoch);
      ist::Batch b;
      REQUIRE(it.next(b));
      Image img;
      for (int k = 0; k < 9; ++k) img.push_back(static_cast<int>(b.x[k] * 255.0f + 0.5f));
      seen.insert(img);
    }
    return seen;
  };
  // Reference: out[y][x] = padded[y + oy][cx + ox], cx = flip ? 2 - x : x, padded = raw shifted by pad.
  auto reference = [&](int pad, int oy, int ox, bool flip) {
    Image img;
    for (int y = 0; y < 3; ++y) {
      for (int x = 0; x < 3; ++x) {
        const int sy = y + oy - pad, sx = (flip ? 2 - x : x) + ox - pad;
        img.push_back(sy >= 0 && sy < 3 && sx >= 0 && sx < 3 ? d.pixels[static_cast<std::size_t>(sy * 3 + sx)] : 0);
      }
    }
    return img;
  };

  SUBCASE("flip only: the image or its mirror, both seen") {
    const std::set<Image> expected = {{10, 20, 30, 40, 50, 60, 70, 80, 90}, {30, 20, 10, 60, 50, 40, 90, 80, 70}};
    CHECK(observed_images({0, true}) == expected);
  }
  SUBCASE("crop only: all 9 windows of the zero-padded image") {
    std::set<Image> expected;
    for (int oy = 0; oy < 3; ++oy)
      for (int ox = 0; ox < 3; ++ox) expected.insert(reference(1, oy, ox, false));
    CHECK(expected.size() == 9);
    CHECK(expected.count({0, 0, 0, 0, 10, 20, 0, 40, 50}) == 1);  // window at the padded image's corner
    CHECK(expected.count({50, 60, 0, 80, 90, 0, 0, 0, 0}) == 1);  // the opposite corner
    CHECK(observed_images({1, false}) == expected);
  }
  SUBCASE("crop and flip: 18 variants, flip applied to the cropped window") {
    std::set<Image> expected;
    for (int oy = 0; oy < 3; ++oy)
      for (int ox = 0; ox < 3; ++ox)
        for (bool flip : {false, true}) expected.insert(reference(1, oy, ox, flip));
    CHECK(expected.size() == 18);
    CHECK(expected.count({0, 0, 0, 20, 10, 0, 50, 40, 0}) == 1);  // corner window, then mirrored
    CHECK(observed_images({1, true}) == expected);
  }
  SUBCASE("padding is raw 0 before normalization") {
    ist::BatchIterator it(d, 1, {{0.5f}, {0.25f}}, {3, false}, 1);
    // pad 3 on a 3x3 image: some window is all padding, which reads (0 - 0.5) / 0.25 = -2.
    bool saw_all_padding = false;
    for (std::uint64_t epoch = 0; epoch < 200 && !saw_all_padding; ++epoch) {
      it.start_epoch(epoch);
      ist::Batch b;
      REQUIRE(it.next(b));
      saw_all_padding = std::all_of(b.x, b.x + 9, [](float v) { return v == -2.0f; });
      for (int k = 0; k < 9; ++k) {
        const bool is_pad = b.x[k] == -2.0f;
        const bool is_pixel = std::any_of(d.pixels.begin(), d.pixels.end(), [&](std::uint8_t p) {
          return b.x[k] == doctest::Approx((p / 255.0 - 0.5) / 0.25);
        });
        CHECK((is_pad || is_pixel));
      }
    }
    CHECK(saw_all_padding);
  }
}

TEST_CASE("data: batch buffers are allocated once and reused") {
  const auto data = make_data(50, 3, 8, 8, 10);
  ist::BatchIterator it(data, 8, ist::cifar10_normalization(), {2, true}, 5);
  ist::Batch b;
  REQUIRE(it.next(b));
  const float* x0 = b.x;
  const std::int32_t* y0 = b.y;
  const std::int32_t* order0 = it.order().data();
  int batches = 1;
  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    if (epoch > 0) it.start_epoch(epoch);
    while (it.next(b)) {
      CHECK(b.x == x0);
      CHECK(b.y == y0);
      ++batches;
    }
    CHECK(it.order().data() == order0);
  }
  CHECK(batches == 3 * 7);
}

TEST_CASE("data: last partial batch and drop_last") {
  const auto data = make_data(10, 1, 2, 2, 10);
  ist::BatchIterator keep(data, 4, {}, {}, 3);
  CHECK(keep.batches_per_epoch() == 3);
  CHECK(run_epoch(keep, 0).sizes == std::vector<int>{4, 4, 2});
  ist::BatchIterator drop(data, 4, {}, {}, 3, true, true);
  CHECK(drop.batches_per_epoch() == 2);
  const Epoch e = run_epoch(drop, 0);
  CHECK(e.sizes == std::vector<int>{4, 4});
  // The 8 samples kept are the first 8 of the same order.
  const Epoch kept = run_epoch(keep, 0);
  CHECK(e.y == std::vector<std::int32_t>(kept.y.begin(), kept.y.begin() + 8));
  ist::Batch b;
  CHECK_FALSE(drop.next(b));  // stays done until the next start_epoch
  ist::BatchIterator big(data, 64, {}, {}, 3);
  CHECK(big.batches_per_epoch() == 1);
  CHECK(run_epoch(big, 0).sizes == std::vector<int>{10});
  ist::BatchIterator big_drop(data, 64, {}, {}, 3, true, true);
  CHECK(big_drop.batches_per_epoch() == 0);
  CHECK(run_epoch(big_drop, 0).sizes.empty());
  ist::BatchIterator exact(data, 5, {}, {}, 3, true, true);
  CHECK(run_epoch(exact, 1).sizes == std::vector<int>{5, 5});
}

TEST_CASE("data: batch iterator rejects bad arguments") {
  const auto data = make_data(4, 2, 3, 3, 4);
  auto msg = error_of([&] { ist::BatchIterator it(data, 0, {}, {}, 1); });
  CHECK(contains(msg, "ist::BatchIterator: synthetic: expected batch_size >= 1, found 0"));
  msg = error_of([&] { ist::BatchIterator it(data, 2, ist::cifar10_normalization(), {}, 1); });
  CHECK(contains(msg, "expected normalization mean and stddev with 2 values each (or both empty), found 3 and 3"));
  msg = error_of([&] { ist::BatchIterator it(data, 2, {{0.f, 0.f}, {1.f, 0.f}}, {}, 1); });
  CHECK(contains(msg, "expected finite mean and stddev > 0 for channel 1"));
  msg = error_of([&] { ist::BatchIterator it(data, 2, {}, {4, false}, 1); });
  CHECK(contains(msg, "expected pad_crop in [0, 3], found 4"));
  auto broken = data;
  broken.labels.pop_back();
  msg = error_of([&] { ist::BatchIterator it(broken, 2, {}, {}, 1); });
  CHECK(contains(msg, "expected 4 images of 18 bytes and 4 labels, found 72 pixel bytes and 3 labels"));
}

}  // namespace test_data_batches
