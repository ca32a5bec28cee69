// Transfer codecs (ist/codec): round trips (Float32 bit-exact, bf16/fp16 within their rounding, TopK's int8
// downlink within half a step of its block scale), top-k keeps exactly k entries (the same set a full sort picks), every decoder rejects malformed payloads naming what it
// expected and found, error feedback recovers what plain top-k loses; and in the trainer: the ledger counts
// what travels (bf16: exactly half of float32), float32 is today's run bit for bit, residuals are kept per
// worker and global parameter index, and a TopK run resumes from a checkpoint bit for bit.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "expect_error.hpp"
#include "synthetic_images.hpp"
#include "ist/codec/codec.hpp"
#include "ist/core/rng.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/model/resnet.hpp"
#include "ist/train/mlp_traits.hpp"
#include "ist/train/trainer.hpp"

namespace test_codec {

using namespace ist;
using ist::test::contains;
using ist::test::error_of;
using ist::test::quadrant_images;

namespace {

std::vector<float> random_values(std::size_t n, std::uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(scale * (2.0 * rng.uniform() - 1.0) * std::exp(6.0 * rng.uniform() - 3.0));
  return v;
}

std::vector<float> decoded_values(const codec::AnyCodec& c, std::span<const float> v) {
  codec::Bytes b;
  c.encode_values(v, b);
  std::vector<float> out(v.size());
  c.decode_values(b, out);
  return out;
}

// The k largest magnitudes by a full sort (ties: lower index), ascending indices: the reference.
std::vector<std::uint32_t> top_k_by_sort(std::span<const float> a, std::size_t k) {
  std::vector<std::uint32_t> idx(a.size());
  std::iota(idx.begin(), idx.end(), 0u);
  const auto mag = [&](std::uint32_t i) { return std::isnan(a[i]) ? std::numeric_limits<float>::infinity() : std::fabs(a[i]); };
  std::stable_sort(idx.begin(), idx.end(), [&](std::uint32_t i, std::uint32_t j) { return mag(i) > mag(j); });
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace

TEST_CASE("codec: Float32 round trip is bit-exact, special values included") {
  std::vector<float> v = random_values(1001, 1);
  v[0] = -0.f;
  v[1] = std::numeric_limits<float>::infinity();
  v[2] = std::bit_cast<float>(0x7fc01234u);  // NaN with a payload
  v[3] = std::numeric_limits<float>::denorm_min();
  const codec::AnyCodec c = codec::parse_codec("float32");
  CHECK(c.is_float32());
  CHECK_FALSE(c.returns_update());
  const std::vector<float> back = decoded_values(c, v);
  CHECK(std::memcmp(back.data(), v.data(), v.size() * 4) == 0);
  codec::Bytes b;
  c.encode_values(v, b);
  CHECK(b.size() == v.size() * 4);
}

TEST_CASE("codec: bf16 and fp16 round to nearest even, within half a unit in the last place") {
  const std::vector<float> v = random_values(20000, 2);
  codec::Bytes b;
  SUBCASE("bf16") {
    const codec::AnyCodec c = codec::parse_codec("bf16");
    c.encode_values(v, b);
    CHECK(b.size() == v.size() * 2);
    const std::vector<float> back = decoded_values(c, v);
    for (std::size_t i = 0; i < v.size(); ++i) {
      CAPTURE(v[i]);
      // 8 significant bits: half a unit in the last place is 2^(exponent - 8).
      REQUIRE(std::fabs(back[i] - v[i]) <= std::ldexp(1.0, std::ilogb(v[i]) - 8));
      REQUIRE((std::bit_cast<std::uint32_t>(back[i]) & 0xffffu) == 0u);
    }
    // Exactly representable values are kept; ties go to even; NaN stays NaN; range is float32's.
    CHECK(codec::bf16_to_float(codec::float_to_bf16(1.5f)) == 1.5f);
    CHECK(codec::float_to_bf16(std::bit_cast<float>(0x3f808000u)) == 0x3f80u);  // 1 + 2^-8: tie, to even (down)
    CHECK(codec::float_to_bf16(std::bit_cast<float>(0x3f818000u)) == 0x3f82u);  // tie, to even (up)
    CHECK(std::isnan(codec::bf16_to_float(codec::float_to_bf16(std::nanf("")))));
    CHECK(codec::bf16_to_float(codec::float_to_bf16(3e38f)) == doctest::Approx(3e38).epsilon(0.004));
  }
  SUBCASE("fp16") {
    const codec::AnyCodec c = codec::parse_codec("fp16");
    c.encode_values(v, b);
    CHECK(b.size() == v.size() * 2);
    const std::vector<float> back = decoded_values(c, v);
    for (std::size_t i = 0; i < v.size(); ++i) {
      CAPTURE(v[i]);
      // 11 significant bits: half a unit in the last place is 2^(exponent - 11); subnormals: half of 2^-24.
      const float a = std::fabs(v[i]);
      const double bound = a >= 0x1p-14f ? std::ldexp(1.0, std::ilogb(a) - 11) : 0x1p-25;
      REQUIRE(std::fabs(back[i] - v[i]) <= bound);
    }
    // Every one of the 63488 finite binary16 values survives float -> fp16 -> float -> fp16.
    for (std::uint32_t h = 0; h < 0x10000u; ++h) {
      if ((h & 0x7c00u) == 0x7c00u) continue;
      REQUIRE(codec::float_to_fp16(codec::fp16_to_float(std::uint16_t(h))) == h);
    }
    CHECK(codec::float_to_fp16(65504.f) == 0x7bffu);
    CHECK(codec::float_to_fp16(65519.f) == 0x7bffu);
    CHECK(codec::float_to_fp16(65520.f) == 0x7c00u);  // rounds to infinity
    CHECK(codec::float_to_fp16(-1e6f) == 0xfc00u);
    CHECK(codec::float_to_fp16(0x1p-25f) == 0u);             // tie with zero: even
    CHECK(codec::float_to_fp16(0x1.0001p-25f) == 1u);        // just above: the smallest subnormal
    CHECK(codec::fp16_to_float(1u) == 0x1p-24f);
    CHECK(std::isnan(codec::fp16_to_float(codec::float_to_fp16(std::nanf("")))));
  }
}

TEST_CASE("codec: top-k keeps exactly k entries, the k largest a full sort finds") {
  for (std::size_t n : {1u, 2u, 7u, 100u, 1000u, 5000u, 100003u}) {
    for (double f : {0.001, 0.01, 0.1, 0.5, 1.0}) {
      CAPTURE(n);
      CAPTURE(f);
      std::vector<float> a = random_values(n, 3 + n);
      if (n > 10) {  // ties and zeros, a NaN, and a block of equal values
        a[3] = a[5];
        a[7] = std::nanf("");
        for (std::size_t i = n / 2; i < n / 2 + 5; ++i) a[i] = 0.25f;
        for (std::size_t i = 0; i < n / 10; ++i) a[n - 1 - i] = 0.f;
      }
      const std::size_t k = codec::top_k_count(n, f);
      CHECK(k == std::clamp<std::size_t>(std::size_t(std::ceil(f * double(n) - 1e-9)), 1, n));
      std::vector<std::uint32_t> idx;
      std::vector<float> scratch;
      codec::select_top_k(a, k, idx, scratch);
      REQUIRE(idx.size() == k);
      CHECK(idx == top_k_by_sort(a, k));

      // The payload carries exactly k entries, as a bitmap of n bits when that is smaller than k u32
      // indices, and their values in bf16; it decodes to them.
      const codec::TopK c{f, false};
      codec::Bytes b;
      c.encode_update(a, std::span<float>(), b);
      const std::size_t index_bytes = k == n ? 0 : (n + 7) / 8 < 4 * k ? (n + 7) / 8 : 4 * k;  // k = n: none
      CHECK(codec::top_k_index_bytes(n, k) == index_bytes);
      CHECK(b.size() == 8 + index_bytes + 2 * k);
      CHECK(c.update_bytes(n) == b.size());
      std::vector<float> u(n, 1.f);
      c.decode_update(b, u);
      std::size_t nonzero_slots = 0;
      for (std::size_t i = 0, j = 0; i < n; ++i) {
        if (j < k && idx[j] == i) {
          const float sent = codec::bf16_to_float(codec::float_to_bf16(a[i]));
          CHECK(std::memcmp(&u[i], &sent, 4) == 0);
          ++j;
          ++nonzero_slots;
        } else {
          REQUIRE(u[i] == 0.f);
        }
      }
      CHECK(nonzero_slots == k);
    }
  }
  // All-equal magnitudes: the lowest indices win.
  std::vector<float> same(50, -2.f);
  std::vector<std::uint32_t> idx;
  std::vector<float> scratch;
  codec::select_top_k(same, 5, idx, scratch);
  CHECK(idx == std::vector<std::uint32_t>{0, 1, 2, 3, 4});
}

TEST_CASE("codec: parse_codec reads --codec and rejects what it cannot, saying what it expected") {
  CHECK(codec::parse_codec("bf16").name() == "bf16");
  CHECK(codec::parse_codec("fp16").name() == "fp16");
  CHECK(codec::parse_codec("topk:0.1").name() == "topk:0.1");
  CHECK(codec::parse_codec("topk:0.01").name() == "topk:0.01");
  CHECK(codec::parse_codec("topk:0.05:no-ef").name() == "topk:0.05:no-ef");
  CHECK(codec::parse_codec("topk:0.05:f32-down").name() == "topk:0.05:f32-down");
  CHECK(codec::parse_codec("topk:0.05:no-ef:f32-down").name() == "topk:0.05:no-ef:f32-down");
  CHECK(codec::parse_codec("topk:0.1").keeps_residual());
  CHECK_FALSE(codec::parse_codec("topk:0.1:no-ef").keeps_residual());
  CHECK(codec::parse_codec("topk:0.1:f32-down").keeps_residual());
  // ":flush": the run's last round sends every entry (k = n); the other codecs' last round is themselves.
  CHECK(codec::parse_codec("topk:0.1:flush").name() == "topk:0.1:flush");
  CHECK(codec::parse_codec("topk:0.05:no-ef:f32-down:flush").name() == "topk:0.05:no-ef:f32-down:flush");
  CHECK(codec::parse_codec("topk:0.1:warmup:flush").name() == "topk:0.1:warmup:flush");
  CHECK(codec::parse_codec("topk:0.1:flush").for_round(9, 10).name() == "topk:1");
  CHECK(codec::parse_codec("topk:0.1:flush").for_round(0, 10).name() == "topk:0.1:flush");
  CHECK(codec::parse_codec("topk:0.1:f32-down:flush").for_round(9, 10).name() == "topk:1:f32-down");
  CHECK(codec::parse_codec("topk:0.1:warmup").for_round(0, 10).name() == "topk:1");
  CHECK(codec::parse_codec("topk:0.1:warmup").for_round(9, 10).name() == "topk:0.1:warmup");
  CHECK(codec::parse_codec("topk:0.1:warmup:flush").for_round(5, 10).name() == "topk:0.1:warmup:flush");
  CHECK(codec::parse_codec("topk:0.1").for_round(9, 10).name() == "topk:0.1");
  CHECK(codec::parse_codec("bf16").for_round(0, 1).name() == "bf16");
  for (const char* bad : {"int8", "topk", "topk:", "topk:0", "topk:1.5", "topk:x", "topk:0.1x", "",
                          "topk:0.1:f32-down:no-ef", "topk:0.1:int8", "topk:0.1:flush:f32-down", "topk:flush",
                          "topk:0.1:flush:warmup", "topk:0.1:warmup:no-ef"}) {
    CAPTURE(bad);
    const std::string m = error_of([&] { (void)codec::parse_codec(bad, "--codec"); });
    CHECK(contains(m, "--codec"));
    CHECK(contains(m, "expected"));
  }
  TrainerConfig cfg;
  cfg.codec = "bf32";
  CHECK(contains(error_of([&] { validate(cfg); }), "ist::TrainerConfig: codec: expected a codec float32 | bf16"));
}

TEST_CASE("codec: every decoder rejects malformed payloads, naming what it expected and what it found") {
  const std::vector<float> v = random_values(40, 4);
  std::vector<float> out(40);
  codec::Bytes good;
  for (const char* name : {"float32", "bf16", "fp16", "topk:0.1", "topk:0.1:f32-down", "topk:1"}) {
    CAPTURE(name);
    const codec::AnyCodec c = codec::parse_codec(name);
    c.encode_values(v, good);
    codec::Bytes shorter(good.begin(), good.end() - 1), longer = good;
    longer.push_back(std::byte{0});
    std::string m = error_of([&] { c.decode_values(shorter, out); });
    CHECK(contains(m, "expected a payload of " + std::to_string(good.size()) + " bytes"));
    CHECK(contains(m, "found " + std::to_string(good.size() - 1) + " bytes"));
    m = error_of([&] { c.decode_values(longer, out); });
    CHECK(contains(m, "found " + std::to_string(good.size() + 1) + " bytes"));
    CHECK(contains(m, "ist::codec::"));
    c.encode_update(v, std::span<float>(), good);
    shorter.assign(good.begin(), good.end() - 1);
    m = error_of([&] { c.decode_update(shorter, out); });
    CHECK(contains(m, "ist::codec::"));
    CHECK(contains(m, "expected"));
    CHECK(contains(m, "found"));
    CHECK(contains(error_of([&] { c.decode_update(codec::Bytes{}, out); }), "found 0 bytes"));
  }
  auto with_word = [](const codec::Bytes& payload, std::size_t at, std::uint32_t w) {
    codec::Bytes b = payload;
    std::memcpy(b.data() + at, &w, 4);
    return b;
  };
  auto with_byte = [](const codec::Bytes& payload, std::size_t at, std::uint8_t x) {
    codec::Bytes b = payload;
    b[at] = std::byte(x);
    return b;
  };
  SUBCASE("TopK's header and u32 indices (k <= n / 32)") {
    const std::vector<float> w = random_values(400, 5);
    std::vector<float> dense(400);
    const codec::TopK c{0.01, true};
    std::vector<float> residual(400, 0.f);
    c.encode_update(w, residual, good);  // k = 4: 16 bytes of indices against a 50-byte bitmap
    REQUIRE(good.size() == 8 + 4 * 4 + 2 * 4);
    CHECK(contains(error_of([&] { c.decode_update(with_word(good, 0, 401), dense); }),
                   "expected header n = 400 (the slice's length), found 401"));
    CHECK(contains(error_of([&] { c.decode_update(with_word(good, 4, 5), dense); }),
                   "expected header k = 4 (topk:0.01 of 400 values), found 5"));
    CHECK(contains(error_of([&] { c.decode_update(with_word(good, 8, 400), dense); }),
                   "expected index 0 to be above -1 and below n = 400 (strictly increasing), found 400"));
    CHECK(contains(error_of([&] { c.decode_update(with_word(good, 20, 400), dense); }), "expected index 3 to be above"));
    std::uint32_t first = 0;
    std::memcpy(&first, good.data() + 8, 4);
    CHECK(contains(error_of([&] { c.decode_update(with_word(good, 12, first), dense); }), "strictly increasing"));
    CHECK(contains(error_of([&] { c.decode_update(codec::Bytes(7), dense); }),
                   "expected a payload of 32 bytes (an 8-byte header, 4 u32 indices, then 4 bf16 values), found 7 bytes"));
  }
  SUBCASE("TopK's bitmap (k > n / 32)") {
    const std::vector<float> w = random_values(43, 6);
    std::vector<float> dense(43);
    const codec::TopK c{0.1, false};
    c.encode_update(w, std::span<float>(), good);  // k = 5: a 6-byte bitmap against 20 bytes of indices
    REQUIRE(good.size() == 8 + 6 + 2 * 5);
    CHECK(contains(error_of([&] { c.decode_update(with_word(good, 4, 4), dense); }),
                   "expected header k = 5 (topk:0.1:no-ef of 43 values), found 4"));
    // A bit more or a bit fewer than k.
    std::size_t clear_at = 8;
    while (good[clear_at] == std::byte{0}) ++clear_at;
    const auto low_bit = std::uint8_t(std::uint8_t(good[clear_at]) & -std::uint8_t(good[clear_at]));
    CHECK(contains(error_of([&] {
                     c.decode_update(with_byte(good, clear_at, std::uint8_t(std::uint8_t(good[clear_at]) ^ low_bit)), dense);
                   }),
                   "expected a bitmap with 5 bits set, found 4"));
    // Bits at and above n = 43 (the last byte holds bits 40-47): a set bit 45 with one of the k cleared.
    codec::Bytes past = with_byte(good, clear_at, std::uint8_t(std::uint8_t(good[clear_at]) ^ low_bit));
    past[8 + 5] |= std::byte(1u << 5);
    if (clear_at == 8 + 5) past = with_byte(good, 8 + 5, std::uint8_t((std::uint8_t(good[13]) ^ low_bit) | (1u << 5)));
    CHECK(contains(error_of([&] { c.decode_update(past, dense); }),
                   "expected the bitmap's bits at and above n = 43 to be zero, found bits set"));
    CHECK(contains(error_of([&] { c.decode_update(codec::Bytes(7), dense); }),
                   "expected a payload of 24 bytes (an 8-byte header, a bitmap of 43 bits, then 5 bf16 values), found 7 bytes"));
  }
  SUBCASE("TopK's int8 downlink: block scales and the value -128") {
    const std::vector<float> w = random_values(100, 7);  // 2 blocks: 8 bytes of scales, then 100 values
    std::vector<float> values(100);
    const codec::TopK c{0.1, true};
    c.encode_values(w, good);
    REQUIRE(good.size() == 8 + 100);
    CHECK(c.values_bytes(100) == good.size());
    const std::string negative =
        error_of([&] { c.decode_values(with_word(good, 4, std::bit_cast<std::uint32_t>(-1.f)), values); });
    CHECK(contains(negative, "ist::codec::TopK::decode_values: expected block scale 1 in [0, "));
    CHECK(contains(negative, "] (127 steps of it stay finite), found -1"));
    CHECK(contains(error_of([&] { c.decode_values(with_word(good, 0, 0x7fc00000u), values); }),
                   "expected block scale 0 in [0, "));
    // A finite scale whose steps overflow (found by fuzz_codec: 4.25e37 x -24 is -inf).
    CHECK(contains(error_of([&] { c.decode_values(with_word(good, 0, 0x7e0000cau), values); }),
                   "expected block scale 0 in [0, "));
    CHECK(contains(error_of([&] { c.decode_values(with_byte(good, 8 + 70, 0x80), values); }),
                   "expected int8 value 70 in [-127, 127], found -128"));
    // A value that is not finite cannot be quantized: the encoder says so.
    std::vector<float> bad = w;
    bad[42] = std::numeric_limits<float>::infinity();
    CHECK(contains(error_of([&] { c.encode_values(bad, good); }),
                   "ist::codec::TopK::encode_values: expected finite values to quantize, found inf at index 42 of 100"));
    bad[42] = std::numeric_limits<float>::max();
    CHECK(contains(error_of([&] { c.encode_values(bad, good); }), "to quantize, found 3.40282e+38 in block 0"));
  }
}

TEST_CASE("codec: TopK's int8 downlink is within half a step of each block's scale, and exact at the block maxima") {
  std::vector<float> v = random_values(64 * 40 + 17, 8);
  for (std::size_t i = 64 * 3; i < 64 * 4; ++i) v[i] = 0.f;  // an all-zero block: scale 0, decodes to zeros
  v[64 * 5 + 3] = -0.f;
  const codec::TopK c{0.1, true};
  codec::Bytes b;
  c.encode_values(v, b);
  CHECK(b.size() == 4 * 41 + v.size());
  std::vector<float> back(v.size());
  c.decode_values(b, back);
  for (std::size_t blk = 0; blk * 64 < v.size(); ++blk) {
    const std::size_t lo = blk * 64, hi = std::min(v.size(), lo + 64);
    float absmax = 0.f;
    for (std::size_t i = lo; i < hi; ++i) absmax = std::max(absmax, std::fabs(v[i]));
    const float scale = absmax / 127.f;
    for (std::size_t i = lo; i < hi; ++i) {
      CAPTURE(i);
      REQUIRE(std::fabs(back[i] - v[i]) <= 0.5f * scale * (1.f + 1e-6f));
      if (std::fabs(v[i]) == absmax) REQUIRE(std::fabs(back[i] - v[i]) <= 1e-6f * absmax);
    }
  }
  for (std::size_t i = 64 * 3; i < 64 * 4; ++i) REQUIRE(back[i] == 0.f);
  // Deterministic: the same payload again.
  codec::Bytes again;
  c.encode_values(v, again);
  CHECK(again == b);
}

TEST_CASE("codec: error feedback recovers what plain top-k loses") {
  // A small problem where plain top-k loses a signal for good: every round's update drifts all 200
  // coordinates by +0.01 while 10 coordinates swing by +-1 (net zero over two rounds). At k = 5% (10
  // entries) plain top-k only ever sends the swings: the drift never arrives. With error feedback the drift
  // accumulates in the residual until it is among the largest, and what arrived tracks the true sum within
  // the residual's bound.
  const std::size_t n = 200, rounds = 400;
  std::vector<double> truth(n, 0.0), plain_sum(n, 0.0), ef_sum(n, 0.0);
  std::vector<float> residual(n, 0.f), u(n), got(n);
  const codec::TopK plain{0.05, false}, ef{0.05, true};
  codec::Bytes b;
  for (std::size_t r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < n; ++i) u[i] = 0.01f + (i % 20 == 0 ? (r % 2 ? -1.f : 1.f) : 0.f);
    for (std::size_t i = 0; i < n; ++i) truth[i] += u[i];
    plain.encode_update(u, std::span<float>(), b);
    plain.decode_update(b, got);
    for (std::size_t i = 0; i < n; ++i) plain_sum[i] += got[i];
    ef.encode_update(u, residual, b);
    ef.decode_update(b, got);
    for (std::size_t i = 0; i < n; ++i) ef_sum[i] += got[i];
  }
  double plain_err = 0, ef_err = 0;
  for (std::size_t i = 0; i < n; ++i) {
    plain_err = std::max(plain_err, std::fabs(truth[i] - plain_sum[i]));
    ef_err = std::max(ef_err, std::fabs(truth[i] - ef_sum[i]));
    // What was not delivered is exactly what the residual holds (up to float rounding).
    CHECK(truth[i] - ef_sum[i] == doctest::Approx(residual[i]).epsilon(1e-3).scale(1.0));
  }
  MESSAGE("after ", rounds, " rounds: plain top-k misses up to ", plain_err, ", with error feedback ", ef_err);
  CHECK(plain_err >= 0.99 * 0.01 * rounds);  // the drift of the quiet coordinates never arrived
  CHECK(ef_err <= 1.5);                      // bounded by a couple of rounds' worth, not growing with rounds
}

// ---- the codecs in the trainer --------------------------------------------------------------------------

namespace {

using CodecResNet = ResNet<Stem<1, 4>, Stage<4, 4, 1, 1>, Stage<4, 8, 5, 2, Partitioned>, Head<8, 3>>;
using CodecMlp = Mlp<Input<64>, Dense<24>, Dense<16>, Dense<3>>;

TrainerConfig codec_config(const std::string& codec) {
  TrainerConfig c;
  c.local_steps = 3;
  c.batch = 8;
  c.max_rounds = 3;
  c.sgd = {0.05, 0.9, 5e-4, false};
  c.eval_batch = 32;
  c.progress = false;
  c.codec = codec;
  return c;
}

template <class Net, class D>
using Trainer = IndependentSubnetTrainer<Net, D>;

template <class Net, class D>
std::vector<RoundRecord> run_rounds(Trainer<Net, D>& t, const ImageDataset& data, int rounds) {
  t.prepare(data);
  std::vector<RoundRecord> out;
  for (int r = 0; r < rounds; ++r) out.push_back(t.train_round(std::uint64_t(r)));
  return out;
}

bool bitwise_equal(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

}  // namespace

TEST_CASE("codec trainer: bf16 and fp16 move exactly half of float32's bytes, per worker and direction") {
  const auto data = quadrant_images(96, 21);
  Trainer<CodecResNet, LayerwiseRandom> f32(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)),
                                            codec_config("float32"));
  const auto a = run_rounds(f32, data, 3);
  for (const std::string name : {"bf16", "fp16"}) {
    CAPTURE(name);
    Trainer<CodecResNet, LayerwiseRandom> half(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)),
                                               codec_config(name));
    const auto b = run_rounds(half, data, 3);
    for (std::size_t r = 0; r < a.size(); ++r) {
      CAPTURE(r);
      REQUIRE(a[r].worker_traffic.size() == b[r].worker_traffic.size());
      CHECK(b[r].bytes_to_workers * 2 == a[r].bytes_to_workers);
      CHECK(b[r].bytes_from_workers * 2 == a[r].bytes_from_workers);
      CHECK(b[r].messages == a[r].messages);
      for (std::size_t w = 0; w < a[r].worker_traffic.size(); ++w) {
        CHECK(b[r].worker_traffic[w].to_worker * 2 == a[r].worker_traffic[w].to_worker);
        CHECK(b[r].worker_traffic[w].from_worker * 2 == a[r].worker_traffic[w].from_worker);
      }
      CHECK(b[r].local_sgd_bytes == a[r].local_sgd_bytes);  // the baseline stays float32's
    }
    CHECK(half.backend().comm().ledger().total_bytes() * 2 == f32.backend().comm().ledger().total_bytes());
    // FP32 master weights: close to the float32 run, not equal (the workers trained on rounded values).
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < f32.params().size(); ++i) {
      diff = std::max(diff, double(std::fabs(f32.params()[i] - half.params()[i])));
      norm = std::max(norm, double(std::fabs(f32.params()[i])));
    }
    MESSAGE(name, ": largest weight difference to float32 after 3 rounds ", diff, " (largest weight ", norm, ")");
    CHECK(diff > 0);
    CHECK(diff < 0.05 * norm);
  }
}

