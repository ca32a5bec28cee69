#pragma once
// Image-folder reader: a data set stored as one subfolder per class, as vision libraries (torchvision's
// ImageFolder) read it:
//
//   dir/airplane/0000.jpg, dir/airplane/0001.jpg, ..., dir/truck/0999.png
//
// - Classes: the subfolders of `dir` sorted by name (byte-wise); label = index in that list
//   (ImageDataset::class_names). Hidden subfolders (".name") are not classes.
// - Images of a class: the files of its folder (not of nested folders) whose name ends in .jpg, .jpeg or
//   .png (any case), sorted by name (byte-wise); other files and hidden ones (".name") are skipped.
// - Format: JPEG (TurboJPEG) or PNG (libpng's simplified API), told by the file's first bytes, not by its
//   name. Pixels come out as 8-bit [n, c, h, w] (CHW planar), like the other readers.
// - Channels (ImageFolderOptions::channels): 0 = the first image's (1 = grayscale or 3 = color), and every
//   other image must have as many; 1 or 3 = every image converted to that. An alpha channel is dropped
//   (the color values are kept as they are, as PIL's convert("RGB") does).
// - Every image must have the first image's height and width (no resizing here).
// - Decoding runs on ImageFolderOptions::threads threads (0 = std::thread::hardware_concurrency()); image i
//   always lands in slot i, so the result does not depend on the thread count, and when several files are
//   bad the error is the one of the first bad file in the order above.
//
// Every failure throws ist::Error naming the function, the file or folder, what was expected and what was
// found. Decoder warnings (a truncated JPEG decodes with a warning only) are errors too.
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/data/image_dataset.hpp"

