#pragma once
// Sequential reader for a binary file that may be gzip-compressed (detected by its magic bytes 1f 8b and
// then read through zlib), used by the IDX and CIFAR readers. Every failure throws ist::Error naming the
// calling function and the file.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "ist/core/error.hpp"

namespace ist::detail {

class InputFile {
 public:
  // who: the public function to name in messages ("ist::load_idx_images"); missing_hint: what the user
  // should do when the file does not exist.
  InputFile(std::string path, std::string who, const std::string& missing_hint = "")
      : path_(std::move(path)), who_(std::move(who)) {
    std::error_code ec;
    const auto status = std::filesystem::status(path_, ec);
    if (!std::filesystem::exists(status)) {
      fail(who_, ": ", path_, ": file not found", missing_hint.empty() ? "" : "; ", missing_hint);
    }
    if (std::filesystem::is_directory(status)) fail(who_, ": ", path_, ": expected a file, found a directory");
    const auto size = std::filesystem::file_size(path_, ec);
    disk_size_ = ec ? 0 : static_cast<std::uint64_t>(size);
    file_ = std::fopen(path_.c_str(), "rb");
    if (file_ == nullptr) fail(who_, ": ", path_, ": cannot open for reading (", std::strerror(errno), ")");
    unsigned char magic[2] = {0, 0};
    const std::size_t got = std::fread(magic, 1, 2, file_);
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
      std::fclose(file_);
      file_ = nullptr;
      gz_ = gzopen(path_.c_str(), "rb");
      if (gz_ == nullptr) fail(who_, ": ", path_, ": cannot open gzip file for reading");
      gzbuffer(gz_, 1u << 17);
    } else if (std::fseek(file_, 0, SEEK_SET) != 0) {
      fail(who_, ": ", path_, ": cannot seek (", std::strerror(errno), ")");
    }
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (gz_ != nullptr) gzclose(gz_);
  }

  const std::string& path() const { return path_; }
  bool gzipped() const { return gz_ != nullptr; }
  std::uint64_t disk_size() const { return disk_size_; }  // bytes on disk (compressed size if gzipped)
  std::uint64_t position() const { return position_; }    // decompressed bytes read so far

  // Reads up to n bytes; returns fewer only at the end of the data. Throws on I/O errors and corrupt gzip.
  std::size_t read(void* dst, std::size_t n) {
    auto* p = static_cast<unsigned char*>(dst);
    std::size_t total = 0;
    if (gz_ != nullptr) {
      while (total < n) {
        const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - total, std::size_t{1} << 30));
        const int r = gzread(gz_, p + total, chunk);
        if (r < 0) {
          int err = 0;
          const char* msg = gzerror(gz_, &err);
          fail(who_, ": ", path_, ": corrupt gzip data after ", position_ + total, " decompressed bytes (zlib: ",
               msg, ")");
        }
        if (r == 0) break;
        total += static_cast<std::size_t>(r);
      }
    } else {
      total = std::fread(p, 1, n, file_);
      if (total < n && std::ferror(file_)) {
        fail(who_, ": ", path_, ": read error after ", position_ + total, " bytes (", std::strerror(errno), ")");
      }
    }
    position_ += total;
    return total;
  }

  // Reads exactly n bytes of `what` or throws "expected n bytes of what, found m (file truncated ...)".
  void read_exact(void* dst, std::size_t n, const char* what) {
    const std::size_t got = read(dst, n);
    if (got != n) {
      fail(who_, ": ", path_, ": expected ", n, " bytes of ", what, ", found ", got, " (file truncated",
           gz_note(), ")");
    }
  }

  // Reads exactly n bytes of `what` into `out` (resized to n), or throws like read_exact. `out` grows only
  // as the data arrives (1 MiB, then doubling), so a header claiming more data than the file holds costs
  // no more memory than the data that is there: a gzipped file's size is unknown until it is read, and a
  // 50-byte gzip file whose header claims 16 GiB must fail on its short data, not on allocating 16 GiB.
  void read_exact_into(std::vector<std::uint8_t>& out, std::uint64_t n, const char* what) {
    out.clear();
    std::size_t have = 0;
    while (have < n) {
      const std::size_t step = static_cast<std::size_t>(
          std::min<std::uint64_t>(n - have, std::max<std::uint64_t>(std::uint64_t{1} << 20, have)));
      out.resize(have + step);
      const std::size_t got = read(out.data() + have, step);
      have += got;
      if (got != step) {
        fail(who_, ": ", path_, ": expected ", n, " bytes of ", what, ", found ", have, " (file truncated",
             gz_note(), ")");
      }
    }
  }

  // Throws unless the data ends here, after expected_total bytes.
  void expect_end(std::uint64_t expected_total) {
    unsigned char extra = 0;
    if (read(&extra, 1) != 0) {
      fail(who_, ": ", path_, ": expected ", expected_total, " bytes in total, found more (trailing data)");
    }
  }

  // For a short read of a gzip file: zlib's account of it (" or corrupt: unexpected end of file").
  std::string gz_note() const {
    if (gz_ == nullptr) return "";
    int err = 0;
    const char* msg = gzerror(gz_, &err);
    if (err == Z_OK || msg == nullptr || *msg == '\0') return " or corrupt";
    return std::string(" or corrupt: zlib: ") + msg;
  }

 private:
  std::string path_;
  std::string who_;
  std::FILE* file_ = nullptr;
  gzFile gz_ = nullptr;
  std::uint64_t disk_size_ = 0;
  std::uint64_t position_ = 0;
};

// Big-endian 32-bit integer, as in IDX headers.
inline std::uint32_t read_be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

}  // namespace ist::detail