TEST_CASE("codec trainer: float32 through the codec setting is the run without it, bit for bit") {
  const auto data = quadrant_images(96, 22);
  auto cfg = codec_config("float32");
  TrainerConfig plain = cfg;
  plain.codec = TrainerConfig{}.codec;
  Trainer<CodecResNet, LayerwiseRandom> a(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3)), cfg);
  Trainer<CodecResNet, LayerwiseRandom> b(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3)), plain);
  run_rounds(a, data, 3);
  run_rounds(b, data, 3);
  CHECK(plain.codec == "float32");
  CHECK(bitwise_equal(a.params(), b.params()));
  CHECK(a.transfer_codec().name() == "float32");
}

TEST_CASE("codec trainer: top-k moves int8 blocks down and its k entries up per worker, and the same seed gives the same weights") {
  const auto data = quadrant_images(96, 23);
  for (const std::string name : {"topk:0.1", "topk:0.01"}) {
    CAPTURE(name);
    const codec::TopK c = {name == "topk:0.1" ? 0.1 : 0.01, true};
    Trainer<CodecMlp, WidthwiseRandom> t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)),
                                         codec_config(name));
    Trainer<CodecMlp, WidthwiseRandom> again(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)),
                                             codec_config(name));
    t.prepare(data);
    again.prepare(data);
    for (int r = 0; r < 3; ++r) {
      const RoundRecord rec = t.train_round(std::uint64_t(r));
      again.train_round(std::uint64_t(r));
      const Plan plan = WidthwiseRandom{}.plan(t.info(), {1, std::uint64_t(r), 4});
      for (int w = 0; w < 4; ++w) {
        const std::size_t n = ModelTraits<CodecMlp>::slices(plan.workers[std::size_t(w)]).size();
        const std::size_t k = codec::top_k_count(n, c.fraction);
        CHECK(rec.worker_traffic[std::size_t(w)].to_worker == 4 * ((n + 63) / 64) + n);  // int8 blocks down
        CHECK(rec.worker_traffic[std::size_t(w)].from_worker == 8 + codec::top_k_index_bytes(n, k) + 2 * k);
      }
    }
    CHECK(bitwise_equal(t.params(), again.params()));
    for (int w = 0; w < 4; ++w) CHECK(bitwise_equal(t.codec_residual(w), again.codec_residual(w)));
  }
}

