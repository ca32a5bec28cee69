// Must NOT compile, although fit() is never called (the trainer checks its policies when constructed): the
// aggregator below has no merge() member. The compiler's message must name it:
//   ist::Aggregator: missing member `void merge(std::span<float> global, const MergeInput&)`
#include "ist/decompose/layerwise_random.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/trainer.hpp"

struct NoMerge {
  std::string_view name() const { return "no-merge"; }
};

int main() {
  ist::IndependentSubnetTrainer<ist::PreActResNet20<1>, ist::LayerwiseRandom, NoMerge> t(
      ist::LayerwiseRandom{}, NoMerge{}, ist::CpuBackend<>(ist::InProcessComm(2)), {});
  (void)t;  // constructing the trainer is enough: fit() is never called
}
