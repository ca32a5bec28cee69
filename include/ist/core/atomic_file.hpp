#pragma once
// Atomic file writes: readers see either the old content of a path or the complete new one, never a torn file.
//
// AtomicFileWriter streams a file of any size: it writes to "<path>.tmp.<pid>", and commit() flushes and
// fsyncs it, renames it over the path, then fsyncs the directory so that the rename itself survives a power
// loss. A writer destroyed without commit() (an exception on the way) removes its temporary file.
//
//   ist::AtomicFileWriter out(path, "ist::write_csr_graph");
//   out.write(header.data(), header.size());
//   out.write(payload.data(), payload.size());   // as many times as needed
//   out.write_at(0, patched_header.data(), ...);  // rewrite bytes already written (e.g. a checksum)
//   out.commit();
//
// write_file_atomically(path, content) writes a whole file held in memory through it.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>

#include "ist/core/error.hpp"

namespace ist {

class AtomicFileWriter {
 public:
  // who: the public function to name in messages ("ist::write_csr_graph").
  AtomicFileWriter(std::string path, std::string who)
      : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())), who_(std::move(who)) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    IST_CHECK(fd_ >= 0, who_, ": ", tmp_, ": cannot create (", std::strerror(errno),
              "); check that the directory exists and is writable");
  }
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter() { abandon(); }

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }
  std::uint64_t size() const { return size_; }  // bytes written so far (the end of the file)

  // Appends n bytes at the end of the file.
  void write(const void* data, std::size_t n) {
    write_all(data, n, size_, true);
    size_ += n;
  }
  // Appends n zero bytes.
  void write_zeros(std::size_t n) {
    static constexpr char zeros[4096] = {};
    while (n > 0) {
      const std::size_t k = n < sizeof zeros ? n : sizeof zeros;
      write(zeros, k);
      n -= k;
    }
  }
  // Overwrites n bytes already written, at `offset` (offset + n <= size()).
  void write_at(std::uint64_t offset, const void* data, std::size_t n) {
    IST_CHECK(offset <= size_ && n <= size_ - offset, who_, ": ", tmp_, ": cannot rewrite ", n, " bytes at offset ",
              offset, " of a file of ", size_, " bytes");
    write_all(data, n, offset, false);
  }

  // Makes the file visible under its path: fsync, close, rename, fsync of the directory.
  void commit() {
    IST_CHECK(fd_ >= 0, who_, ": ", tmp_, ": commit() after the file was committed or abandoned");
    if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
      const int e = errno;
      fd_ = -1;
      ::unlink(tmp_.c_str());
      fail(who_, ": ", tmp_, ": fsync/close failed (", std::strerror(e), ")");
    }
    fd_ = -1;
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const int e = errno;
      ::unlink(tmp_.c_str());
      fail(who_, ": cannot rename ", tmp_, " to ", path_, " (", std::strerror(e), ")");
    }
    const auto slash = path_.find_last_of('/');
    const std::string dir = slash == std::string::npos ? std::string(".") : path_.substr(0, slash == 0 ? 1 : slash);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // best effort: some file systems do not support fsync of a directory
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }

  // Closes and removes the temporary file (a no-op after commit()).
  void abandon() noexcept {
    if (fd_ < 0) return;
    ::close(fd_);
    fd_ = -1;
    ::unlink(tmp_.c_str());
  }

 private:
  void write_all(const void* data, std::size_t n, std::uint64_t offset, bool append) {
    IST_CHECK(fd_ >= 0, who_, ": ", tmp_, ": write after the file was committed or abandoned");
    const char* p = static_cast<const char*>(data);
    std::size_t left = n;
    while (left > 0) {
      const ssize_t k = append ? ::write(fd_, p, left) : ::pwrite(fd_, p, left, off_t(offset + (n - left)));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        const int e = errno;
        abandon();
        fail(who_, ": ", tmp_, ": write failed after ", n - left, " of ", n, " bytes (",
             k == 0 ? "no progress" : std::strerror(e), "); check the free space of the file system");
      }
      p += k;
      left -= std::size_t(k);
    }
  }

  std::string path_, tmp_, who_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

inline void write_file_atomically(const std::string& path, std::string_view content) {
  AtomicFileWriter out(path, "ist::write_file_atomically");
  out.write(content.data(), content.size());
  out.commit();
}

}  // namespace ist