namespace ist {

struct ImageFolderOptions {
  int channels = 0;      // 0: the first image's (1 or 3), every image must match; 1 or 3: convert every image
  int threads = 0;       // decoding threads; 0 = std::thread::hardware_concurrency()
  int max_side = 16384;  // the largest height or width accepted, checked before any allocation (1..65535)
};

namespace detail {

inline constexpr int image_max_side = 16384;  // the default largest height or width (ImageFolderOptions::max_side)
inline constexpr std::uint64_t image_max_file_bytes = 1ull << 30;  // 1 GiB per image file

enum class ImageFormat { unknown, jpeg, png };

// JPEG: ff d8 ff; PNG: 89 50 4e 47 0d 0a 1a 0a.
inline ImageFormat sniff_image_format(const unsigned char* p, std::size_t n) {
  static constexpr unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return ImageFormat::jpeg;
  if (n >= 8 && std::memcmp(p, png_magic, 8) == 0) return ImageFormat::png;
  return ImageFormat::unknown;
}

// "3c 68 74 6d" for the first (up to) 8 bytes, for messages.
inline std::string hex_prefix(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < std::min<std::size_t>(n, 8); ++i) {
    if (i) s += ' ';
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

inline const char* channel_words(int c) { return c == 1 ? "1-channel (grayscale)" : "3-channel (color)"; }

// An image decoder holding one TurboJPEG handle and a scratch buffer: one per thread. header() reads the
// size and channel count; decode() then writes the pixels, converted to c_out channels, as [c_out, h, w].
class ImageDecoder {
 public:
  struct Header {
    ImageFormat format = ImageFormat::unknown;
    int c = 0, h = 0, w = 0;  // c: the file's own channel count, 1 or 3
  };

  // max_side: the largest height or width header() accepts.
  ImageDecoder(std::string who, int max_side) : who_(std::move(who)), max_side_(max_side) {
    std::memset(&png_, 0, sizeof png_);
  }
  ImageDecoder(const ImageDecoder&) = delete;
  ImageDecoder& operator=(const ImageDecoder&) = delete;
  ~ImageDecoder() {
    free_png();
    if (tj_ != nullptr) tjDestroy(tj_);
  }

  Header header(const unsigned char* p, std::size_t n, const std::string& name) {
    free_png();
    Header hd;
    hd.format = sniff_image_format(p, n);
    if (hd.format == ImageFormat::jpeg) {
      int w = 0, h = 0, subsamp = 0, colorspace = 0;
      if (tjDecompressHeader3(handle(name), p, static_cast<unsigned long>(n), &w, &h, &subsamp, &colorspace) != 0) {
        fail(who_, ": ", name, ": expected a valid JPEG header, found corrupt or truncated data (TurboJPEG: ",
             tjGetErrorStr2(tj_), ")");
      }
      if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
        fail(who_, ": ", name, ": expected a grayscale or color (YCbCr/RGB) JPEG, found a ",
             colorspace == TJCS_CMYK ? "CMYK" : "YCCK", " JPEG (4 channels, not supported)");
      }
      if (w < 1 || h < 1) {  // libjpeg read to the end (a fake EOI) without finding a frame header
        fail(who_, ": ", name, ": expected a valid JPEG header, found no image size (truncated file, or a JPEG "
             "holding only tables)");
      }
      hd.c = colorspace == TJCS_GRAY ? 1 : 3;
      hd.h = h;
      hd.w = w;
    } else if (hd.format == ImageFormat::png) {
      // libpng's simplified API stops after the image data: a file cut in or before its IEND chunk (the end
      // marker, 00 00 00 00 "IEND" ae 42 60 82) would pass. Such a file is truncated all the same.
      static constexpr unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
      if (std::find_end(p, p + n, iend, iend + 12) == p + n) {
        fail(who_, ": ", name, ": expected a complete PNG file ending with an IEND chunk, found none (truncated ",
             "file)");
      }
      png_.version = PNG_IMAGE_VERSION;
      png_active_ = true;
      if (png_image_begin_read_from_memory(&png_, p, n) == 0) {
        fail(who_, ": ", name, ": expected a valid PNG header, found corrupt or truncated data (libpng: ",
             png_.message, ")");
      }
      hd.c = (png_.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
      if (png_.width > static_cast<png_uint_32>(max_side_) || png_.height > static_cast<png_uint_32>(max_side_)) {
        const std::string found = std::to_string(png_.height) + " x " + std::to_string(png_.width);
        free_png();
        fail(who_, ": ", name, ": expected 1 to ", max_side_, " pixels per side, found height x width ", found,
             " (image too large)");
      }
      hd.h = static_cast<int>(png_.height);
      hd.w = static_cast<int>(png_.width);
    } else {
      fail(who_, ": ", name, ": expected a JPEG (first bytes ff d8 ff) or PNG (89 50 4e 47 0d 0a 1a 0a) image, found ",
           n == 0 ? std::string("an empty file") : "first bytes " + hex_prefix(p, n) + " (not a JPEG or PNG image)");
    }
    if (hd.h < 1 || hd.w < 1 || hd.h > max_side_ || hd.w > max_side_) {
      free_png();
      fail(who_, ": ", name, ": expected 1 to ", max_side_, " pixels per side, found height x width ", hd.h,
           " x ", hd.w, hd.h < 1 || hd.w < 1 ? " (empty image)" : " (image too large)");
    }
    return hd;
  }

  // Decodes the image whose header() was read last (same bytes) into dst: [c_out, h, w], c_out 1 or 3.
  void decode(const unsigned char* p, std::size_t n, const Header& hd, int c_out, std::uint8_t* dst,
              const std::string& name) {
    const std::size_t hw = static_cast<std::size_t>(hd.h) * static_cast<std::size_t>(hd.w);
    if (hd.format == ImageFormat::jpeg) {
      // c_out == 1: interleaved gray is already planar, decode straight into dst.
      unsigned char* out = c_out == 1 ? dst : scratch(hw * 3);
      const int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS | TJFLAG_ACCURATEDCT;
      if (tjDecompress2(handle(name), p, static_cast<unsigned long>(n), out, hd.w, 0, hd.h,
                        c_out == 1 ? TJPF_GRAY : TJPF_RGB, flags) != 0) {
        const bool warning = tjGetErrorCode(tj_) == TJERR_WARNING;
        fail(who_, ": ", name, ": expected a complete, valid JPEG image, found ",
             warning ? "data the decoder warns about (truncated or corrupt; TurboJPEG warning: "
                     : "corrupt data (TurboJPEG error: ",
             tjGetErrorStr2(tj_), ")");
      }
      if (c_out == 3) planar_from_interleaved(out, hw, 3, 3, dst);
      return;
    }
    if (!png_active_) fail(who_, ": ", name, ": internal error: decode() without header()");
    const bool alpha = (png_.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    // Keep the alpha channel in the decoded pixels and drop it here: without one in the requested format,
    // libpng would composite the colors onto the buffer's contents instead.
    png_.format = (c_out == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY) | (alpha ? PNG_FORMAT_FLAG_ALPHA : 0u);
    const int stride = c_out + (alpha ? 1 : 0);
    unsigned char* out = stride == 1 ? dst : scratch(hw * static_cast<std::size_t>(stride));
    const int ok = png_image_finish_read(&png_, nullptr, out, 0, nullptr);
    const png_uint_32 status = png_.warning_or_error;
    const std::string message = png_.message;
    free_png();
    if (ok == 0 || status != 0) {
      fail(who_, ": ", name, ": expected a complete, valid PNG image, found ",
           ok == 0 ? "corrupt or truncated data (libpng error: " : "data libpng warns about (libpng warning: ",
           message, ")");
    }
    if (stride != 1) planar_from_interleaved(out, hw, stride, c_out, dst);
  }

 private:
  tjhandle handle(const std::string& name) {
    if (tj_ == nullptr) {
      tj_ = tjInitDecompress();
      if (tj_ == nullptr) fail(who_, ": ", name, ": cannot start the JPEG decoder (TurboJPEG: ", tjGetErrorStr2(nullptr), ")");
    }
    return tj_;
  }
  void free_png() {
    if (png_active_) png_image_free(&png_);
    std::memset(&png_, 0, sizeof png_);
    png_active_ = false;
  }
  unsigned char* scratch(std::size_t bytes) {
    if (bytes > scratch_size_) {
      scratch_.reset();  // release the old buffer first: no need for both at once
      scratch_.reset(new unsigned char[bytes]);  // uninitialized: the decoder writes every byte it keeps
      scratch_size_ = bytes;
    }
    return scratch_.get();
  }
  // src: hw pixels of `stride` bytes each; dst: the first c planes of hw bytes.
  static void planar_from_interleaved(const unsigned char* src, std::size_t hw, int stride, int c, std::uint8_t* dst) {
    if (c == 1) {
      for (std::size_t k = 0; k < hw; ++k) dst[k] = src[k * static_cast<std::size_t>(stride)];
      return;
    }
    std::uint8_t* r = dst;
    std::uint8_t* g = dst + hw;
    std::uint8_t* b = dst + 2 * hw;
    for (std::size_t k = 0; k < hw; ++k) {
      const unsigned char* px = src + k * static_cast<std::size_t>(stride);
      r[k] = px[0];
      g[k] = px[1];
      b[k] = px[2];
    }
  }

  std::string who_;
  int max_side_;
  tjhandle tj_ = nullptr;
  png_image png_;
  bool png_active_ = false;
  std::unique_ptr<unsigned char[]> scratch_;
  std::size_t scratch_size_ = 0;
};

// An image decoded in memory: [c, h, w] planar 8-bit pixels.
struct DecodedImage {
  int c = 0, h = 0, w = 0;
  std::vector<std::uint8_t> pixels;
};

// Decodes one JPEG or PNG image held in memory (the decoder of load_image_folder, exposed for tests and the
// fuzzer). channels: 0 = the image's own (1 or 3), else 1 or 3. `name` is what messages call the image;
// max_side: the largest height or width accepted.
inline DecodedImage decode_image(const unsigned char* bytes, std::size_t size, int channels, const std::string& name,
                                 int max_side = image_max_side) {
  const std::string who = "ist::detail::decode_image";
  IST_CHECK(channels == 0 || channels == 1 || channels == 3, who, ": ", name, ": expected channels 0, 1 or 3, found ",
            channels);
  IST_CHECK(max_side >= 1 && max_side <= 65535, who, ": ", name, ": expected max_side in [1, 65535], found ", max_side);
  ImageDecoder decoder(who, max_side);
  const ImageDecoder::Header hd = decoder.header(bytes, size, name);
  DecodedImage out;
  out.c = channels == 0 ? hd.c : channels;
  out.h = hd.h;
  out.w = hd.w;
  out.pixels.resize(static_cast<std::size_t>(out.c) * static_cast<std::size_t>(out.h) * static_cast<std::size_t>(out.w));
  decoder.decode(bytes, size, hd, out.c, out.pixels.data(), name);
  return out;
}

// Reads the whole file `path` into `out`; throws naming the file when it is not a readable regular file.
inline void read_image_file(const std::string& who, const std::string& path, std::vector<unsigned char>& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) {
    std::error_code ec2;
    if (fs::is_symlink(fs::symlink_status(path, ec2))) {
      fail(who, ": ", path, ": expected a readable image file, found a symbolic link to nothing (cannot open it)");
    }
    fail(who, ": ", path, ": expected a readable image file, found nothing there (cannot open it",
         ec ? ": " + ec.message() : std::string(), ")");
  }
  if (fs::is_directory(st)) fail(who, ": ", path, ": expected an image file, found a folder (cannot read it as an image)");
  if (!fs::is_regular_file(st)) {
    fail(who, ": ", path, ": expected a regular image file, found a device, pipe or socket (not read)");
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) fail(who, ": ", path, ": expected a readable image file, cannot open it (", std::strerror(errno), ")");
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) fail(who, ": ", path, ": expected a readable image file, cannot get its size (", ec.message(), ")");
  if (size > image_max_file_bytes) {
    fail(who, ": ", path, ": expected an image file of at most ", image_max_file_bytes, " bytes, found ", size,
         " bytes (file too large)");
  }
  out.resize(static_cast<std::size_t>(size));
  const std::size_t got = size == 0 ? 0 : std::fread(out.data(), 1, out.size(), f);
  if (got != out.size()) {
    fail(who, ": ", path, ": expected ", size, " bytes, read ", got, " (",
         std::ferror(f) ? std::strerror(errno) : "the file shrank while being read", ")");
  }
}

inline bool is_hidden_name(const std::string& name) { return !name.empty() && name[0] == '.'; }

// .jpg, .jpeg, .png in any case (torchvision's IMG_EXTENSIONS, restricted to what ist decodes).
inline bool has_image_extension(const std::string& name) {
  const std::size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

// Names of the entries of folder `dir`, sorted byte-wise, hidden ones (".name") left out. want_dirs: the
// subfolders (following symbolic links); else the image entries: names with an image extension, whatever
// they are (a folder or a broken link named x.jpg is an image that cannot be read). `skipped` counts the
// other entries.
inline std::vector<std::string> list_folder(const std::string& who, const std::string& dir, bool want_dirs,
                                            std::size_t& skipped) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  skipped = 0;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code ec2;
    const bool keep = !is_hidden_name(name) && (want_dirs ? fs::is_directory(it->path(), ec2) : has_image_extension(name));
    if (keep) {
      names.push_back(name);
    } else {
      ++skipped;
    }
  }
  if (ec) fail(who, ": ", dir, ": expected a readable folder, cannot list it (", ec.message(), ")");
  std::sort(names.begin(), names.end());  // std::string compares as unsigned bytes: byte-wise order
  return names;
}

}  // namespace detail

