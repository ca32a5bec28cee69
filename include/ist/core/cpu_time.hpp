#pragma once
// CPU time of the calling thread. A worker that computes on its own thread (threads_per_worker = 1)
// measures with it the compute it did, independent of how many other processes shared the cores: wall
// time on a loaded machine measures the share of the cores a thread got, CPU time the work it did.
#include <ctime>

namespace ist {

inline double thread_cpu_seconds() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace ist
