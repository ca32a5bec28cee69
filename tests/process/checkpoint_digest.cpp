// checkpoint_digest FILE: prints the payload of an ist checkpoint (include/ist/train/checkpoint.hpp) that a
// bitwise comparison of two runs needs, without the configuration text (which differs between runs with
// other flags):
//
//   rounds 6 params 123456 sha256 <64 hex> optimizer 123456 sha256 <64 hex>
//
// The header (magic, version, payload size, xxh64 checksum) and the layout are checked; a malformed file
// is an error naming the file, what was expected and what was found (exit code 1).
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/core/sha256.hpp"
#include "ist/train/checkpoint.hpp"

namespace {

std::string digest(const std::vector<float>& v) {
  ist::Sha256 h;
  if (!v.empty()) h.update(v.data(), v.size() * sizeof(float));
  return h.hex_digest();
}

std::string describe(const std::string& path) {
  const char* who = "checkpoint_digest: ";
  std::ifstream in(path, std::ios::binary);
  IST_CHECK(in.good(), who, path, ": cannot open the checkpoint (missing file or no permission)");
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  IST_CHECK(data.size() >= ist::detail::kCheckpointHeader, who, path, ": expected a header of ",
            ist::detail::kCheckpointHeader, " bytes, found a file of ", data.size(), " bytes");
  IST_CHECK(std::memcmp(data.data(), ist::detail::kCheckpointMagic, 8) == 0, who, path,
            ": expected magic \"ISTCKPT\", found other bytes");
  ist::detail::CheckpointReader h(std::string_view(data).substr(8, ist::detail::kCheckpointHeader - 8), path);
  const auto version = h.pod<std::uint32_t>("version");
  IST_CHECK(version == ist::kCheckpointVersion, who, path, ": expected version ", ist::kCheckpointVersion,
            ", found ", version);
  (void)h.pod<std::uint32_t>("reserved");
  const auto payload_bytes = h.pod<std::uint64_t>("payload size");
  const auto checksum = h.pod<std::uint64_t>("checksum");
  IST_CHECK(data.size() - ist::detail::kCheckpointHeader == payload_bytes, who, path, ": expected ", payload_bytes,
            " payload bytes, found ", data.size() - ist::detail::kCheckpointHeader);
  const std::string_view payload = std::string_view(data).substr(ist::detail::kCheckpointHeader);
  const auto actual = std::uint64_t(XXH64(payload.data(), payload.size(), 0));
  IST_CHECK(actual == checksum, who, path, ": expected xxh64 ", checksum, ", found ", actual, " (corrupt file)");

  ist::detail::CheckpointReader r(payload, path);
  const auto rounds = r.pod<std::uint64_t>("rounds");
  (void)r.pod<std::uint64_t>("seed");
  (void)r.str("model name");
  (void)r.str("config");
  const auto count = r.pod<std::uint32_t>("tensor count");
  for (std::uint32_t i = 0; i < count; ++i) {
    (void)r.str("tensor name");
    const auto rank = r.pod<std::uint32_t>("tensor rank");
    IST_CHECK(rank <= 8, who, path, ": tensor #", i, ": expected a rank <= 8, found ", rank);
    for (std::uint32_t d = 0; d < rank; ++d) (void)r.pod<std::uint32_t>("tensor shape");
    (void)r.pod<std::uint64_t>("tensor offset");
    (void)r.pod<std::uint64_t>("tensor size");
  }
  const std::vector<float> params = r.floats("parameters");
  const std::vector<float> optimizer = r.floats("optimizer state");
  IST_CHECK(r.done(), who, path, ": expected the file to end after the optimizer state, found more bytes");
  return "rounds " + std::to_string(rounds) + " params " + std::to_string(params.size()) + " sha256 " +
         digest(params) + " optimizer " + std::to_string(optimizer.size()) + " sha256 " + digest(optimizer);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: checkpoint_digest CHECKPOINT_FILE\n";
    return 2;
  }
  try {
    std::cout << describe(argv[1]) << "\n";
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
