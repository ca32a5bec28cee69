// GIST and the data split under MPI (S = the number of ranks) against the same runs in process: the GCN on
// Cora (../shared/data/planetoid) ends with the in-process weights bit for bit, and every rank reports the
// same final evaluation; DataSplit::Disjoint with shards of different batch counts stays in step.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "ist/backend/cpu_backend.hpp"
#include "ist/comm/mpi_comm.hpp"
#include "ist/data/planetoid.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/graph_trainer.hpp"
#include "ist/train/trainer.hpp"
#include "../cora.hpp"
#include "mpi_test.hpp"

using namespace ist;
using ist::mpi_test::synthetic;
using ist::mpi_test::TinyNet;
using ist::mpi_test::world_rank;
using ist::mpi_test::world_size;

namespace {

// The same value on every rank? (A summary that differs between ranks would print different figures.)
bool same_on_every_rank(double v) {
  double lo = v, hi = v;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return lo == hi;
}

}  // namespace

TEST_CASE("mpi gist: GIST on Cora gives the in-process weights, and every rank reports the same final accuracy") {
  MPI_RANK_INFO();
  const GraphDataset& g = test_data::cora();
  using Net = Gcn<Input<1433>, GraphConv<64>, GraphConv<7>>;
  TrainerConfig cfg;
  cfg.local_steps = 5;
  cfg.epochs = 30;
  cfg.eval_every = 2;
  cfg.progress = false;
  cfg.seed = 3;
  cfg.optimizer_state = OptimizerState::Carry;  // Adam's moments travel with the slices too
  const int S = world_size();
  GraphSubnetTrainer<Net, WidthwiseRandom, HolderAverage, CpuBackend<MpiComm>> mpi(
      WidthwiseRandom{}, HolderAverage{}, CpuBackend<MpiComm>(MpiComm()), cfg, gist_adam());
  GraphSubnetTrainer<Net, WidthwiseRandom> ref(WidthwiseRandom{}, HolderAverage{},
                                               CpuBackend<>(InProcessComm(S, /*concurrent=*/false)), cfg, gist_adam());
  const FitResult a = mpi.fit(g);
  const FitResult b = ref.fit(g);
  REQUIRE(a.rounds.size() == 6);
  if (mpi.backend().comm().is_coordinator()) {
    CHECK(std::memcmp(mpi.params().data(), ref.params().data(), ref.params().size_bytes()) == 0);
    for (std::size_t k = 0; k < ref.num_state_buffers(); ++k)
      CHECK(std::memcmp(mpi.state_buffer(k).data(), ref.state_buffer(k).data(), ref.state_buffer(k).size_bytes()) == 0);
    CHECK(a.total_bytes == b.total_bytes);
  }
  CHECK(a.final_eval.accuracy == b.final_eval.accuracy);
  CHECK(a.final_val.accuracy == b.final_val.accuracy);
  CHECK(same_on_every_rank(a.final_eval.accuracy));
  CHECK(same_on_every_rank(a.final_eval.loss));
  CHECK(same_on_every_rank(a.final_val.accuracy));
  for (std::size_t r = 0; r < a.rounds.size(); ++r) CHECK(a.rounds[r].train_loss == b.rounds[r].train_loss);
}

TEST_CASE("mpi gist: DataSplit::Disjoint with shards of different batch counts matches the in-process run") {
  MPI_RANK_INFO();
  const int S = world_size();
  // 5S + 1 images in batches of 3: shard 0 holds 6 images (2 batches), every other shard 5 (1 batch). Before
  // the fix each rank counted an epoch by its own shard, so ranks disagreed on the learning rate.
  const auto data = synthetic(5 * S + 1, 1, 8, 3, 21);
  TrainerConfig cfg;
  cfg.local_steps = 2;
  cfg.batch = 3;
  cfg.max_rounds = 0;
  cfg.epochs = 4;
  cfg.schedule = "step:0.5";
  cfg.sgd = {0.05, 0.9, 5e-4, false};
  cfg.eval_batch = 16;
  cfg.progress = false;
  cfg.data_split = DataSplit::Disjoint;
  IndependentSubnetTrainer<TinyNet, Replicate, HolderAverage, CpuBackend<MpiComm>> mpi(
      Replicate{}, HolderAverage{}, CpuBackend<MpiComm>(MpiComm()), cfg);
  IndependentSubnetTrainer<TinyNet, Replicate> ref(Replicate{}, HolderAverage{},
                                                   CpuBackend<>(InProcessComm(S, /*concurrent=*/false)), cfg);
  const FitResult a = mpi.fit(data, data);
  const FitResult b = ref.fit(data, data);
  CHECK(mpi.steps_per_epoch() == ref.steps_per_epoch());
  REQUIRE(a.rounds.size() == b.rounds.size());
  for (std::size_t r = 0; r < a.rounds.size(); ++r) {
    CAPTURE(r);
    CHECK(a.rounds[r].lr == b.rounds[r].lr);
    CHECK(a.rounds[r].train_loss == b.rounds[r].train_loss);
  }
  if (mpi.backend().comm().is_coordinator())
    CHECK(std::memcmp(mpi.params().data(), ref.params().data(), ref.params().size_bytes()) == 0);
  CHECK(same_on_every_rank(a.final_eval.accuracy));
}
