// checkpoint_digest FILE: prints the payload of an ist checkpoint (include/ist/train/checkpoint.hpp) that a
// bitwise comparison of two runs needs, without the configuration text (which differs between runs with
// other flags):
//
//   rounds 6 params 123456 sha256 <64 hex> momentum 123456 sha256 <64 hex>
//
// (one "<name> <count> sha256 <hex>" per optimizer state buffer). ist::read_checkpoint checks the header
// (magic, version, payload size, xxh64 checksum) and the layout; a malformed file is an error naming the
// file, what was expected and what was found (exit code 1).
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "ist/data/sha256.hpp"
#include "ist/train/checkpoint.hpp"

namespace {

std::string digest(const std::vector<float>& v) { return ist::sha256_hex(v.data(), v.size() * sizeof(float)); }

std::string describe(const std::string& path) {
  const ist::TrainingState s = ist::read_checkpoint(path);  // header, checksum and structure checked
  std::string out = "rounds " + std::to_string(s.rounds_done) + " params " + std::to_string(s.params.size()) +
                    " sha256 " + digest(s.params);
  for (const auto& b : s.optimizer_state)
    out += " " + b.name + " " + std::to_string(b.values.size()) + " sha256 " + digest(b.values);
  return out;
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
