#pragma once
// 16-bit floating-point formats for transfer codecs: bfloat16 (1 sign, 8 exponent, 7 mantissa bits: float32's
// range, 8 significant bits) and IEEE binary16 (1, 5, 10: 11 significant bits, largest finite 65504).
// Conversions from float round to nearest, ties to even; NaN stays NaN (quiet); binary16 overflows to
// infinity and keeps subnormals (smallest positive 2^-24). Pure bit arithmetic: the same bits on every
// machine and compiler, so encoded payloads are deterministic.
#include <bit>
#include <cstdint>

namespace ist::codec {

// float32 -> bfloat16 bits, round to nearest even.
inline std::uint16_t float_to_bf16(float f) noexcept {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0)  // NaN: keep the sign, force quiet
    return std::uint16_t((u >> 16) | 0x0040u);
  const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return std::uint16_t((u + rounding) >> 16);
}

inline float bf16_to_float(std::uint16_t h) noexcept { return std::bit_cast<float>(std::uint32_t(h) << 16); }

// float32 -> binary16 bits, round to nearest even; overflow gives infinity.
inline std::uint16_t float_to_fp16(float f) noexcept {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return std::uint16_t(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));  // NaN, inf
  if (a >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds to >= 65520: infinity
  if (a < 0x38800000u) {  // below 2^-14: a binary16 subnormal (or zero)
    if (a < 0x33000000u) return sign;  // below 2^-25: rounds to zero (2^-25 itself ties to even: zero)
    const std::uint32_t mant = (a & 0x007fffffu) | 0x00800000u;
    const int shift = 126 - int(a >> 23);  // 14 + (13 + 1) - (exponent - 127) ... bits to drop, 14..24
    const std::uint32_t kept = mant >> shift;
    const std::uint32_t rest = mant & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1);
    const std::uint32_t r = kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
    return std::uint16_t(sign | r);
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits.
  const std::uint32_t rebased = a - 0x38000000u;
  const std::uint32_t rounding = 0x0fffu + ((rebased >> 13) & 1u);
  return std::uint16_t(sign | ((rebased + rounding) >> 13));
}

inline float fp16_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf, NaN
  if (exp == 0) {
    if (mant == 0) return std::bit_cast<float>(sign);
    // Subnormal: mant * 2^-24, exact in float32.
    const float v = float(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

}  // namespace ist::codec
