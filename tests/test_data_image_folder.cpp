// Image-folder reader (ist/data/image_folder.hpp): class folders, JPEG and PNG pixels, channel conversion,
// determinism across thread counts, every malformed input, and the real CIFAR-10 JPEG folder.
// The JPEG and PNG files are written here, with TurboJPEG (tjCompress2) and libpng's simplified API.
#include <doctest/doctest.h>
#include <png.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/batch_iterator.hpp"
#include "ist/data/image_folder.hpp"
#include "skip.hpp"
#include "expect_error.hpp"

namespace test_data_image_folder {

namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<unsigned char>;

struct TempDir {
  fs::path path;
  explicit TempDir(const char* tag) {
    static int counter = 0;
    const auto ticks = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    path = fs::temp_directory_path() /
           ("ist_test_imgfolder_" + std::string(tag) + "_" + std::to_string(ist::mix64(ticks)) + "_" +
            std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string str() const { return path.string(); }
  // dir/rel, with its parent folders created.
  std::string file(const std::string& rel) const {
    const fs::path p = path / rel;
    fs::create_directories(p.parent_path());
    return p.string();
  }
  void mkdir(const std::string& rel) const { fs::create_directories(path / rel); }
};

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

// Interleaved (HWC) test pattern of image `seed`: value of (y, x, channel ch).
std::uint8_t pattern(int seed, int y, int x, int ch) {
  return static_cast<std::uint8_t>((seed * 37 + y * 11 + x * 5 + ch * 80 + (x * y) % 7) % 256);
}
Bytes hwc_pattern(int seed, int h, int w, int c) {
  Bytes v(static_cast<std::size_t>(h * w * c));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch) v[static_cast<std::size_t>((y * w + x) * c + ch)] = pattern(seed, y, x, ch);
  return v;
}

// PNG of an interleaved image with c = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels.
Bytes png_bytes(const Bytes& hwc, int h, int w, int c) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = c == 1 ? PNG_FORMAT_GRAY : c == 2 ? PNG_FORMAT_GA : c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  png_alloc_size_t size = 0;
  REQUIRE(png_image_write_get_memory_size(img, size, 0, hwc.data(), 0, nullptr) != 0);
  Bytes out(size);
  REQUIRE(png_image_write_to_memory(&img, out.data(), &size, 0, hwc.data(), 0, nullptr) != 0);
  out.resize(size);
  return out;
}

// The same through png_image_write_to_file.
void write_png_file(const std::string& path, const Bytes& hwc, int h, int w, int c) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  REQUIRE(png_image_write_to_file(&img, path.c_str(), 0, hwc.data(), 0, nullptr) != 0);
}

// JPEG of an interleaved gray (c = 1) or RGB (c = 3) image: quality 100, no chroma subsampling.
Bytes jpeg_bytes(const Bytes& hwc, int h, int w, int c, int quality = 100) {
  tjhandle tj = tjInitCompress();
  REQUIRE(tj != nullptr);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, hwc.data(), w, 0, h, c == 1 ? TJPF_GRAY : TJPF_RGB, &buf, &size,
                             c == 1 ? TJSAMP_GRAY : TJSAMP_444, quality, 0);
  Bytes out;
  if (rc == 0) out.assign(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  REQUIRE(rc == 0);
  return out;
}

// Pixel (ch, y, x) of image i of a CHW data set.
int px(const ist::ImageDataset& d, int i, int ch, int y, int x) {
  return d.pixels[static_cast<std::size_t>(i) * d.image_size() + static_cast<std::size_t>((ch * d.h + y) * d.w + x)];
}

// Largest |decoded - pattern| over image i (pattern `seed`, its channel `ch` taken from pattern channel
// map[ch]).
int max_diff(const ist::ImageDataset& d, int i, int seed) {
  int worst = 0;
  for (int ch = 0; ch < d.c; ++ch)
    for (int y = 0; y < d.h; ++y)
      for (int x = 0; x < d.w; ++x) worst = std::max(worst, std::abs(px(d, i, ch, y, x) - pattern(seed, y, x, ch)));
  return worst;
}

using ist::test::contains;
using ist::test::error_of;

constexpr const char* kWho = "ist::load_image_folder: ";

