// libFuzzer harness for the transfer codecs' decoders (ist/codec): what a worker or the coordinator receives
// is untrusted bytes, and every decoder must either accept it or throw ist::Error naming the codec, what it
// expected and what it found; never read or write out of bounds.
//
// Input: one codec byte, one fraction byte, a u16 slice length n (little-endian), then the payload.
//   codec & 3: 0 = Float32, 1 = BFloat16, 2 = Float16, 3 = TopK with fraction (1 + fraction byte) / 256;
//   codec & 4: decode_update instead of decode_values;
//   codec & 8: TopK with a float32 downlink (":f32-down") instead of int8 blocks.
// Invariants checked on success: the output has n values; Float32 re-encodes to the same payload; TopK's
// dense update has at most k nonzero entries and re-encoding it (without error feedback) gives a payload of
// the size update_bytes(n); TopK's int8 values are finite and re-encode to a payload of values_bytes(n).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "ist/codec/codec.hpp"

namespace {

void check_codec_error(const ist::Error& e) {
  const std::string m = e.what();
  if (m.rfind("ist::codec::", 0) != 0) ist_fuzz::finding("codec error does not start with \"ist::codec::\": " + m);
  if (m.find("expected") == std::string::npos || m.find("found") == std::string::npos)
    ist_fuzz::finding("codec error does not say what it expected and found: " + m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ist_fuzz::Input in{data, size};
  const std::uint8_t which = in.byte();
  const std::uint8_t fraction = in.byte();
  const std::size_t n = std::size_t(in.byte()) | (std::size_t(in.byte()) << 8);
  const std::string_view rest = in.rest();
  const std::vector<std::byte> payload(reinterpret_cast<const std::byte*>(rest.data()),
                                       reinterpret_cast<const std::byte*>(rest.data()) + rest.size());
  ist::codec::AnyCodec c;
  switch (which & 3) {
    case 0: c = ist::codec::Float32{}; break;
    case 1: c = ist::codec::BFloat16{}; break;
    case 2: c = ist::codec::Float16{}; break;
    default:
      c = ist::codec::TopK{(1.0 + fraction) / 256.0, true,
                           (which & 8) ? ist::codec::Downlink::Float32 : ist::codec::Downlink::Int8};
      break;
  }
  const bool update = (which & 4) != 0;
  std::vector<float> out(n, 1.f);
  try {
    if (update)
      c.decode_update(payload, out);
    else
      c.decode_values(payload, out);
  } catch (const ist::Error& e) {
    check_codec_error(e);
    return 0;
  }
  if (out.size() != n) ist_fuzz::finding("decoder changed the output length");
  if ((which & 3) == 0) {
    ist::codec::Bytes again;
    c.encode_values(out, again);
    if (again != payload) ist_fuzz::finding("Float32 did not re-encode to the payload it decoded");
  }
  if ((which & 3) == 3 && update) {
    const ist::codec::TopK t{(1.0 + fraction) / 256.0, false};
    const std::size_t k = ist::codec::top_k_count(n, t.fraction);
    std::size_t nonzero = 0;
    for (float x : out) nonzero += (x != 0.f || std::signbit(x)) ? 1 : 0;
    if (nonzero > k) ist_fuzz::finding("TopK decoded more than k nonzero entries");
    ist::codec::Bytes again;
    t.encode_update(out, std::span<float>(), again);
    if (again.size() != t.update_bytes(n)) ist_fuzz::finding("TopK re-encoded to a payload of the wrong size");
  }
  if ((which & 3) == 3 && !update && !(which & 8)) {
    for (float x : out)
      if (!std::isfinite(x)) ist_fuzz::finding("TopK's int8 downlink decoded a value that is not finite");
    ist::codec::Bytes again;
    c.encode_values(out, again);
    if (again.size() != ist::codec::TopK{}.values_bytes(n)) ist_fuzz::finding("TopK's int8 values re-encoded to the wrong size");
  }
  return 0;
}
