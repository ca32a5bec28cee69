// Must NOT compile, although fit() is never called (the trainer checks its policies when constructed): the
// backend's compute policy below has no copy() member. The compiler's message must name it:
//   ist::ComputePolicy: missing member `static void copy(Context&, std::span<const float>, std::span<float>)`
#include <span>
#include <vector>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/comm/in_process_comm.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/trainer.hpp"

struct NoCopy {
  using Context = ist::eigen::CpuContext;
  template <class T>
  using Buffer = std::vector<T>;
  static void upload(Context&, std::span<const float>, std::span<float>) {}
};

struct NoCopyBackend {
  using Compute = NoCopy;
  ist::InProcessComm& comm() { return comm_; }
  ist::eigen::CpuContext make_context() const { return ist::eigen::CpuContext(1); }
  int threads_per_worker() const { return 1; }
  ist::InProcessComm comm_{2};
};

int main() {
  ist::IndependentSubnetTrainer<ist::PreActResNet20<1>, ist::Replicate, ist::HolderAverage, NoCopyBackend> t(
      ist::Replicate{}, ist::HolderAverage{}, NoCopyBackend{}, {});
  (void)t;  // constructing the trainer is enough: fit() is never called
}
