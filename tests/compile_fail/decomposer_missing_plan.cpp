// Must NOT compile, although fit() is never called (the trainer checks its policies when constructed): the
// decomposer below has no plan() member. The compiler's message must name it:
//   ist::Decomposer: missing member `Plan plan(const ModelInfo&, const RoundContext&) const`
#include "ist/decompose/decomposer.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/trainer.hpp"

struct NoPlan {
  ist::PlanRules rules() const { return {}; }
  std::string_view name() const { return "no-plan"; }
};

int main() {
  ist::IndependentSubnetTrainer<ist::PreActResNet20<1>, NoPlan> t(NoPlan{}, ist::HolderAverage{},
                                                                  ist::CpuBackend<>(ist::InProcessComm(2)), {});
  (void)t;  // constructing the trainer is enough: fit() is never called
}
