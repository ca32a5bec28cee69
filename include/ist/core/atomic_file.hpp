#pragma once
// write_file_atomically: writes a whole file so that readers see either the old content or the new one,
// never a torn file: write to "<path>.tmp.<pid>", flush and fsync, rename over the path, then fsync the
// directory so that the rename itself survives a power loss.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <unistd.h>

#include "ist/core/error.hpp"

namespace ist {

inline void write_file_atomically(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  IST_CHECK(fd >= 0, "ist::write_file_atomically: ", tmp, ": cannot create (", std::strerror(errno),
            "); check that the directory exists and is writable");
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("ist::write_file_atomically: ", tmp, ": write failed after ", content.size() - left, " of ",
           content.size(), " bytes (", std::strerror(e), ")");
    }
    p += n;
    left -= std::size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail("ist::write_file_atomically: ", tmp, ": fsync/close failed (", std::strerror(e), ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail("ist::write_file_atomically: cannot rename ", tmp, " to ", path, " (", std::strerror(e), ")");
  }
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // best effort: some file systems do not support fsync of a directory
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace ist