TEST_CASE("codec trainer: residuals are kept per worker and global parameter index, across changing slices") {
  // The rule (docs/codecs.md): worker w's residual is a vector over the global parameters, on the worker's
  // side. In a round, only the entries of w's slice change: the residual of the slice is added to w's update,
  // and what was not sent stays at those global indices. Entries outside the slice keep their value until w
  // holds those parameters again, whatever other workers did with them meanwhile.
  const auto data = quadrant_images(96, 24);
  const int S = 4;
  Trainer<CodecMlp, WidthwiseRandom> t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(S)),
                                       codec_config("topk:0.05"));
  t.prepare(data);
  const std::size_t P = ModelTraits<CodecMlp>::num_params;
  std::vector<std::vector<float>> before(S, std::vector<float>(P, 0.f));
  int kept_outside = 0, changed_inside = 0, sent_alone = 0;
  for (int r = 0; r < 4; ++r) {
    const Plan plan = WidthwiseRandom{}.plan(t.info(), {1, std::uint64_t(r), S});
    std::vector<float> global_before(t.params().begin(), t.params().end());
    t.train_round(std::uint64_t(r));
    // Which global parameters each worker held, and how many workers held each.
    std::vector<std::vector<float>> masks(S, std::vector<float>(P, 0.f));
    std::vector<int> holders(P, 0);
    for (int w = 0; w < S; ++w) {
      const SliceSet set = ModelTraits<CodecMlp>::slices(plan.workers[std::size_t(w)]);
      std::vector<float> ones(set.size(), 1.f);
      scatter(std::span<const float>(ones), set, std::span<float>(masks[std::size_t(w)]));
      for (std::size_t g = 0; g < P; ++g) holders[g] += masks[std::size_t(w)][g] != 0.f ? 1 : 0;
    }
    for (int w = 0; w < S; ++w) {
      CAPTURE(r);
      CAPTURE(w);
      const std::span<const float> now = t.codec_residual(w);
      REQUIRE(now.size() == P);
      const std::vector<float>& mask = masks[std::size_t(w)];
      const std::size_t n = std::size_t(std::count(mask.begin(), mask.end(), 1.f));
      std::size_t sent = 0;
      for (std::size_t g = 0; g < P; ++g) {
        if (mask[g] == 0.f) {
          REQUIRE(std::memcmp(&now[g], &before[std::size_t(w)][g], 4) == 0);  // untouched outside the slice
          ++kept_outside;
          continue;
        }
        changed_inside += std::memcmp(&now[g], &before[std::size_t(w)][g], 4) != 0 ? 1 : 0;
        // A parameter only w held moved the global model (master + what arrived) iff w sent it; a sent entry
        // keeps only its bf16 rounding, at most 2^-9 of it (2^-8 here, for the float rounding of master + d).
        if (holders[g] != 1 || t.params()[g] == global_before[g]) continue;
        ++sent;
        const float arrived = t.params()[g] - global_before[g];
        REQUIRE(std::fabs(now[g]) <= 0x1p-8f * std::fabs(arrived));
      }
      CHECK(sent <= codec::top_k_count(n, 0.05));
      sent_alone += int(sent);
      before[std::size_t(w)].assign(now.begin(), now.end());
    }
  }
  CHECK(sent_alone > 0);
  CHECK(kept_outside > 0);  // width-wise slices differ from round to round
  CHECK(changed_inside > 0);
}

