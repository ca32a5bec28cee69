#pragma once
// MappedFile: a whole file mapped read-only into memory (POSIX mmap, MAP_SHARED, PROT_READ), so that readers
// hand out zero-copy views (std::span) of its bytes and the kernel pages them in on demand and shares them
// between processes that map the same file. Move-only; the mapping lives as long as the object.
//
//   ist::MappedFile f("/data/graph.istg", "ist::open_csr_graph");
//   std::span<const std::byte> all = f.bytes();
//
// A file truncated by another process while it is mapped makes later reads of the lost pages raise SIGBUS:
// files written through AtomicFileWriter are replaced by rename, never truncated in place, so a mapping
// always sees the complete old or new file.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include "ist/core/error.hpp"

namespace ist {

class MappedFile {
 public:
  MappedFile() = default;
  // who: the public function to name in messages; missing_hint: what to do when the file does not exist.
  MappedFile(std::string path, const std::string& who, const std::string& missing_hint = "") : path_(std::move(path)) {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      if (e == ENOENT) fail(who, ": ", path_, ": file not found", missing_hint.empty() ? "" : "; ", missing_hint);
      fail(who, ": ", path_, ": cannot open for reading (", std::strerror(e), ")");
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      fail(who, ": ", path_, ": cannot read its size (", std::strerror(e), ")");
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      fail(who, ": ", path_, ": expected a file, found a directory");
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      fail(who, ": ", path_, ": expected a regular file (one that can be memory-mapped), found another kind");
    }
    size_ = std::size_t(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        fail(who, ": ", path_, ": cannot memory-map ", size_, " bytes (", std::strerror(e), ")");
      }
      data_ = static_cast<const std::byte*>(p);
    }
    ::close(fd);  // the mapping keeps the file open
  }
  MappedFile(MappedFile&& o) noexcept
      : path_(std::move(o.path_)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  MappedFile& operator=(MappedFile&& o) noexcept {
    if (this != &o) {
      unmap();
      path_ = std::move(o.path_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() { unmap(); }

  const std::string& path() const { return path_; }
  std::size_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::byte* data() const { return data_; }

  // Tells the kernel how the mapping will be read (MADV_SEQUENTIAL, MADV_RANDOM, MADV_WILLNEED); a hint only.
  void advise(int advice) const {
    if (data_ != nullptr) (void)::madvise(const_cast<std::byte*>(data_), size_, advice);
  }

 private:
  void unmap() noexcept {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }
  std::string path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace ist
