// libFuzzer harness for the checkpoint loader (load_checkpoint in ist/train/checkpoint.hpp), against the
// ModelInfo of a small MLP (6 -> 5 -> 4 -> 3), the one ModelTraits<Mlp>::info() returns (built here
// without ist/train/mlp_traits.hpp, which clang 14 does not compile: a vexing parse in width_slices.hpp).
//
// Input: one flags byte, then bytes.
//   flags & 1 == 0: the bytes are the whole file;
//   flags & 1 == 1: the bytes are the payload, and the harness puts a valid header in front (magic, version,
//                   payload size, xxh64 checksum), so that mutations get past the checksum to the tensor
//                   table, the JSON config and the arrays;
//   flags & 2: with flags & 1, that header says version 2 (the config as key=value text) instead of the current.
#include <cstring>

#include "fuzz_common.hpp"
#include "ist/train/checkpoint.hpp"
#include "ist/model/mlp.hpp"

namespace {
using Net = ist::Mlp<ist::Input<6>, ist::Dense<5>, ist::Dense<4>, ist::Dense<3>>;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ist::ModelInfo info = ist::detail::chain_model_info<Net>("mlp");
  ist_fuzz::Input in{data, size};
  const std::uint8_t flags = in.byte();
  const std::string_view body = in.rest();
  const std::string path = ist_fuzz::scratch_path("model.ckpt");
  if (flags & 1) {
    std::string file(ist::detail::kCheckpointMagic, 8);
    auto pod = [&file](auto v) { file.append(reinterpret_cast<const char*>(&v), sizeof v); };
    pod(flags & 2 ? std::uint32_t(2) : ist::kCheckpointVersion);
    pod(std::uint32_t(0));
    pod(std::uint64_t(body.size()));
    pod(std::uint64_t(XXH64(body.data(), body.size(), 0)));
    file += body;
    ist_fuzz::write_file(path, file.data(), file.size());
  } else {
    ist_fuzz::write_file(path, body.data(), body.size());
  }
  try {
    const ist::TrainingState s = ist::load_checkpoint(path, info);
    if (s.params.size() != info.num_params) ist_fuzz::finding("load_checkpoint: wrong parameter count accepted");
    for (const auto& b : s.optimizer_state)
      if (b.values.size() != info.num_params) ist_fuzz::finding("load_checkpoint: wrong optimizer-state size accepted");
  } catch (const ist::Error& e) {
    ist_fuzz::check_error(e);
  }
  return 0;
}