TEST_CASE("codec trainer: with k = 100% and error feedback the residual holds only the bf16 rounding of the update") {
  // Every entry is sent, as bf16: what stays behind is the rounding, at most 2^-9 of an entry (updates of 3
  // local steps here are below 0.5: below 2^-10 in all). With a float32 downlink the run then follows the
  // float32 run within that rounding.
  const auto data = quadrant_images(64, 25);
  Trainer<CodecResNet, LayerwiseRandom> t(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)),
                                          codec_config("topk:1:f32-down"));
  Trainer<CodecResNet, LayerwiseRandom> ref(LayerwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)),
                                            codec_config("float32"));
  run_rounds(t, data, 2);
  run_rounds(ref, data, 2);
  std::size_t rounded = 0;
  for (int w = 0; w < 2; ++w)
    for (float x : t.codec_residual(w)) {
      REQUIRE(std::fabs(x) <= 0x1p-10f);
      rounded += x != 0.f ? 1 : 0;
    }
  CHECK(rounded > 0);
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < ref.params().size(); ++i) {
    diff = std::max(diff, double(std::fabs(t.params()[i] - ref.params()[i])));
    norm = std::max(norm, double(std::fabs(ref.params()[i])));
  }
  MESSAGE("largest weight difference to float32 after 2 rounds ", diff, " (largest weight ", norm, ")");
  CHECK(diff < 0.01 * norm);
}

