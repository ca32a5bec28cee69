#pragma once
// SingleThreadScope: while one is alive, Eigen matrix products called on this thread run on this thread
// alone; at scope exit the thread's OpenMP setting is what it was. Every ist op that calls an Eigen
// product opens one (linear_forward/backward, conv2d_forward/backward).
//
// Why this and not Eigen::setNbThreads(1): setNbThreads is process-wide, so it would also switch off the
// threading of the user's own Eigen code. Eigen's product parallelizer (Eigen/src/Core/products/
// Parallelizer.h) runs a product on the calling thread when it is called inside an OpenMP team of more
// than one thread, or when Eigen::nbThreads() is 1; nbThreads() is the value given to setNbThreads, or,
// when that was never called, omp_get_max_threads(), which reads the calling thread's own nthreads ICV.
// So this scope sets that per-thread value to 1 (omp_set_num_threads(1)) and restores it: other threads,
// and this thread after the scope, are unaffected. Threads of ist's own `omp parallel num_threads(t)`
// regions inherit the 1 (the num_threads clause still sizes the team), so products inside those run on
// their own thread too.
//
// The rule, for programs that link ist: ist never calls Eigen::setNbThreads. If the program itself calls
// Eigen::setNbThreads(k) with k > 1, Eigen reads that process-wide value before the per-thread one, and
// ist's products outside its own parallel regions (a worker with one thread) may then use k threads and
// round differently; leave it unset (or 1) where results must not depend on thread counts.
#include <omp.h>

namespace ist::eigen {

class SingleThreadScope {
 public:
  SingleThreadScope() noexcept : previous_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SingleThreadScope() { omp_set_num_threads(previous_); }
  SingleThreadScope(const SingleThreadScope&) = delete;
  SingleThreadScope& operator=(const SingleThreadScope&) = delete;

 private:
  int previous_;  // the first entry of this thread's nthreads ICV, the one omp_set_num_threads sets
};

}  // namespace ist::eigen
