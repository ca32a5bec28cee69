// libFuzzer harness for the image-folder reader (ist/data/image_folder.hpp): the JPEG (TurboJPEG) and PNG
// (libpng) decoders from memory, and the folder loader on files.
//
// Input: one flags byte, then the image bytes.
//   flags & 3:  channels 0 (the image's own), 1, 3, 0;
//   flags & 4:  also write the image as <scratch>/set/c/a.jpg and load the folder (2 threads);
//   flags & 8:  with 4, two images: a u16-length-prefixed first one, then the rest as c/b.png (size and
//               channel checks against the first image, the first bad file's error);
// decode_image always decodes the (first) image from memory. Images are capped at 1024 pixels per side
// (max_side) so that a few header bytes cannot claim 16384 x 16384 x 3 = 805 MB and run into the fuzzer's
// memory limit: the cap is checked before any allocation, the same check as the default 16384.
#include <cstring>

#include "fuzz_common.hpp"
#include "ist/data/image_folder.hpp"

namespace {

constexpr int kMaxSide = 1024;

void check_image(const ist::detail::DecodedImage& img, int channels) {
  if (img.c != 1 && img.c != 3) ist_fuzz::finding("decode_image: channel count not 1 or 3");
  if (channels != 0 && img.c != channels) ist_fuzz::finding("decode_image: channels option not honoured");
  if (img.h < 1 || img.w < 1 || img.h > kMaxSide || img.w > kMaxSide)
    ist_fuzz::finding("decode_image: size outside [1, max_side] accepted");
  if (img.pixels.size() != std::size_t(img.c) * std::size_t(img.h) * std::size_t(img.w))
    ist_fuzz::finding("decode_image: pixel count does not match c x h x w");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ist_fuzz::Input in{data, size};
  const std::uint8_t flags = in.byte();
  static constexpr int channel_modes[4] = {0, 1, 3, 0};
  const int channels = channel_modes[flags & 3];
  const bool folder = flags & 4, two = folder && (flags & 8);
  const std::string_view first = two ? in.chunk16() : in.rest();
  const std::string_view second = two ? in.rest() : std::string_view();
  const auto* first_bytes = reinterpret_cast<const unsigned char*>(first.data());

  // From memory. The name is a scratch path so that check_error finds it in the message.
  bool first_ok = false;
  ist::detail::DecodedImage mem;
  try {
    mem = ist::detail::decode_image(first_bytes, first.size(), channels, ist_fuzz::scratch_path("memory.img"),
                                    kMaxSide);
    check_image(mem, channels);
    first_ok = true;
  } catch (const ist::Error& e) {
    ist_fuzz::check_error(e);
  }
  if (!folder) return 0;

  // From files: <scratch>/set/c/a.jpg (and b.png), loaded on 2 threads.
  const std::string set = ist_fuzz::scratch_path("set");
  const std::string cls = set + "/c";
  std::error_code ec;
  ist_fuzz::fs::remove_all(set, ec);
  ist_fuzz::fs::create_directories(cls, ec);
  ist_fuzz::write_file(cls + "/a.jpg", first.data(), first.size());
  if (two) ist_fuzz::write_file(cls + "/b.png", second.data(), second.size());
  ist::ImageFolderOptions options;
  options.channels = channels;
  options.threads = 2;
  options.max_side = kMaxSide;
  try {
    const ist::ImageDataset d = ist::load_image_folder(set, options);
    const int n = two ? 2 : 1;
    if (!first_ok) ist_fuzz::finding("load_image_folder accepted an image decode_image rejects");
    if (d.n != n || d.num_classes != 1 || d.class_names.size() != 1 || d.class_names[0] != "c")
      ist_fuzz::finding("load_image_folder: implausible n, classes or class names");
    if (d.c != mem.c || d.h != mem.h || d.w != mem.w)
      ist_fuzz::finding("load_image_folder: the first image's size differs from decode_image's");
    if (d.pixels.size() != std::size_t(n) * d.image_size() || d.labels != std::vector<std::int32_t>(std::size_t(n), 0))
      ist_fuzz::finding("load_image_folder: pixel or label count does not match n");
    if (std::memcmp(d.pixels.data(), mem.pixels.data(), mem.pixels.size()) != 0)
      ist_fuzz::finding("load_image_folder: the first image's pixels differ from decode_image's");
  } catch (const ist::Error& e) {
    ist_fuzz::check_error(e);
    if (first_ok && !two) ist_fuzz::finding(std::string("load_image_folder rejected an image decode_image accepts: ") + e.what());
  }
  return 0;
}
