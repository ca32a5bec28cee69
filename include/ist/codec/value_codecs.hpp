#pragma once
// The value codecs: Float32 (what ist always sent: raw float32, bit-exact), BFloat16 and Float16 (two bytes
// a value, rounded to nearest even). Their payloads have no header: both sides know the slice's length
// from the plan (as for float32), so a 16-bit payload is exactly half the float32 bytes.
//
//   down (coordinator -> worker): the slice's values.
//   up (worker -> coordinator):   Float32: the trained values (bit-exact, today's behaviour);
//                                 BFloat16/Float16: the update, trained minus received values. The coordinator
//                                 adds it to its FP32 master copy, so small updates are not rounded away
//                                 by the 16-bit format of the values.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "ist/codec/half.hpp"
#include "ist/codec/payload.hpp"

namespace ist::codec {

namespace detail {
// Raw float32 values, bit-exact (Float32, and TopK's ":f32-down" downlink).
struct Float32Values {
  static void encode(std::span<const float> v, Bytes& out) {
    out.resize(v.size() * 4);
    if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  }
  static void decode(std::string_view who, std::string_view what, std::span<const std::byte> in, std::span<float> v) {
    check_size(who, what, v.size() * 4, in.size(), std::to_string(v.size()) + " float32 values");
    if (!v.empty()) std::memcpy(v.data(), in.data(), in.size());
  }
};
}  // namespace detail

// Raw float32 both ways; the trainer moves these as floats (Communicator::to_worker), exactly as before
// codecs existed. encode/decode exist for tests, tools and communicators that move bytes only.
struct Float32 {
  std::string name() const { return "float32"; }
  bool returns_update() const { return false; }
  bool keeps_residual() const { return false; }
  std::size_t values_bytes(std::size_t n) const { return n * 4; }
  void encode_values(std::span<const float> v, Bytes& out) const { detail::Float32Values::encode(v, out); }
  void decode_values(std::span<const std::byte> in, std::span<float> v) const {
    detail::Float32Values::decode("ist::codec::Float32", "decode_values", in, v);
  }
  // Float32 returns values, not updates; these are the same raw encoding (no error feedback).
  void encode_update(std::span<const float> u, std::span<float>, Bytes& out) const { encode_values(u, out); }
  void decode_update(std::span<const std::byte> in, std::span<float> u) const { decode_values(in, u); }
};

namespace detail {
// A 16-bit value codec: To16 / From16 convert one value.
template <std::uint16_t (*To16)(float), float (*From16)(std::uint16_t)>
struct Half16 {
  static void encode(std::span<const float> v, Bytes& out) {
    out.resize(v.size() * 2);
    for (std::size_t i = 0; i < v.size(); ++i) put<std::uint16_t>(out.data() + 2 * i, To16(v[i]));
  }
  static void decode(std::string_view who, std::string_view what, std::span<const std::byte> in, std::span<float> v) {
    check_size(who, what, v.size() * 2, in.size(), std::to_string(v.size()) + " 16-bit values");
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = From16(get<std::uint16_t>(in.data() + 2 * i));
  }
};
using Bf16Values = Half16<float_to_bf16, bf16_to_float>;
using Fp16Values = Half16<float_to_fp16, fp16_to_float>;
}  // namespace detail

// bfloat16: float32's exponent range with 8 significant bits (relative rounding error <= 2^-8).
struct BFloat16 {
  std::string name() const { return "bf16"; }
  bool returns_update() const { return true; }
  bool keeps_residual() const { return false; }
  std::size_t values_bytes(std::size_t n) const { return n * 2; }
  void encode_values(std::span<const float> v, Bytes& out) const { detail::Bf16Values::encode(v, out); }
  void decode_values(std::span<const std::byte> in, std::span<float> v) const {
    detail::Bf16Values::decode("ist::codec::BFloat16", "decode_values", in, v);
  }
  void encode_update(std::span<const float> u, std::span<float>, Bytes& out) const { detail::Bf16Values::encode(u, out); }
  void decode_update(std::span<const std::byte> in, std::span<float> u) const {
    detail::Bf16Values::decode("ist::codec::BFloat16", "decode_update", in, u);
  }
};

// IEEE binary16: 11 significant bits (relative rounding error <= 2^-11) for |x| in [2^-14, 65504];
// subnormals down to 2^-24, infinity above.
struct Float16 {
  std::string name() const { return "fp16"; }
  bool returns_update() const { return true; }
  bool keeps_residual() const { return false; }
  std::size_t values_bytes(std::size_t n) const { return n * 2; }
  void encode_values(std::span<const float> v, Bytes& out) const { detail::Fp16Values::encode(v, out); }
  void decode_values(std::span<const std::byte> in, std::span<float> v) const {
    detail::Fp16Values::decode("ist::codec::Float16", "decode_values", in, v);
  }
  void encode_update(std::span<const float> u, std::span<float>, Bytes& out) const { detail::Fp16Values::encode(u, out); }
  void decode_update(std::span<const std::byte> in, std::span<float> u) const {
    detail::Fp16Values::decode("ist::codec::Float16", "decode_update", in, u);
  }
};

}  // namespace ist::codec