TEST_CASE("codec trainer: topk:F:warmup and :flush send every entry in the run's first / last round only, leaving only bf16 rounding behind") {
  // The dense round (the first with :warmup, the last with :flush; max_rounds = 3) sends each worker's whole
  // update plus residual: 8 + 2n bytes, no indices; every other round moves topk:0.1's bytes, and the rounds
  // before the dense one are topk:0.1's bit for bit. After the dense round the residual inside the worker's
  // slice holds only the bf16 rounding of what was sent (updates of 3 local steps and their residuals are
  // below 0.5: below 2^-10 after rounding), where plain top-k keeps more; outside the slice it is untouched.
  const auto data = quadrant_images(96, 29);
  for (const auto& [name, dense] : {std::pair<const char*, int>{"topk:0.1:warmup", 0}, {"topk:0.1:flush", 2}}) {
    CAPTURE(name);
    Trainer<CodecMlp, WidthwiseRandom> t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)),
                                         codec_config(name));
    Trainer<CodecMlp, WidthwiseRandom> plain(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(4)),
                                             codec_config("topk:0.1"));
    t.prepare(data);
    plain.prepare(data);
    for (int r = 0; r < 3; ++r) {
      CAPTURE(r);
      std::vector<std::vector<float>> before(4);
      for (int w = 0; w < 4; ++w) before[std::size_t(w)].assign(t.codec_residual(w).begin(), t.codec_residual(w).end());
      if (before[0].empty())
        for (auto& b : before) b.assign(t.params().size(), 0.f);  // no residual before a worker's first round
      const RoundRecord a = t.train_round(std::uint64_t(r));
      const RoundRecord b = plain.train_round(std::uint64_t(r));
      const Plan plan = WidthwiseRandom{}.plan(t.info(), {1, std::uint64_t(r), 4});
      for (int w = 0; w < 4; ++w) {
        CAPTURE(w);
        const SliceSet set = ModelTraits<CodecMlp>::slices(plan.workers[std::size_t(w)]);
        const std::size_t n = set.size();
        const std::size_t k = r == dense ? n : codec::top_k_count(n, 0.1);
        CHECK(a.worker_traffic[std::size_t(w)].to_worker == b.worker_traffic[std::size_t(w)].to_worker);
        CHECK(a.worker_traffic[std::size_t(w)].from_worker ==
              8 + (r == dense ? 0 : codec::top_k_index_bytes(n, k)) + 2 * k);
        if (r != dense) continue;
        std::vector<float> inside(t.params().size(), 0.f);
        std::vector<float> ones(n, 1.f);
        scatter(std::span<const float>(ones), set, std::span<float>(inside));
        const std::span<const float> now = t.codec_residual(w), held = plain.codec_residual(w);
        float largest_held = 0;
        for (std::size_t i = 0; i < now.size(); ++i) {
          if (inside[i] != 0.f) {
            REQUIRE(std::fabs(now[i]) <= 0x1p-10f);
            largest_held = std::max(largest_held, std::fabs(held[i]));
          } else {
            REQUIRE(std::memcmp(&now[i], &before[std::size_t(w)][i], 4) == 0);
          }
        }
        CHECK(largest_held > 0x1p-10f);  // without the dense round, more than rounding waits there
      }
      CHECK(bitwise_equal(t.params(), plain.params()) == (r < dense));
    }
    CHECK(t.transfer_codec().name() == name);
  }
}

