// Must NOT compile, although fit() is never called (the trainer checks its policies when constructed): the
// decomposer below has a plan() member, but not a const one. The compiler's message must say so:
//   ist::Decomposer: member `plan` is not const
#include "ist/decompose/decomposer.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/trainer.hpp"

struct NonConstPlan {
  ist::Plan plan(const ist::ModelInfo& info, const ist::RoundContext& ctx) {  // missing const
    ist::Plan p;
    p.round = ctx.round;
    p.workers.assign(std::size_t(ctx.workers), ist::full_spec(info));
    return p;
  }
  ist::PlanRules rules() const { return {}; }
  std::string_view name() const { return "non-const-plan"; }
};

int main() {
  ist::IndependentSubnetTrainer<ist::PreActResNet20<1>, NonConstPlan> t(NonConstPlan{}, ist::HolderAverage{},
                                                                        ist::CpuBackend<>(ist::InProcessComm(2)), {});
  (void)t;  // constructing the trainer is enough: fit() is never called
}
