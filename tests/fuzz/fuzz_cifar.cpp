// libFuzzer harness for the CIFAR binary reader (ist/data/cifar.hpp).
//
// Input: one flags byte, then the file bytes.
//   flags & 3: 0 = CIFAR-10, 1 = CIFAR-100 coarse, 2 = CIFAR-100 fine, 3 = CIFAR-10;
//   flags & 4: gzip the first file in the harness; flags & 8: two files, the first a u16-length-prefixed
//   chunk, the second the rest; flags & 16: gzip the second file.
#include "fuzz_common.hpp"
#include "ist/data/cifar.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ist_fuzz::Input in{data, size};
  const std::uint8_t flags = in.byte();
  static constexpr ist::CifarKind kinds[4] = {ist::CifarKind::cifar10, ist::CifarKind::cifar100_coarse,
                                              ist::CifarKind::cifar100_fine, ist::CifarKind::cifar10};
  const ist::CifarKind kind = kinds[flags & 3];
  const std::string a = ist_fuzz::scratch_path("data_batch_1.bin");
  const std::string b = ist_fuzz::scratch_path("data_batch_2.bin");
  std::vector<std::string> files{a};
  const std::string_view first = (flags & 8) ? in.chunk16() : in.rest();
  ist_fuzz::write_maybe_gz(a, reinterpret_cast<const std::uint8_t*>(first.data()), first.size(), flags & 4);
  if (flags & 8) {
    const std::string_view second = in.rest();
    ist_fuzz::write_maybe_gz(b, reinterpret_cast<const std::uint8_t*>(second.data()), second.size(), flags & 16);
    files.push_back(b);
  }
  try {
    const ist::ImageDataset d = ist::load_cifar_binary(files, kind);
    const int classes = ist::cifar_num_classes(kind);
    if (d.n < 1 || d.c != 3 || d.h != 32 || d.w != 32 || d.num_classes != classes)
      ist_fuzz::finding("load_cifar_binary: implausible dimensions");
    if (d.pixels.size() != std::size_t(d.n) * 3072 || d.labels.size() != std::size_t(d.n))
      ist_fuzz::finding("load_cifar_binary: pixel or label count does not match n");
    for (std::int32_t l : d.labels)
      if (l < 0 || l >= classes) ist_fuzz::finding("load_cifar_binary: label out of range accepted");
  } catch (const ist::Error& e) {
    ist_fuzz::check_error(e);
  }
  return 0;
}