// A folder of 2 classes with 2 RGB PNG images each (4 x 5 pixels, patterns 0..3), for the error tests to
// spoil one file of.
void good_rgb_set(const TempDir& dir) {
  for (int i = 0; i < 4; ++i) {
    const std::string cls = i < 2 ? "a" : "b";
    write_bytes(dir.file(cls + "/" + std::to_string(i) + ".png"), png_bytes(hwc_pattern(i, 4, 5, 3), 4, 5, 3));
  }
}

}  // namespace

TEST_CASE("image folder: classes in byte order, labels, images in byte order, exact PNG pixels") {
  TempDir dir("classes");
  // Byte-wise order: "C_upper" < "a_dog" < "b_cat" ('C' = 0x43 < 'a' = 0x61).
  write_png_file(dir.file("b_cat/img.png"), hwc_pattern(0, 4, 5, 3), 4, 5, 3);
  write_bytes(dir.file("a_dog/2.png"), png_bytes(hwc_pattern(1, 4, 5, 3), 4, 5, 3));
  write_bytes(dir.file("a_dog/10.png"), png_bytes(hwc_pattern(2, 4, 5, 3), 4, 5, 3));  // "10.png" < "2.png"
  write_bytes(dir.file("a_dog/x.PNG"), png_bytes(hwc_pattern(3, 4, 5, 3), 4, 5, 3));   // any case
  write_bytes(dir.file("C_upper/z.png"), png_bytes(hwc_pattern(4, 4, 5, 3), 4, 5, 3));
  // Skipped: other extensions, hidden files, nested folders, hidden folders, files next to the classes.
  write_bytes(dir.file("a_dog/notes.txt"), {'h', 'i'});
  write_bytes(dir.file("a_dog/README"), {'h', 'i'});
  write_bytes(dir.file("a_dog/.hidden.png"), {'n', 'o'});
  write_bytes(dir.file("a_dog/nested/inner.png"), png_bytes(hwc_pattern(9, 4, 5, 3), 4, 5, 3));
  write_bytes(dir.file(".cache/a.png"), png_bytes(hwc_pattern(9, 4, 5, 3), 4, 5, 3));
  write_bytes(dir.file("labels.csv"), {'x'});

  const ist::ImageDataset d = ist::load_image_folder(dir.str());
  CHECK(d.class_names == std::vector<std::string>{"C_upper", "a_dog", "b_cat"});
  CHECK(d.num_classes == 3);
  CHECK(d.n == 5);
  CHECK(d.c == 3);
  CHECK(d.h == 4);
  CHECK(d.w == 5);
  CHECK(d.labels == std::vector<std::int32_t>{0, 1, 1, 1, 2});
  REQUIRE(d.pixels.size() == 5u * 3u * 4u * 5u);
  // Slot order: C_upper/z (4), a_dog/10 (2), a_dog/2 (1), a_dog/x.PNG (3), b_cat/img (0); PNG is exact.
  const int seeds[5] = {4, 2, 1, 3, 0};
  for (int i = 0; i < 5; ++i) CHECK(max_diff(d, i, seeds[i]) == 0);
  CHECK(px(d, 2, 1, 3, 4) == pattern(1, 3, 4, 1));  // one spelled out: image a_dog/2.png, G, y 3, x 4
  CHECK(d.source == dir.str());

  const ist::ImageDataset first2 = ist::take_first(d, 2);
  CHECK(first2.class_names == d.class_names);
  CHECK(first2.labels == std::vector<std::int32_t>{0, 1});
}

TEST_CASE("image folder: JPEG pixels within a small tolerance, format from the bytes, alpha dropped") {
  TempDir dir("jpeg");
  write_bytes(dir.file("k/0.jpg"), jpeg_bytes(hwc_pattern(0, 8, 6, 3), 8, 6, 3));
  write_bytes(dir.file("k/1.JPEG"), jpeg_bytes(hwc_pattern(1, 8, 6, 3), 8, 6, 3));
  write_bytes(dir.file("k/2.jpg"), png_bytes(hwc_pattern(2, 8, 6, 3), 8, 6, 3));   // a PNG named .jpg
  write_bytes(dir.file("k/3.png"), jpeg_bytes(hwc_pattern(3, 8, 6, 3), 8, 6, 3));  // a JPEG named .png
  write_bytes(dir.file("k/4.png"), png_bytes(hwc_pattern(4, 8, 6, 4), 8, 6, 4));   // RGBA
  const ist::ImageDataset d = ist::load_image_folder(dir.str());
  REQUIRE(d.n == 5);
  CHECK(d.c == 3);
  CHECK(d.h == 8);
  CHECK(d.w == 6);
  // Quality 100 without chroma subsampling: the DCT's rounding only.
  CHECK(max_diff(d, 0, 0) <= 4);
  CHECK(max_diff(d, 1, 1) <= 4);
  CHECK(max_diff(d, 2, 2) == 0);
  CHECK(max_diff(d, 3, 3) <= 4);
  // RGBA: the alpha channel (pattern channel 3, values 0..255) is dropped, the colors are kept unchanged.
  CHECK(max_diff(d, 4, 4) == 0);
}

