#pragma once
// Little helpers shared by the codecs: reading and writing little-endian words in a byte payload, and the
// size check every decoder starts with.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "ist/core/error.hpp"

namespace ist::codec {

using Bytes = std::vector<std::byte>;

namespace detail {

static_assert(std::endian::native == std::endian::little, "ist::codec: payloads are little-endian");

template <class T>
void put(std::byte* at, T v) noexcept {
  std::memcpy(at, &v, sizeof(T));
}
template <class T>
T get(const std::byte* at) noexcept {
  T v;
  std::memcpy(&v, at, sizeof(T));
  return v;
}

// Throws "<codec>::<what>: expected a payload of E bytes (<why>), found F" unless sizes agree.
inline void check_size(std::string_view who, std::string_view what, std::size_t expected, std::size_t found,
                       std::string_view why) {
  IST_CHECK(expected == found, who, "::", what, ": expected a payload of ", expected, " bytes (", why, "), found ",
            found, " bytes");
}

}  // namespace detail
}  // namespace ist::codec
