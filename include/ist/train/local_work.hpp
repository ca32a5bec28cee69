#pragma once
// The LocalWork concept: what differs between model families in a round of the engine
// (IndependentSubnetTrainer): how a worker spends its L local steps, and how the global model is scored.
// Each model family names its policy as ModelTraits<Model>::Work.
//
// Required members of a policy W:
//   using Data = ...;            the training data fit() takes (ImageDataset, GraphSource)
//   using EvalData = ...;        what fit() evaluates on (a test set, or the same graph)
//   static constexpr bool evaluates_on_training_data;  fit(data) alone is allowed (graphs: the test nodes
//                                are part of the graph)
//   struct Worker;               one worker's data state (its batch stream, a pointer to the graph), default
//                                constructible
//   static void check(const ModelInfo&, const Data&)              throws naming the mismatch
//   static int steps_per_epoch(const Data&, const TrainerConfig&, int workers)
//       local steps per epoch, the same on every process: schedules and round counts derive from it
//   static void prepare(Worker&, const Data&, const TrainerConfig&, int worker, int workers)
//   static void seek(Worker&, std::uint64_t step)   position the worker's data after `step` local steps
//   static bool applies_weight_decay(const TrainerConfig&)
//       true: the policy adds LocalRun::weight_decay as L2 itself (to part of the model) and the engine runs
//       the optimizer without decay
//   template <class Traits> static StepStats run(Context&, Net&, Opt&, std::span<float> params,
//       std::span<float> grads, const ParamLayout&, const SubnetSpec&, Worker&, const LocalRun&, LrOf lr_of)
//       the L local steps: forward, loss, backward, opt.step(params, grads, lr_of(i)); call lr_of(i) once for
//       each step i = 0..L-1, in order (the engine's step-progress count comes from these calls)
//   template <class Traits> static Evaluation evaluate(Context&, Net&, std::span<const float> params,
//       const SubnetSpec& all, const ParamLayout&, const EvalData&, const TrainerConfig&,
//       std::span<const double> scale)
//       the global model at full width (`all`) on the backend that trained it (params in the compute
//       policy's memory); scale: the decomposer's evaluation scale, one value per block
// Shipped: ImageBatches (ist/train/image_batches.hpp), GraphBatches (ist/train/graph_batches.hpp).
#include <cstdint>

#include "ist/model/model_info.hpp"
#include "ist/train/evaluate.hpp"
#include "ist/train/trainer_config.hpp"

namespace ist {

// What the engine tells a worker's local work about this round.
struct LocalRun {
  const TrainerConfig* config = nullptr;
  std::uint64_t round = 0;
  int worker = 0;                // the worker's id (not its plan slot)
  int steps = 0;                 // L
  double weight_decay = 0;       // L2 the policy applies itself (applies_weight_decay), else unused
};

// A family's evaluation of the global model. `test` is always measured; `val` and `train` where the family
// has them (samples == 0 otherwise).
struct Evaluation {
  EvalResult test, val, train;
};

template <class W>
concept LocalWork = requires(const ModelInfo& info, const typename W::Data& data, const TrainerConfig& cfg,
                             typename W::Worker& wk) {
  typename W::EvalData;
  { W::evaluates_on_training_data } -> std::convertible_to<bool>;
  W::check(info, data);
  { W::steps_per_epoch(data, cfg, 1) } -> std::same_as<int>;
  W::prepare(wk, data, cfg, 0, 1);
  W::seek(wk, std::uint64_t(0));
  { W::applies_weight_decay(cfg) } -> std::same_as<bool>;
};

namespace archetypes {
// The smallest LocalWork: data that is one number, nothing to step through.
struct LocalWorkArchetype {
  struct Data {};
  using EvalData = Data;
  static constexpr bool evaluates_on_training_data = true;
  struct Worker {};
  static void check(const ModelInfo&, const Data&) {}
  static int steps_per_epoch(const Data&, const TrainerConfig&, int) { return 1; }
  static void prepare(Worker&, const Data&, const TrainerConfig&, int, int) {}
  static void seek(Worker&, std::uint64_t) {}
  static bool applies_weight_decay(const TrainerConfig&) { return false; }
};
static_assert(LocalWork<LocalWorkArchetype>);
}  // namespace archetypes

}  // namespace ist