TEST_CASE("image folder: decoding is deterministic across thread counts") {
  TempDir dir("threads");
  int seed = 0;
  for (const char* cls : {"x", "y", "z"}) {
    for (int k = 0; k < 13; ++k, ++seed) {
      const std::string name = std::string(cls) + "/" + std::to_string(k) + (k % 2 ? ".jpg" : ".png");
      const Bytes hwc = hwc_pattern(seed, 7, 9, 3);
      write_bytes(dir.file(name), k % 2 ? jpeg_bytes(hwc, 7, 9, 3, 90) : png_bytes(hwc, 7, 9, 3));
    }
  }
  const ist::ImageDataset one = ist::load_image_folder(dir.str(), {0, 1});
  const ist::ImageDataset three = ist::load_image_folder(dir.str(), {0, 3});
  const ist::ImageDataset all = ist::load_image_folder(dir.str(), {0, 0});
  const ist::ImageDataset many = ist::load_image_folder(dir.str(), {0, 64});  // more threads than images
  REQUIRE(one.n == 39);
  CHECK(one.pixels == three.pixels);
  CHECK(one.pixels == all.pixels);
  CHECK(one.pixels == many.pixels);
  CHECK(one.labels == three.labels);
  CHECK(one.labels == many.labels);
}

TEST_CASE("image folder: channels option converts gray to RGB and RGB to gray") {
  TempDir dir("channels");
  const Bytes gray = hwc_pattern(5, 4, 4, 1);
  write_bytes(dir.file("g/a.png"), png_bytes(gray, 4, 4, 1));
  write_bytes(dir.file("g/b.jpg"), jpeg_bytes(gray, 4, 4, 1));
  write_bytes(dir.file("g/c.png"), png_bytes(hwc_pattern(6, 4, 4, 2), 4, 4, 2));  // gray + alpha

  SUBCASE("channels 0: the first image's, 1") {
    const ist::ImageDataset d = ist::load_image_folder(dir.str());
    CHECK(d.c == 1);
    CHECK(max_diff(d, 0, 5) == 0);
    CHECK(max_diff(d, 1, 5) <= 1);
    CHECK(max_diff(d, 2, 6) == 0);  // alpha dropped
  }
  SUBCASE("channels 3: every plane holds the gray value") {
    const ist::ImageDataset d = ist::load_image_folder(dir.str(), {3, 2});
    REQUIRE(d.c == 3);
    for (int i = 0; i < 3; ++i)
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) {
          CHECK(px(d, i, 1, y, x) == px(d, i, 0, y, x));
          CHECK(px(d, i, 2, y, x) == px(d, i, 0, y, x));
        }
    CHECK(px(d, 0, 0, 2, 3) == pattern(5, 2, 3, 0));
    CHECK(px(d, 2, 2, 1, 1) == pattern(6, 1, 1, 0));
  }
  SUBCASE("channels 1 on color images: luminance") {
    TempDir rgb("channels_rgb");
    Bytes grey_rgb(4 * 4 * 3);  // r = g = b: the luminance is that value
    for (std::size_t k = 0; k < grey_rgb.size(); ++k) grey_rgb[k] = static_cast<unsigned char>(17 * (k / 3));
    write_bytes(rgb.file("c/a.png"), png_bytes(grey_rgb, 4, 4, 3));
    write_bytes(rgb.file("c/b.jpg"), jpeg_bytes(grey_rgb, 4, 4, 3));
    const ist::ImageDataset d = ist::load_image_folder(rgb.str(), {1, 0});
    REQUIRE(d.c == 1);
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 16; ++k) CHECK(std::abs(int(d.pixels[static_cast<std::size_t>(i * 16 + k)]) - 17 * k) <= 1);
  }
}

