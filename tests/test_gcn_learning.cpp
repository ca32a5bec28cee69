// Learning on the real Cora graph (../shared/data/planetoid/cora), full batch: Kipf & Welling's GCN on one
// worker, and GIST with S = 2 sub-GCNs of a wide GCN. Each takes seconds.
#include <doctest/doctest.h>


#include "cora.hpp"
#include "ist/data/planetoid.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/graph_trainer.hpp"

namespace test_gcn_learning {

using namespace ist;

namespace {
using test_data::cora;

// Kipf & Welling's setup: 200 epochs, dropout 0.5, Adam lr 0.01 with weight decay 5e-4 on the first layer
// (gist_adam(), TrainerConfig::graph's defaults).
TrainerConfig kipf_config() {
  TrainerConfig c;
  c.epochs = 200;
  c.eval_every = 0;
  c.progress = false;
  c.seed = 1;
  return c;
}
}  // namespace

TEST_CASE("gcn: Kipf & Welling's 2-layer GCN (hidden 16) on one worker reaches >= 79% on Cora") {
  const GraphDataset g = cora();
  auto cfg = kipf_config();
  cfg.local_steps = 1;                          // one Adam step per round
  cfg.optimizer_state = OptimizerState::Carry;  // and Adam's state kept: plain Adam
  using Net = Gcn<Input<1433>, GraphConv<16>, GraphConv<7>>;
  GraphSubnetTrainer<Net, Replicate> t(Replicate{}, HolderAverage{}, CpuBackend<>(InProcessComm(1)), cfg,
                                       gist_adam());
  const FitResult r = t.fit(g);
  MESSAGE("GCN hidden 16, 200 epochs of Adam: test accuracy " << r.final_eval.accuracy << ", val "
          << r.final_val.accuracy << " (Kipf & Welling: 81.5%), " << r.wall_seconds << " s");
  CHECK(r.rounds.size() == 200);
  CHECK(r.final_eval.samples == 1000);
  CHECK(r.final_train.accuracy > 0.95);
  CHECK(r.final_eval.accuracy >= 0.79);
}

TEST_CASE("gcn: GIST with S = 2 sub-GCNs of a 256-wide GCN reaches >= 78% on Cora, moving 1/S of local SGD's bytes") {
  const GraphDataset g = cora();
  auto cfg = kipf_config();
  cfg.local_steps = 10;  // 20 rounds of 10 full-batch Adam steps, Adam restarted every round
  using Net = Gcn<Input<1433>, GraphConv<256>, GraphConv<7>>;
  GraphSubnetTrainer<Net, WidthwiseRandom> t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg,
                                             gist_adam());
  const FitResult r = t.fit(g);
  MESSAGE("GIST S=2, hidden 256, 20 rounds of L=10: test accuracy " << r.final_eval.accuracy << ", val "
          << r.final_val.accuracy << ", moved " << r.total_bytes / 1e6 << " MB vs local SGD "
          << r.local_sgd_bytes / 1e6 << " MB, " << r.wall_seconds << " s");
  CHECK(r.rounds.size() == 20);
  // This GCN has no shared tensor (no bias): each hidden unit's row of W_1 and column of W_2 go to one
  // worker, so GIST moves exactly 1/S of local SGD's bytes.
  CHECK(r.total_bytes * 2 == r.local_sgd_bytes);
  CHECK(r.final_eval.accuracy >= 0.78);
}

}  // namespace test_gcn_learning
