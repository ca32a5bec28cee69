// Must NOT compile: the decomposer below has no plan() member. The compiler's message must name it:
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
  ist::ImageDataset d;
  t.fit(d, d);
}