TEST_CASE("image folder: decode_image from memory") {
  const Bytes png = png_bytes(hwc_pattern(7, 3, 2, 3), 3, 2, 3);
  const ist::detail::DecodedImage img = ist::detail::decode_image(png.data(), png.size(), 0, "mem.png");
  CHECK(img.c == 3);
  CHECK(img.h == 3);
  CHECK(img.w == 2);
  REQUIRE(img.pixels.size() == 18u);
  CHECK(img.pixels[static_cast<std::size_t>((2 * 3 + 1) * 2 + 0)] == pattern(7, 1, 0, 2));  // B plane, y 1, x 0
  const ist::detail::DecodedImage g = ist::detail::decode_image(png.data(), png.size(), 1, "mem.png");
  CHECK(g.c == 1);
  const std::string msg = error_of([&] { (void)ist::detail::decode_image(png.data(), 10, 0, "mem.png"); });
  CHECK(contains(msg, "ist::detail::decode_image: mem.png: "));
  CHECK(error_of([&] { (void)ist::detail::decode_image(png.data(), png.size(), 2, "m"); }) ==
        "ist::detail::decode_image: m: expected channels 0, 1 or 3, found 2");
}

// ---- malformed inputs: one test each; every message names the function, the file and the problem -------

TEST_CASE("image folder error: corrupt JPEG") {
  TempDir dir("corrupt_jpeg");
  good_rgb_set(dir);
  Bytes jpg = jpeg_bytes(hwc_pattern(0, 4, 5, 3), 4, 5, 3);
  REQUIRE(jpg.size() > 60);
  for (std::size_t k = 20; k < 56; ++k) jpg[k] = 0xab;  // garbage where the quantization table's marker was
  const std::string bad = dir.file("b/5.jpg");
  write_bytes(bad, jpg);
  const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
  CHECK(contains(msg, std::string(kWho) + bad + ": expected a valid JPEG header, found corrupt or truncated data"));
  CHECK(contains(msg, "TurboJPEG"));
}

TEST_CASE("image folder error: corrupt PNG (bad checksum)") {
  TempDir dir("corrupt_png");
  good_rgb_set(dir);
  Bytes png = png_bytes(hwc_pattern(0, 4, 5, 3), 4, 5, 3);
  png[png.size() - 20] ^= 0x55;  // inside the IDAT chunk: its CRC no longer matches
  const std::string bad = dir.file("b/5.png");
  write_bytes(bad, png);
  const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
  CHECK(contains(msg, std::string(kWho) + bad + ": expected a complete, valid PNG image, found corrupt"));
  CHECK(contains(msg, "libpng"));
}

TEST_CASE("image folder error: truncated JPEG (TurboJPEG only warns: still an error)") {
  TempDir dir("trunc_jpeg");
  good_rgb_set(dir);
  Bytes jpg = jpeg_bytes(hwc_pattern(0, 4, 5, 3), 4, 5, 3);
  jpg.resize(jpg.size() - 20);  // inside the entropy-coded data: "Premature end of JPEG file", a warning
  const std::string bad = dir.file("a/9.jpg");
  write_bytes(bad, jpg);
  const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
  CHECK(contains(msg, std::string(kWho) + bad + ": expected a complete, valid JPEG image, found"));
  CHECK(contains(msg, "truncated"));
  CHECK(contains(msg, "Premature end of JPEG file"));
}

TEST_CASE("image folder error: truncated PNG") {
  TempDir dir("trunc_png");
  good_rgb_set(dir);
  const Bytes png = png_bytes(hwc_pattern(0, 4, 5, 3), 4, 5, 3);
  const std::string bad = dir.file("a/9.png");
  SUBCASE("cut in the image data") {
    write_bytes(bad, Bytes(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2)));
    const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
    CHECK(contains(msg, std::string(kWho) + bad + ": expected a complete PNG file ending with an IEND chunk"));
    CHECK(contains(msg, "truncated"));
  }
  SUBCASE("only the end marker missing (the pixels are all there)") {
    write_bytes(bad, Bytes(png.begin(), png.end() - 5));
    const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
    CHECK(contains(msg, std::string(kWho) + bad + ": expected a complete PNG file ending with an IEND chunk, found "
                                                   "none (truncated file)"));
  }
}

