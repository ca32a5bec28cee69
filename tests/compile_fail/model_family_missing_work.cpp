// Must NOT compile, although fit() is never called (the trainer checks its policies when constructed): the
// model family below has no local work (ModelTraits<Model>::Work). The compiler's message must name it:
//   ist::ModelFamily: ModelTraits<Model> is missing `using Work`
#include <cstdint>
#include <span>
#include <string>

#include "ist/decompose/replicate.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/model_traits.hpp"
#include "ist/train/trainer.hpp"

struct MyModel {};

namespace ist {
template <>
struct ModelTraits<MyModel> {
  using Base = ModelTraits<PreActResNet20<1>>;
  template <class Compute>
  using Network = Base::Network<Compute>;
  static constexpr std::size_t num_params = Base::num_params;
  static ModelInfo info() { return Base::info(); }
  static void init(std::span<float> p, std::uint64_t seed) { Base::init(p, seed); }
  static SliceSet slices(const SubnetSpec& s) { return Base::slices(s); }
  static ParamLayout layout(const SubnetSpec& s) { return Base::layout(s); }
};
}  // namespace ist

int main() {
  ist::IndependentSubnetTrainer<MyModel, ist::Replicate> t(ist::Replicate{}, ist::HolderAverage{},
                                                           ist::CpuBackend<>(ist::InProcessComm(2)), {});
  (void)t;  // constructing the trainer is enough: fit() is never called
}
