#pragma once
// GIST on a whole graph: ist::Gcn and ist::Sage models train with the one round engine,
// IndependentSubnetTrainer, whose local work for them is GraphBatches (ist/train/graph_batches.hpp). This header
// gathers what that needs.
//
//   using Net = ist::Gcn<ist::Input<1433>, ist::GraphConv<256>, ist::GraphConv<7>>;
//   ist::TrainerConfig cfg;
//   cfg.local_steps = 10;
//   cfg.epochs = 200;                                  // full-batch steps of each worker
//   ist::GraphSubnetTrainer<Net, ist::WidthwiseRandom> trainer(
//       ist::WidthwiseRandom{}, ist::HolderAverage{}, ist::CpuBackend<>(ist::InProcessComm(2)), cfg,
//       ist::optim::AdamConfig{.lr = 0.01, .weight_decay = 5e-4});
//   ist::FitResult r = trainer.fit(cora);              // r.final_eval (test), r.final_val, r.final_train
#include "ist/aggregate/holder_average.hpp"
#include "ist/backend/cpu_backend.hpp"
#include "ist/data/graph.hpp"
#include "ist/optim/adam.hpp"
#include "ist/train/graph_batches.hpp"
#include "ist/train/gcn_traits.hpp"
#include "ist/train/sage_traits.hpp"
#include "ist/train/trainer.hpp"

namespace ist {

// The engine under the name GIST's users know; the same class as IndependentSubnetTrainer.
template <class Model, class D, class A = HolderAverage, class B = CpuBackend<>>
using GraphSubnetTrainer = IndependentSubnetTrainer<Model, D, A, B>;

// GIST's (and Kipf & Welling's) optimizer: Adam, lr 0.01, weight decay 5e-4 (on the first layer only with
// TrainerConfig::graph.decay_first_layer_only, the default).
inline optim::AdamConfig gist_adam() { return optim::AdamConfig{0.01, 0.9, 0.999, 1e-8, 5e-4}; }

}  // namespace ist