TEST_CASE("image folder error: an image of another size") {
  TempDir dir("size");
  good_rgb_set(dir);
  const std::string bad = dir.file("b/5.png");
  write_bytes(bad, png_bytes(hwc_pattern(0, 6, 5, 3), 6, 5, 3));
  const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
  CHECK(msg == std::string(kWho) + bad + ": expected height x width 4 x 5 like the first image (" +
                   (dir.path / "a" / "0.png").string() + "), found 6 x 5 (images of one data set must have one size)");
}

TEST_CASE("image folder error: a grayscale image in an RGB set") {
  TempDir dir("gray_in_rgb");
  good_rgb_set(dir);
  const std::string bad = dir.file("b/5.jpg");
  write_bytes(bad, jpeg_bytes(hwc_pattern(0, 4, 5, 1), 4, 5, 1));
  const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
  CHECK(contains(msg, std::string(kWho) + bad + ": expected a 3-channel (color) image like the first image ("));
  CHECK(contains(msg, "found a 1-channel (grayscale) image (a grayscale image in a color set; set "
                      "ImageFolderOptions::channels to 1 or 3 to convert every image)"));
  // With channels = 3 the same folder loads.
  CHECK(ist::load_image_folder(dir.str(), {3, 0}).n == 5);
}

TEST_CASE("image folder error: an empty class folder") {
  TempDir dir("empty_class");
  good_rgb_set(dir);
  dir.mkdir("c_empty");
  write_bytes(dir.file("c_empty/notes.txt"), {'x'});
  const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
  CHECK(msg == std::string(kWho) + (dir.path / "c_empty").string() +
                   ": expected at least one image (.jpg, .jpeg or .png) in class folder 'c_empty', found none (1 "
                   "other entry skipped)");
}

TEST_CASE("image folder error: no class folders, a missing folder, a file instead of a folder") {
  TempDir dir("no_classes");
  write_bytes(dir.file("0.png"), png_bytes(hwc_pattern(0, 4, 5, 3), 4, 5, 3));  // images without class folders
  std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
  CHECK(contains(msg, std::string(kWho) + dir.str() + ": expected at least one class subfolder, found none"));
  msg = error_of([&] { (void)ist::load_image_folder((dir.path / "nope").string()); });
  CHECK(msg == std::string(kWho) + (dir.path / "nope").string() +
                   ": expected a folder with one subfolder per class, found nothing there");
  msg = error_of([&] { (void)ist::load_image_folder(dir.file("0.png")); });
  CHECK(msg == std::string(kWho) + dir.file("0.png") + ": expected a folder with one subfolder per class, found a file");
  msg = error_of([&] { (void)ist::load_image_folder(dir.str(), {2, 0}); });
  CHECK(msg == std::string(kWho) + dir.str() + ": expected options.channels 0 (the first image's), 1 or 3, found 2");
}

// The tests run as root, where chmod 000 does not stop a read: an unreadable image is made here as a
// symbolic link to nothing named x.jpg, and as a folder named y.jpg.
TEST_CASE("image folder error: an unreadable image file") {
  TempDir dir("unreadable");
  good_rgb_set(dir);
  SUBCASE("a symbolic link to nothing") {
    const std::string bad = dir.file("b/x.jpg");
    fs::create_symlink(dir.path / "missing-target.jpg", bad);
    const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
    CHECK(msg == std::string(kWho) + bad +
                     ": expected a readable image file, found a symbolic link to nothing (cannot open it)");
  }
  SUBCASE("a folder named like an image") {
    const std::string bad = (dir.path / "b" / "y.jpg").string();
    dir.mkdir("b/y.jpg");
    const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
    CHECK(msg == std::string(kWho) + bad + ": expected an image file, found a folder (cannot read it as an image)");
  }
}

