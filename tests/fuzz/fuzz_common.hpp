#pragma once
// Shared pieces of the libFuzzer harnesses (tests/fuzz/fuzz_*.cpp): the readers take file paths, so each
// harness writes the fuzz input (or the files it splits the input into) to a per-process scratch folder in
// /dev/shm (tmpfs, falling back to the temp directory) and calls the reader on it.
//
// What counts as a finding, besides crashes, hangs and sanitizer reports:
//   - any exception other than ist::Error escaping the reader (libFuzzer reports it as a deadly signal);
//   - an ist::Error whose message does not start with "ist::" or does not name the file it is about;
//   - a reader that returns a result breaking its own invariants (checked by each harness).
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "ist/core/error.hpp"

namespace ist_fuzz {

namespace fs = std::filesystem;

// The scratch folder of this process, removed at exit.
inline const std::string& scratch() {
  struct Dir {
    std::string path;
    Dir() {
      std::error_code ec;
      const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
      path = (base / ("ist_fuzz_" + std::to_string(::getpid()))).string();
      fs::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

inline std::string scratch_path(std::string_view name) { return scratch() + "/" + std::string(name); }

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "\n==ist-fuzz== FINDING: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline void write_file(const std::string& path, const void* data, std::size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) finding("cannot create the scratch file " + path);
  if (n != 0 && std::fwrite(data, 1, n, f) != n) finding("cannot write the scratch file " + path);
  std::fclose(f);
}

inline void remove_file(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

// `data` as a gzip stream (so the fuzzer's mutations of the plain bytes reach the gzip code path too).
inline std::string gzip(const void* data, std::size_t n) {
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) finding("deflateInit2 failed");
  std::string out(deflateBound(&z, static_cast<uLong>(n)) + 32, '\0');
  z.next_in = static_cast<Bytef*>(const_cast<void*>(data));
  z.avail_in = static_cast<uInt>(n);
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) finding("deflate did not finish");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Writes `data` to `path`, gzipped when `gz`.
inline void write_maybe_gz(const std::string& path, const std::uint8_t* data, std::size_t n, bool gz) {
  if (gz) {
    const std::string z = gzip(data, n);
    write_file(path, z.data(), z.size());
  } else {
    write_file(path, data, n);
  }
}

// An ist::Error must say where it happened ("ist::...") and name a file of the scratch folder.
inline void check_error(const ist::Error& e) {
  const std::string m = e.what();
  if (m.rfind("ist::", 0) != 0) finding("ist::Error message does not start with \"ist::\": " + m);
  if (m.find(scratch()) == std::string::npos) finding("ist::Error message does not name the file: " + m);
}

// Reads the fuzz input front to back.
struct Input {
  const std::uint8_t* p;
  std::size_t n;
  bool empty() const { return n == 0; }
  std::uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  // A little-endian u16 length, then up to that many bytes (fewer if the input ends first).
  std::string_view chunk16() {
    const std::size_t len = std::size_t(byte()) | (std::size_t(byte()) << 8);
    return rest(len);
  }
  std::string_view rest(std::size_t max = SIZE_MAX) {
    const std::size_t k = max < n ? max : n;
    std::string_view s(reinterpret_cast<const char*>(p), k);
    p += k;
    n -= k;
    return s;
  }
};

}  // namespace ist_fuzz
