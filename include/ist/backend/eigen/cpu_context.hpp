#pragma once
// CpuContext: the compute resources of one worker on the Eigen backend: how many threads its ops may
// use, and per-thread scratch memory that grows to the largest request and is then reused (so a
// training step allocates nothing once its sub-network shape has been seen). It leaves Eigen's own
// threading alone (see the constructor).
#include <cstddef>
#include <vector>

#include "ist/core/error.hpp"

namespace ist::eigen {

class CpuContext {
 public:
  // ist spreads work over threads itself (images of a batch, channels of a norm), so its own matrix
  // products run on the thread that calls them: they go through gemm() (gemm.hpp), Eigen's packed kernel
  // called directly, which never consults Eigen's thread count. Nothing process-wide is touched: ist never
  // calls Eigen::setNbThreads, so the user's own Eigen code keeps its threading.
  explicit CpuContext(int threads = 1) { set_threads(threads); }

  // Number of threads this worker's ops use. Workers running side by side each have their own
  // context, so S workers with t threads each use S*t cores.
  void set_threads(int threads) {
    IST_CHECK(threads >= 1, "ist::eigen::CpuContext::set_threads: expected threads >= 1, found ", threads);
    threads_ = threads;
    scratch_.resize(static_cast<std::size_t>(threads));
  }
  int threads() const noexcept { return threads_; }

  // Scratch of at least `count` elements of T for thread `thread` (0 <= thread < threads()).
  // Grows on first use of a larger size; later calls of the same size reuse the memory.
  template <class T>
  T* scratch(int thread, std::size_t count) {
    auto& buf = scratch_[static_cast<std::size_t>(thread)];
    const std::size_t words = (count * sizeof(T) + sizeof(Word) - 1) / sizeof(Word);
    if (buf.size() < words) buf.resize(words);
    return reinterpret_cast<T*>(buf.data());
  }

  // Total bytes of scratch held, for memory reports.
  std::size_t scratch_bytes() const noexcept {
    std::size_t b = 0;
    for (const auto& s : scratch_) b += s.size() * sizeof(Word);
    return b;
  }

 private:
  struct alignas(64) Word {  // cache-line words: scratch is aligned for any vector width
    unsigned char bytes[64];
  };
  int threads_ = 1;
  std::vector<std::vector<Word>> scratch_;
};

}  // namespace ist::eigen