TEST_CASE("image folder error: a file with an image name that is not an image") {
  TempDir dir("not_image");
  good_rgb_set(dir);
  SUBCASE("text") {
    const std::string bad = dir.file("b/5.jpg");
    write_bytes(bad, {'<', 'h', 't', 'm', 'l', '>', 'o', 'o', 'p', 's'});
    const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
    CHECK(msg == std::string(kWho) + bad +
                     ": expected a JPEG (first bytes ff d8 ff) or PNG (89 50 4e 47 0d 0a 1a 0a) image, found first "
                     "bytes 3c 68 74 6d 6c 3e 6f 6f (not a JPEG or PNG image)");
  }
  SUBCASE("an empty file") {
    const std::string bad = dir.file("a/1b.png");
    write_bytes(bad, {});
    const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
    CHECK(contains(msg, std::string(kWho) + bad + ": expected a JPEG"));
    CHECK(contains(msg, "found an empty file"));
  }
}

TEST_CASE("image folder error: a declared size over 16384 pixels is rejected before decoding") {
  TempDir dir("huge");
  good_rgb_set(dir);
  SUBCASE("PNG header claiming 20000 x 30000") {
    Bytes png = png_bytes(hwc_pattern(0, 4, 5, 3), 4, 5, 3);
    // IHDR data starts at byte 16: width, height (big-endian), then its CRC over "IHDR" + 13 bytes at 29.
    const auto be32 = [&](std::size_t at, std::uint32_t v) {
      for (int k = 0; k < 4; ++k) png[at + static_cast<std::size_t>(k)] = static_cast<unsigned char>(v >> (24 - 8 * k));
    };
    be32(16, 30000);
    be32(20, 20000);
    be32(29, static_cast<std::uint32_t>(crc32(0, png.data() + 12, 17)));
    const std::string bad = dir.file("b/huge.png");
    write_bytes(bad, png);
    const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
    CHECK(msg == std::string(kWho) + bad +
                     ": expected 1 to 16384 pixels per side, found height x width 20000 x 30000 (image too large)");
  }
  SUBCASE("JPEG frame header claiming 40000 x 5") {
    Bytes jpg = jpeg_bytes(hwc_pattern(0, 4, 5, 3), 4, 5, 3);
    std::size_t sof = 0;
    for (std::size_t k = 2; k + 8 < jpg.size(); ++k)
      if (jpg[k] == 0xff && jpg[k + 1] == 0xc0) sof = k;
    REQUIRE(sof != 0);
    jpg[sof + 5] = static_cast<unsigned char>(40000 >> 8);  // height, big-endian
    jpg[sof + 6] = static_cast<unsigned char>(40000 & 0xff);
    const std::string bad = dir.file("b/huge.jpg");
    write_bytes(bad, jpg);
    const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str()); });
    CHECK(msg == std::string(kWho) + bad +
                     ": expected 1 to 16384 pixels per side, found height x width 40000 x 5 (image too large)");
  }
  SUBCASE("a lower limit: ImageFolderOptions::max_side") {
    ist::ImageFolderOptions o;
    o.max_side = 4;
    const std::string msg = error_of([&] { (void)ist::load_image_folder(dir.str(), o); });
    CHECK(msg == std::string(kWho) + (dir.path / "a" / "0.png").string() +
                     ": expected 1 to 4 pixels per side, found height x width 4 x 5 (image too large)");
    o.max_side = 5;
    CHECK(ist::load_image_folder(dir.str(), o).n == 4);
  }
}

TEST_CASE("image folder error: with several bad files, the first one's error, whatever the thread count") {
  TempDir dir("first_bad");
  for (int i = 0; i < 30; ++i) {
    const std::string cls = i < 15 ? "a" : "b";
    write_bytes(dir.file(cls + "/" + std::to_string(100 + i) + ".png"), png_bytes(hwc_pattern(i, 4, 5, 3), 4, 5, 3));
  }
  write_bytes(dir.file("a/107.png"), {'b', 'a', 'd'});
  write_bytes(dir.file("a/111.png"), {'w', 'o', 'r', 's', 'e'});
  write_bytes(dir.file("b/120.png"), png_bytes(hwc_pattern(0, 9, 9, 3), 9, 9, 3));
  const std::string m1 = error_of([&] { (void)ist::load_image_folder(dir.str(), {0, 1}); });
  CHECK(contains(m1, dir.file("a/107.png")));
  for (int threads : {2, 3, 8, 0}) {
    CHECK(error_of([&] { (void)ist::load_image_folder(dir.str(), {0, threads}); }) == m1);
  }
}

// ---- train / test split ----------------------------------------------------------------------------

