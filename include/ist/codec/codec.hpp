#pragma once
// The TransferCodec concept: how a slice is encoded on the path between the coordinator and a worker.
// Orthogonal to decomposers and aggregators: the plan decides which values travel, the codec how.
//
// Required members (c is a const C&; n = the slice's length, known on both sides from the plan):
//   std::string c.name() const                 as --codec spells it: "float32", "bf16", "fp16", "topk:0.1"
//   bool c.returns_update() const              false: the worker returns its trained values (Float32);
//                                              true: it returns the update (trained - received), which the
//                                              coordinator adds to its FP32 master copy of the slice
//   bool c.keeps_residual() const              the worker keeps an error-feedback residual (TopK)
//   void c.encode_values(std::span<const float> v, Bytes& out) const          coordinator -> worker
//   void c.decode_values(std::span<const std::byte> in, std::span<float> v) const
//   void c.encode_update(std::span<const float> u, std::span<float> residual, Bytes& out) const
//                                              worker -> coordinator; residual empty or u.size() long: added
//                                              to u, then left holding what was not sent
//   void c.decode_update(std::span<const std::byte> in, std::span<float> u) const
// Decoders throw ist::Error on a malformed payload, naming the codec, what was expected and what was found;
// they never read outside `in` or write outside their output span. Encodings are deterministic.
//
// AnyCodec holds one of the shipped codecs (Float32, BFloat16, Float16, TopK); parse_codec reads --codec.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "ist/codec/payload.hpp"
#include "ist/codec/top_k.hpp"
#include "ist/codec/value_codecs.hpp"
#include "ist/core/error.hpp"

namespace ist::codec {

template <class C>
concept TransferCodec = requires(const C& c, std::span<const float> v, std::span<float> out,
                                 std::span<const std::byte> in, Bytes& bytes) {
  { c.name() } -> std::convertible_to<std::string>;
  { c.returns_update() } -> std::same_as<bool>;
  { c.keeps_residual() } -> std::same_as<bool>;
  c.encode_values(v, bytes);
  c.decode_values(in, out);
  c.encode_update(v, out, bytes);
  c.decode_update(in, out);
};

namespace archetypes {
// The smallest TransferCodec: raw float32 both ways (what Float32 does).
struct CodecArchetype {
  std::string name() const { return "archetype"; }
  bool returns_update() const { return false; }
  bool keeps_residual() const { return false; }
  void encode_values(std::span<const float> v, Bytes& out) const { Float32{}.encode_values(v, out); }
  void decode_values(std::span<const std::byte> in, std::span<float> v) const { Float32{}.decode_values(in, v); }
  void encode_update(std::span<const float> u, std::span<float>, Bytes& out) const { Float32{}.encode_values(u, out); }
  void decode_update(std::span<const std::byte> in, std::span<float> u) const { Float32{}.decode_values(in, u); }
};
static_assert(TransferCodec<CodecArchetype>);
}  // namespace archetypes

static_assert(TransferCodec<Float32> && TransferCodec<BFloat16> && TransferCodec<Float16> && TransferCodec<TopK>);

// One of the shipped codecs, chosen at run time (TrainerConfig::codec, --codec).
class AnyCodec {
 public:
  AnyCodec() = default;
  template <class C>
    requires(!std::same_as<C, AnyCodec> && TransferCodec<C>)
  AnyCodec(C c) : c_(std::move(c)) {}

  std::string name() const { return std::visit([](const auto& c) { return c.name(); }, c_); }
  bool returns_update() const { return std::visit([](const auto& c) { return c.returns_update(); }, c_); }
  bool keeps_residual() const { return std::visit([](const auto& c) { return c.keeps_residual(); }, c_); }
  // The codec of round `round` (0-based) of a run of `rounds` rounds: this one, or for TopK's warm-up and
  // flush rounds its dense() form (every entry).
  AnyCodec for_round(std::uint64_t round, std::uint64_t rounds) const {
    if (const TopK* t = std::get_if<TopK>(&c_); t && t->dense_round(round, rounds)) return t->dense();
    return *this;
  }
  // Float32: slices travel as floats through Communicator::to_worker / to_coordinator, as before codecs.
  bool is_float32() const { return std::holds_alternative<Float32>(c_); }
  void encode_values(std::span<const float> v, Bytes& out) const {
    std::visit([&](const auto& c) { c.encode_values(v, out); }, c_);
  }
  void decode_values(std::span<const std::byte> in, std::span<float> v) const {
    std::visit([&](const auto& c) { c.decode_values(in, v); }, c_);
  }
  void encode_update(std::span<const float> u, std::span<float> residual, Bytes& out) const {
    std::visit([&](const auto& c) { c.encode_update(u, residual, out); }, c_);
  }
  void decode_update(std::span<const std::byte> in, std::span<float> u) const {
    std::visit([&](const auto& c) { c.decode_update(in, u); }, c_);
  }

 private:
  std::variant<Float32, BFloat16, Float16, TopK> c_;
};
static_assert(TransferCodec<AnyCodec>);

// "float32" | "bf16" | "fp16" | "topk:F[:no-ef][:f32-down][:warmup][:flush]": F in (0, 1], the fraction of
// each update sent; ":no-ef" plain top-k without error feedback (for comparison); ":f32-down" the values
// travel down as float32 instead of int8 blocks; ":warmup" the first and ":flush" the last round of the run
// send every entry (k = n). Throws naming `who`, what was expected and what was found.
inline AnyCodec parse_codec(std::string_view s, std::string_view who = "ist::codec::parse_codec") {
  if (s == "float32" || s == "fp32") return Float32{};
  if (s == "bf16" || s == "bfloat16") return BFloat16{};
  if (s == "fp16" || s == "float16") return Float16{};
  if (s.starts_with("topk:")) {
    std::string_view rest = s.substr(5);
    TopK t;
    // The flags in the order name() writes them, stripped from the end.
    if (rest.ends_with(":flush")) {
      t.flush_last_round = true;
      rest.remove_suffix(6);
    }
    if (rest.ends_with(":warmup")) {
      t.warmup_first_round = true;
      rest.remove_suffix(7);
    }
    if (rest.ends_with(":f32-down")) {
      t.downlink = Downlink::Float32;
      rest.remove_suffix(9);
    }
    if (rest.ends_with(":no-ef")) {
      t.error_feedback = false;
      rest.remove_suffix(6);
    }
    const std::string text(rest);
    std::size_t used = 0;
    double f = 0;
    try {
      f = std::stod(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    IST_CHECK(used == text.size() && !text.empty() && f > 0.0 && f <= 1.0, who, ": codec ", s,
              ": expected topk:F[:no-ef][:f32-down][:warmup][:flush] with F a fraction in (0, 1] (e.g. topk:0.1), "
              "found F = '", text, "'");
    t.fraction = f;
    return t;
  }
  fail(who, ": expected a codec float32 | bf16 | fp16 | topk:F[:no-ef][:f32-down][:warmup][:flush] (F in (0, 1]), "
       "found '", s, "'");
}

}  // namespace ist::codec