// All images of the class subfolders of `dir`, as one ImageDataset (see the top of this file).
inline ImageDataset load_image_folder(const std::string& dir, const ImageFolderOptions& options = {}) {
  namespace fs = std::filesystem;
  const std::string who = "ist::load_image_folder";
  IST_CHECK(options.channels == 0 || options.channels == 1 || options.channels == 3, who, ": ", dir,
            ": expected options.channels 0 (the first image's), 1 or 3, found ", options.channels);
  IST_CHECK(options.threads >= 0, who, ": ", dir, ": expected options.threads >= 0 (0 = one per core), found ",
            options.threads);
  IST_CHECK(options.max_side >= 1 && options.max_side <= 65535, who, ": ", dir,
            ": expected options.max_side in [1, 65535], found ", options.max_side);
  {
    std::error_code ec;
    const fs::file_status st = fs::status(dir, ec);
    if (!fs::exists(st)) fail(who, ": ", dir, ": expected a folder with one subfolder per class, found nothing there");
    if (!fs::is_directory(st)) {
      fail(who, ": ", dir, ": expected a folder with one subfolder per class, found a file");
    }
  }

  ImageDataset d;
  d.source = dir;
  std::size_t root_files = 0;
  d.class_names = detail::list_folder(who, dir, true, root_files);
  if (d.class_names.empty()) {
    fail(who, ": ", dir, ": expected at least one class subfolder, found none (", root_files,
         root_files == 1 ? " other entry" : " other entries", "; images go in <dir>/<class>/<image>.jpg)");
  }
  IST_CHECK(d.class_names.size() <= static_cast<std::size_t>(INT_MAX), who, ": ", dir, ": expected at most ", INT_MAX,
            " classes, found ", d.class_names.size());
  std::vector<std::string> files;
  for (std::size_t k = 0; k < d.class_names.size(); ++k) {
    const std::string folder = (fs::path(dir) / d.class_names[k]).string();
    std::size_t skipped = 0;
    const std::vector<std::string> images = detail::list_folder(who, folder, false, skipped);
    for (const std::string& name : images) {
      files.push_back((fs::path(folder) / name).string());
      d.labels.push_back(static_cast<std::int32_t>(k));
    }
    if (images.empty()) {
      fail(who, ": ", folder, ": expected at least one image (.jpg, .jpeg or .png) in class folder '", d.class_names[k],
           "', found none (", skipped, skipped == 1 ? " other entry" : " other entries", " skipped)");
    }
  }
  IST_CHECK(files.size() <= static_cast<std::size_t>(INT_MAX), who, ": ", dir, ": expected at most ", INT_MAX,
            " images, found ", files.size());
  const std::size_t n = files.size();
  d.n = static_cast<int>(n);
  d.num_classes = static_cast<int>(d.class_names.size());

  // The first image fixes c, h and w; then the pixels of all n are allocated at once.
  detail::ImageDecoder first_decoder(who, options.max_side);
  std::vector<unsigned char> bytes;
  detail::read_image_file(who, files[0], bytes);
  const detail::ImageDecoder::Header first = first_decoder.header(bytes.data(), bytes.size(), files[0]);
  d.c = options.channels == 0 ? first.c : options.channels;
  d.h = first.h;
  d.w = first.w;
  const std::size_t image = d.image_size();
  if (n > SIZE_MAX / image) fail(who, ": ", dir, ": ", n, " images of ", image, " bytes do not fit in memory");
  try {
    d.pixels.resize(n * image);
  } catch (const std::bad_alloc&) {
    fail(who, ": ", dir, ": cannot allocate ", n * image, " bytes for ", n, " images of ", d.c, " x ", d.h, " x ", d.w,
         " pixels (out of memory)");
  }
  first_decoder.decode(bytes.data(), bytes.size(), first, d.c, d.pixels.data(), files[0]);

  // Images 1..n-1 on `threads` threads pulling indices in increasing order. A failure at index i stops the
  // hand-out past i; every index below i has already been handed out and is finished, so the error kept
  // (the lowest failing index) is the same whatever the thread count.
  std::atomic<std::size_t> next{1};
  std::atomic<std::size_t> first_bad{SIZE_MAX};
  std::mutex bad_mutex;
  std::string bad_message;
  auto record = [&](std::size_t i, std::string message) {
    std::lock_guard<std::mutex> lock(bad_mutex);
    if (i < first_bad.load()) {
      first_bad.store(i);
      bad_message = std::move(message);
    }
  };
  auto work = [&](detail::ImageDecoder& decoder, std::vector<unsigned char>& buf) {
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= n || i > first_bad.load()) return;
      try {
        detail::read_image_file(who, files[i], buf);
        const detail::ImageDecoder::Header hd = decoder.header(buf.data(), buf.size(), files[i]);
        if (hd.h != first.h || hd.w != first.w) {
          fail(who, ": ", files[i], ": expected height x width ", first.h, " x ", first.w, " like the first image (",
               files[0], "), found ", hd.h, " x ", hd.w, " (images of one data set must have one size)");
        }
        if (options.channels == 0 && hd.c != first.c) {
          fail(who, ": ", files[i], ": expected a ", detail::channel_words(first.c), " image like the first image (",
               files[0], "), found a ", detail::channel_words(hd.c), " image (",
               hd.c == 1 ? "a grayscale image in a color set" : "a color image in a grayscale set",
               "; set ImageFolderOptions::channels to 1 or 3 to convert every image)");
        }
        decoder.decode(buf.data(), buf.size(), hd, d.c, d.pixels.data() + i * image, files[i]);
      } catch (const Error& e) {
        record(i, e.what());
      } catch (const std::bad_alloc&) {
        record(i, who + ": " + files[i] + ": out of memory while decoding");
      } catch (const std::exception& e) {
        record(i, who + ": " + files[i] + ": " + e.what());
      }
    }
  };
  unsigned threads = options.threads > 0 ? static_cast<unsigned>(options.threads) : std::thread::hardware_concurrency();
  threads = static_cast<unsigned>(std::clamp<std::size_t>(threads, 1, std::max<std::size_t>(n - 1, 1)));
  std::vector<std::thread> pool;
  try {
    for (unsigned t = 1; t < threads; ++t) {
      pool.emplace_back([&] {
        try {
          detail::ImageDecoder decoder(who, options.max_side);
          std::vector<unsigned char> buf;
          work(decoder, buf);
        } catch (...) {  // only a failed allocation before the first index: the other threads take its share
        }
      });
    }
  } catch (const std::system_error&) {  // could not start a thread: the threads started (and this one) do the work
  }
  work(first_decoder, bytes);
  for (std::thread& t : pool) t.join();
  if (first_bad.load() != SIZE_MAX) throw Error(bad_message);
  return d;
}