TEST_CASE("image folder: load_image_folder_split reads root/train and root/test and checks they agree") {
  TempDir root("split");
  for (const char* split : {"train", "test"})
    for (const char* cls : {"cat", "dog"})
      for (int k = 0; k < (std::string(split) == "train" ? 3 : 2); ++k)
        write_bytes(root.file(std::string(split) + "/" + cls + "/" + std::to_string(k) + ".png"),
                    png_bytes(hwc_pattern(k, 4, 5, 3), 4, 5, 3));
  const std::string train = (root.path / "train").string(), test = (root.path / "test").string();
  const auto s = ist::load_image_folder_split(root.str());
  CHECK(s.train.n == 6);
  CHECK(s.test.n == 4);
  CHECK(s.train.class_names == std::vector<std::string>{"cat", "dog"});
  CHECK(s.test.class_names == s.train.class_names);
  CHECK(s.test.labels == std::vector<std::int32_t>{0, 0, 1, 1});

  SUBCASE("different classes") {
    write_bytes(root.file("test/emu/0.png"), png_bytes(hwc_pattern(0, 4, 5, 3), 4, 5, 3));
    const std::string msg = error_of([&] { (void)ist::load_image_folder_split(root.str()); });
    CHECK(msg == "ist::load_image_folder_split: " + train + " and " + test +
                     ": expected the same class folders, found 2 and 3 classes, first difference at class 2: none vs "
                     "'emu'");
  }
  SUBCASE("different image sizes") {
    fs::remove_all(root.path / "test");
    for (const char* cls : {"cat", "dog"})
      write_bytes(root.file(std::string("test/") + cls + "/0.png"), png_bytes(hwc_pattern(0, 5, 5, 3), 5, 5, 3));
    const std::string msg = error_of([&] { (void)ist::load_image_folder_split(root.str()); });
    CHECK(msg == "ist::load_image_folder_split: " + train + " and " + test +
                     ": expected images of the same channels x height x width, found 3 x 4 x 5 and 3 x 5 x 5");
  }
  SUBCASE("no test folder") {
    fs::remove_all(root.path / "test");
    const std::string msg = error_of([&] { (void)ist::load_image_folder_split(root.str()); });
    CHECK(msg == "ist::load_image_folder_split: " + root.str() + ": expected the folders " + train + " and " + test +
                     ", found only train");
  }
}

TEST_CASE("image folder: the CIFAR-10 presets") {
  const ist::Augmentation a = ist::cifar10_augmentation();
  CHECK(a.pad_crop == 4);
  CHECK(a.hflip);
  CHECK(ist::cifar10_normalization().mean.size() == 3u);
}

// ---- the real data: shared/data/cifar10-jpeg (25 000 training and 10 000 test JPEGs, 32x32 RGB) --------

