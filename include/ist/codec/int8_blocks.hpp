#pragma once
// Int8Blocks: values as 8-bit integers with one float32 scale per block of 64 (absmax quantization), about
// a quarter of float32's bytes: 4 ceil(n / 64) + n bytes for n values.
//
//   payload: ceil(n / 64) x f32 scale, then n x i8 value; value i decodes to q_i * scale_(i / 64).
//   encode:  scale = max |v| over the block / 127 (0 for an all-zero block), q = round(v / scale) to nearest
//            (ties to even), in [-127, 127]. The error of a value is at most scale / 2 = absmax / 254 of its
//            block. Deterministic: the same bits on every machine.
//
// Blocks run over the slice as the plan concatenates it, so a block may straddle two tensors (a conv
// weight's tail and the next batch norm's gammas): the smaller tensor's values then round on the larger
// one's scale. With 64-value blocks that touches at most 63 values per tensor boundary.
//
// Used by TopK for the downlink (the values a worker trains from): the worker's update is taken against the
// values it decoded, and the coordinator adds it to its FP32 master copy, so the rounding of what travels
// down never accumulates in the global model.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ist/codec/payload.hpp"
#include "ist/core/error.hpp"

namespace ist::codec::detail {

struct Int8Blocks {
  static constexpr std::size_t kBlock = 64;

  // The largest scale whose 127 steps stay finite: a decoded value is at most 127 x scale.
  static constexpr float kMaxScale = 3.4028234663852886e38f / 127.f * 0.99999f;

  static std::size_t bytes(std::size_t n) noexcept { return 4 * ((n + kBlock - 1) / kBlock) + n; }

  // Throws (naming `who`) on a value that is not finite: a diverged run has no scale to quantize with.
  static void encode(std::string_view who, std::span<const float> v, Bytes& out) {
    const std::size_t n = v.size(), blocks = (n + kBlock - 1) / kBlock;
    out.resize(bytes(n));
    std::byte* scales = out.data();
    std::byte* values = out.data() + 4 * blocks;
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
      float absmax = 0.f;
      for (std::size_t i = lo; i < hi; ++i) {
        IST_CHECK(std::isfinite(v[i]), who, ": expected finite values to quantize, found ", v[i], " at index ", i,
                  " of ", n, " (the run diverged; lower the learning rate or use --codec float32)");
        absmax = std::max(absmax, std::fabs(v[i]));
      }
      const float scale = absmax / 127.f;
      IST_CHECK(scale <= kMaxScale, who, ": expected values of magnitude below ", kMaxScale * 127.f,
                " to quantize, found ", absmax, " in block ", b);
      put<float>(scales + 4 * b, scale);
      for (std::size_t i = lo; i < hi; ++i) {
        const float q = scale > 0.f ? std::nearbyint(v[i] / scale) : 0.f;
        values[i] = std::byte(std::uint8_t(std::int8_t(std::clamp(q, -127.f, 127.f))));
      }
    }
  }

  // Throws "<who>: expected ..., found ..." on a payload of the wrong size, a scale that is negative, not
  // finite or above kMaxScale (its values would overflow), or the value -128 (outside the symmetric range
  // the encoder writes).
  static void decode(std::string_view who, std::span<const std::byte> in, std::span<float> v) {
    const std::size_t n = v.size(), blocks = (n + kBlock - 1) / kBlock;
    IST_CHECK(in.size() == bytes(n), who, ": expected a payload of ", bytes(n), " bytes (", blocks,
              " float32 block scales, then ", n, " int8 values), found ", in.size(), " bytes");
    const std::byte* scales = in.data();
    const std::byte* values = in.data() + 4 * blocks;
    for (std::size_t b = 0; b < blocks; ++b) {
      const float scale = get<float>(scales + 4 * b);
      IST_CHECK(scale >= 0.f && scale <= kMaxScale, who, ": expected block scale ", b, " in [0, ", kMaxScale,
                "] (127 steps of it stay finite), found ", scale);
      const std::size_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
      for (std::size_t i = lo; i < hi; ++i) {
        const auto q = std::int8_t(std::uint8_t(values[i]));
        IST_CHECK(q != -128, who, ": expected int8 value ", i, " in [-127, 127], found -128");
        v[i] = float(q) * scale;
      }
    }
  }
};

}  // namespace ist::codec::detail
