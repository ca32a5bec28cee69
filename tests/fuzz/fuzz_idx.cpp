// libFuzzer harness for the IDX reader (ist/data/idx.hpp).
//
// Input: one flags byte, then the file bytes.
//   flags & 3: 0 = load_idx_images(file), 1 = load_idx_labels(file),
//              2, 3 = load_idx_dataset(images, labels, num_classes = 1 + (flags >> 4)), where the images file
//              is a u16-length-prefixed chunk and the labels file is the rest;
//   flags & 4: gzip the (images) file in the harness; flags & 8: gzip the labels file (dataset only).
// Raw bytes starting with 1f 8b reach the gzip path with fuzzed compressed data.
#include "fuzz_common.hpp"
#include "ist/data/idx.hpp"

namespace {

void check_images(const ist::ImageDataset& d) {
  if (d.n < 1 || d.c != 1 || d.h < 1 || d.w < 1) ist_fuzz::finding("load_idx_images: implausible dimensions");
  if (d.pixels.size() != std::size_t(d.n) * std::size_t(d.h) * std::size_t(d.w))
    ist_fuzz::finding("load_idx_images: pixel count does not match n*h*w");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ist_fuzz::Input in{data, size};
  const std::uint8_t flags = in.byte();
  const std::string a = ist_fuzz::scratch_path("images-idx3-ubyte");
  const std::string b = ist_fuzz::scratch_path("labels-idx1-ubyte");
  const auto put = [](const std::string& path, std::string_view bytes, bool gz) {
    ist_fuzz::write_maybe_gz(path, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), gz);
  };
  try {
    switch (flags & 3) {
      case 0: {
        put(a, in.rest(), flags & 4);
        check_images(ist::load_idx_images(a));
        break;
      }
      case 1: {
        put(b, in.rest(), flags & 4);
        const auto labels = ist::load_idx_labels(b);
        if (labels.empty()) ist_fuzz::finding("load_idx_labels: returned no labels");
        for (std::int32_t l : labels)
          if (l < 0 || l > 255) ist_fuzz::finding("load_idx_labels: label outside [0, 255]");
        break;
      }
      default: {
        const int num_classes = 1 + (flags >> 4);
        put(a, in.chunk16(), flags & 4);
        put(b, in.rest(), flags & 8);
        const ist::ImageDataset d = ist::load_idx_dataset(a, b, num_classes);
        check_images(d);
        if (d.labels.size() != std::size_t(d.n) || d.num_classes != num_classes)
          ist_fuzz::finding("load_idx_dataset: label count or class count wrong");
        for (std::int32_t l : d.labels)
          if (l < 0 || l >= num_classes) ist_fuzz::finding("load_idx_dataset: label out of range accepted");
        break;
      }
    }
  } catch (const ist::Error& e) {
    ist_fuzz::check_error(e);
  }
  return 0;
}