// The expected pixels were computed independently with PIL 9.4 (Debian's python3-pil, which decodes with the
// same libjpeg-turbo 2.1.5):
//   /usr/bin/python3 -c "from PIL import Image; im = Image.open('train/airplane/0000.jpg'); print(im.getpixel((x, y)))"
// PIL's RGB bytes of 400 files (train/*/00[01]?.jpg, test/*/09[89]?.jpg) were also compared with ist's: all
// identical. The per-channel sums of the whole test set are PIL's too (classes sorted, files sorted).
TEST_CASE("image folder: the real CIFAR-10 JPEG folder") {
  const std::string root = std::string(IST_SHARED_DIR) + "/data/cifar10-jpeg";
  if (!fs::is_directory(root)) IST_SKIP_TEST(root + " not found (the shared data folder is not next to the project)");
  const auto s = ist::load_image_folder_split(root);
  const std::vector<std::string> classes{"airplane", "automobile", "bird", "cat", "deer",
                                         "dog",      "frog",       "horse", "ship", "truck"};
  for (const ist::ImageDataset* d : {&s.train, &s.test}) {
    CHECK(d->class_names == classes);
    CHECK(d->num_classes == 10);
    CHECK(d->c == 3);
    CHECK(d->h == 32);
    CHECK(d->w == 32);
    CHECK(d->pixels.size() == static_cast<std::size_t>(d->n) * 3072u);
  }
  CHECK(s.train.n == 25000);
  CHECK(s.test.n == 10000);
  std::array<int, 10> train_per_class{}, test_per_class{};
  for (auto y : s.train.labels) ++train_per_class[static_cast<std::size_t>(y)];
  for (auto y : s.test.labels) ++test_per_class[static_cast<std::size_t>(y)];
  for (int k : train_per_class) CHECK(k == 2500);
  for (int k : test_per_class) CHECK(k == 1000);
  CHECK(s.train.labels[2499] == 0);
  CHECK(s.train.labels[2500] == 1);

  // train/airplane/0000.jpg is training image 0; test/truck/0999.jpg the last test image. (ch, y, x).
  const int a = 0, t = 9999;
  CHECK(px(s.train, a, 0, 0, 0) == 200);
  CHECK(px(s.train, a, 1, 0, 0) == 202);
  CHECK(px(s.train, a, 2, 0, 0) == 197);
  CHECK(px(s.train, a, 0, 15, 16) == 1);
  CHECK(px(s.train, a, 1, 15, 16) == 0);
  CHECK(px(s.train, a, 2, 15, 16) == 6);
  CHECK(px(s.train, a, 0, 31, 31) == 236);
  CHECK(px(s.train, a, 1, 31, 31) == 236);
  CHECK(px(s.train, a, 2, 31, 31) == 238);
  CHECK(px(s.test, t, 0, 0, 0) == 255);
  CHECK(px(s.test, t, 1, 0, 0) == 255);
  CHECK(px(s.test, t, 2, 0, 0) == 246);
  CHECK(px(s.test, t, 0, 15, 16) == 89);
  CHECK(px(s.test, t, 1, 15, 16) == 48);
  CHECK(px(s.test, t, 2, 15, 16) == 44);
  CHECK(px(s.test, t, 0, 27, 5) == 39);
  CHECK(px(s.test, t, 1, 27, 5) == 16);
  CHECK(px(s.test, t, 2, 27, 5) == 24);
  std::array<std::uint64_t, 3> sums{};
  for (int i = 0; i < s.test.n; ++i)
    for (int ch = 0; ch < 3; ++ch)
      for (int k = 0; k < 1024; ++k)
        sums[static_cast<std::size_t>(ch)] +=
            s.test.pixels[static_cast<std::size_t>(i) * 3072 + static_cast<std::size_t>(ch) * 1024 + static_cast<std::size_t>(k)];
  CHECK(sums[0] == 1290104439u);
  CHECK(sums[1] == 1266598065u);
  CHECK(sums[2] == 1176037503u);
}

TEST_CASE("image folder: shuffled puts a class-sorted set in one order, a function of the seed") {
  ist::ImageDataset d;
  d.n = 10;
  d.c = 2;
  d.h = d.w = 1;
  d.num_classes = 5;
  d.class_names = {"a", "b", "c", "d", "e"};
  d.source = "ten";
  for (int i = 0; i < 10; ++i) {
    d.pixels.push_back(static_cast<std::uint8_t>(100 + i));  // channel 0
    d.pixels.push_back(static_cast<std::uint8_t>(200 + i));  // channel 1: each image moves whole
    d.labels.push_back(i / 2);  // sorted by class, 2 images each
  }
  const ist::ImageDataset a = ist::shuffled(d, 7);
  CHECK(a.n == 10);
  CHECK(a.class_names == d.class_names);
  CHECK(a.num_classes == 5);
  CHECK(a.source == "ten");
  // A permutation that keeps each image with its label: image i has pixels (100 + i, 200 + i), label i / 2.
  std::vector<int> seen;
  for (int k = 0; k < 10; ++k) {
    const int i = a.pixels[std::size_t(2 * k)] - 100;
    CHECK(a.pixels[std::size_t(2 * k + 1)] == 200 + i);
    CHECK(a.labels[std::size_t(k)] == i / 2);
    seen.push_back(i);
  }
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(a.labels != d.labels);  // not the class-sorted order
  // The same seed gives the same order (in any process: Rng is a pure function of its seed); another seed
  // another order.
  CHECK(ist::shuffled(d, 7).pixels == a.pixels);
  CHECK(ist::shuffled(d, 8).pixels != a.pixels);
  ist::ImageDataset bad = d;
  bad.labels.pop_back();
  CHECK(error_of([&] { (void)ist::shuffled(bad, 1); }) ==
        "ist::shuffled: ten: expected 10 images of 2 bytes and 10 labels, found 20 pixel bytes and 9 labels");
}

}  // namespace test_data_image_folder
