// libFuzzer harness for the safetensors reader (ist/io/safetensors.hpp) and the state-dict import
// (ist/io/state_dict.hpp), against a small ResNet (2 blocks, the NoFinalBn head) and a small MLP.
//
// Input: one flags byte, then the file bytes.
//   flags & 1 == 0: read_safetensors, then every tensor's bytes, and floats() of each F32 tensor;
//   flags & 1 == 1: load_weights of the ResNet (flags & 2 == 0) or the MLP (flags & 2 == 2).
#include "fuzz_common.hpp"
#include "ist/io/safetensors.hpp"
#include "ist/io/state_dict.hpp"

namespace {
using Net = ist::ResNet<ist::Stem<1, 4>, ist::Stage<4, 8, 2, 2, ist::Partitioned>, ist::Head<8, 3, ist::NoFinalBn>>;
using Mlp = ist::Mlp<ist::Input<6>, ist::Dense<5>, ist::Dense<3>>;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ist_fuzz::Input in{data, size};
  const std::uint8_t flags = in.byte();
  const std::string_view body = in.rest();
  const std::string path = ist_fuzz::scratch_path("model.safetensors");
  ist_fuzz::write_file(path, body.data(), body.size());
  try {
    if (flags & 1) {
      const std::vector<float> p = flags & 2 ? ist::load_weights<Mlp>(path) : ist::load_weights<Net>(path);
      if (p.size() != (flags & 2 ? Mlp::num_params : Net::num_params))
        ist_fuzz::finding("load_weights: wrong parameter count returned");
    } else {
      const ist::SafetensorsFile f = ist::read_safetensors(path);
      std::size_t total = 0;
      for (const std::string& name : f.names()) {
        const ist::SafetensorsEntry& e = f.entry(name);
        total += f.bytes(name).size();
        if (e.dtype == "F32" && f.floats(name).size() * 4 != e.end - e.begin)
          ist_fuzz::finding("floats: wrong value count for " + name);
      }
      if (8 + total > body.size()) ist_fuzz::finding("read_safetensors: tensors hold more bytes than the file");
    }
  } catch (const ist::Error& e) {
    ist_fuzz::check_error(e);
  }
  return 0;
}