// A training and a test set read from root/train and root/test.
struct ImageFolderSplit {
  ImageDataset train, test;
};

// load_image_folder of root/train and root/test, checked to have the same class folders (so the labels
// mean the same) and the same image size and channel count.
inline ImageFolderSplit load_image_folder_split(const std::string& root, const ImageFolderOptions& options = {}) {
  namespace fs = std::filesystem;
  const std::string who = "ist::load_image_folder_split";
  const std::string train_dir = (fs::path(root) / "train").string();
  const std::string test_dir = (fs::path(root) / "test").string();
  std::error_code ec;
  const bool has_train = fs::is_directory(train_dir, ec), has_test = fs::is_directory(test_dir, ec);
  if (!has_train || !has_test) {
    fail(who, ": ", root, ": expected the folders ", train_dir, " and ", test_dir, ", found ",
         has_train ? "only train" : has_test ? "only test" : "neither");
  }
  ImageFolderSplit s;
  s.train = load_image_folder(train_dir, options);
  s.test = load_image_folder(test_dir, options);
  if (s.train.class_names != s.test.class_names) {
    std::size_t k = 0;
    while (k < s.train.class_names.size() && k < s.test.class_names.size() &&
           s.train.class_names[k] == s.test.class_names[k])
      ++k;
    auto at = [&](const std::vector<std::string>& v) { return k < v.size() ? "'" + v[k] + "'" : std::string("none"); };
    fail(who, ": ", train_dir, " and ", test_dir, ": expected the same class folders, found ", s.train.class_names.size(),
         " and ", s.test.class_names.size(), " classes, first difference at class ", k, ": ", at(s.train.class_names),
         " vs ", at(s.test.class_names));
  }
  if (s.train.c != s.test.c || s.train.h != s.test.h || s.train.w != s.test.w) {
    fail(who, ": ", train_dir, " and ", test_dir, ": expected images of the same channels x height x width, found ",
         s.train.c, " x ", s.train.h, " x ", s.train.w, " and ", s.test.c, " x ", s.test.h, " x ", s.test.w);
  }
  return s;
}

}  // namespace ist