TEST_CASE("codec trainer: a top-k run stopped after round 2 and resumed from its checkpoint ends bit for bit as one run") {
  const auto data = quadrant_images(96, 26);
  const std::string dir = (std::filesystem::temp_directory_path() / "ist_codec_resume").string();
  std::filesystem::remove_all(dir);
  auto cfg = codec_config("topk:0.1");
  cfg.max_rounds = 4;
  cfg.eval_every = 0;
  Trainer<CodecMlp, WidthwiseRandom> whole(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3)), cfg);
  whole.fit(data, data);
  auto stopped_cfg = cfg;
  stopped_cfg.max_rounds = 2;
  stopped_cfg.checkpoint_dir = dir;
  Trainer<CodecMlp, WidthwiseRandom> stopped(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3)),
                                             stopped_cfg);
  stopped.fit(data, data);
  auto resumed_cfg = cfg;
  resumed_cfg.checkpoint_dir = dir;
  Trainer<CodecMlp, WidthwiseRandom> resumed(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3)),
                                             resumed_cfg);
  const FitResult rest = resumed.fit(data, data, dir);
  REQUIRE(rest.rounds.size() == 2);
  CHECK(bitwise_equal(whole.params(), resumed.params()));
  for (int w = 0; w < 3; ++w) CHECK(bitwise_equal(whole.codec_residual(w), resumed.codec_residual(w)));
  // The checkpoint records the codec: another codec may not continue the run.
  auto other = resumed_cfg;
  other.codec = "topk:0.2";
  Trainer<CodecMlp, WidthwiseRandom> wrong(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(3)), other);
  wrong.prepare(data);
  const std::string m = error_of([&] { wrong.resume(dir); });
  CHECK(contains(m, "codec must match the checkpoint's (topk:0.1), found topk:0.2"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("codec trainer: error feedback recovers accuracy that plain top-k loses (IST on an MLP, k = 1%)") {
  const auto data = quadrant_images(384, 27);
  const auto test = quadrant_images(192, 28);
  auto run = [&](const std::string& name) {
    auto cfg = codec_config(name);
    cfg.max_rounds = 12;
    cfg.local_steps = 5;
    cfg.eval_every = 0;
    cfg.sgd = {0.05, 0.0, 0.0, false};
    Trainer<CodecMlp, WidthwiseRandom> t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg);
    return t.fit(data, test).final_eval;
  };
  const EvalResult full = run("float32"), ef = run("topk:0.01"), plain = run("topk:0.01:no-ef");
  MESSAGE("test accuracy: float32 ", full.accuracy, ", top-1% with error feedback ", ef.accuracy,
          ", plain top-1% ", plain.accuracy, "; loss ", full.loss, " / ", ef.loss, " / ", plain.loss);
  CHECK(ef.loss < plain.loss);
  CHECK(ef.accuracy >= plain.accuracy);
}

TEST_CASE("codec trainer: a codec on a communicator without byte transfers stops at construction, saying why") {
  using ArchetypeBackend = CpuBackend<archetypes::CommunicatorArchetype>;
  const std::string m = error_of([] {
    IndependentSubnetTrainer<CodecResNet, LayerwiseRandom, HolderAverage, ArchetypeBackend> t(
        LayerwiseRandom{}, HolderAverage{}, ArchetypeBackend(archetypes::CommunicatorArchetype{}), codec_config("bf16"));
  });
  CHECK(contains(m, "ist::IndependentSubnetTrainer: codec bf16 needs a communicator that moves byte payloads"));
  // float32 needs nothing more than the Communicator concept.
  IndependentSubnetTrainer<CodecResNet, LayerwiseRandom, HolderAverage, ArchetypeBackend> ok(
      LayerwiseRandom{}, HolderAverage{}, ArchetypeBackend(archetypes::CommunicatorArchetype{}), codec_config("float32"));
  CHECK(ok.transfer_codec().is_float32());
}

}  // namespace test_codec
