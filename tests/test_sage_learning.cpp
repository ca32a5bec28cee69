// GraphSAGE learning the real Cora graph (../shared/data/planetoid/cora), full batch: GIST with S = 2
// sub-networks of a 256-wide GraphSAGE. Seconds; skipped when the data is missing.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "ist/data/planetoid.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/graph_trainer.hpp"
#include "skip.hpp"

namespace test_sage_learning {

using namespace ist;

TEST_CASE("sage: GIST with S = 2 sub-networks of a 256-wide GraphSAGE learns Cora") {
  const std::string root = std::string(IST_SHARED_DIR) + "/data/planetoid";
  if (!std::filesystem::exists(root + "/cora/meta.json"))
    IST_SKIP_TEST("the Planetoid data is missing: expected " + root + "/cora");
  const GraphDataset g = load_planetoid(root, "cora");
  // M's rows average: each node with neighbours has a row summing to 1.
  for (int i = 0; i < g.num_nodes; ++i) {
    double sum = 0;
    for (GraphMatrix::InnerIterator it(g.mean_aggregation, i); it; ++it) sum += it.value();
    REQUIRE((sum == 0 || std::abs(sum - 1) < 1e-5));
  }
  TrainerConfig cfg;
  cfg.epochs = 200;
  cfg.local_steps = 10;  // 20 rounds of 10 full-batch Adam steps, Adam restarted every round
  cfg.eval_every = 0;
  cfg.progress = false;
  cfg.seed = 1;
  cfg.graph.decay_first_layer_only = false;  // GraphSAGE: Adam's weight decay on every parameter
  using Net = Sage<Input<1433>, SageConv<256>, SageConv<7>>;
  GraphSubnetTrainer<Net, WidthwiseRandom> t(WidthwiseRandom{}, HolderAverage{}, CpuBackend<>(InProcessComm(2)), cfg,
                                             gist_adam());
  const FitResult r = t.fit(g);
  MESSAGE("GIST GraphSAGE S=2, hidden 256, 20 rounds of L=10: test accuracy " << r.final_eval.accuracy << ", val "
          << r.final_val.accuracy << ", moved " << r.total_bytes / 1e6 << " MB vs local SGD "
          << r.local_sgd_bytes / 1e6 << " MB, " << r.wall_seconds << " s");
  CHECK(r.rounds.size() == 20);
  CHECK(r.total_bytes < r.local_sgd_bytes);
  CHECK(r.final_eval.accuracy >= 0.78);
}

}  // namespace test_sage_learning
