// GIST and the data split under MPI (S = the number of ranks) against the same runs in process: the GCN on
// Cora (../shared/data/planetoid) ends with the in-process weights bit for bit, and every rank reports the
// same final evaluation; DataSplit::Disjoint with shards of different batch counts stays in step; Cluster-GCN
// GraphSAGE whose workers read their batches from a mapped graph file and its cached partition (each rank its own
// view of both; only the coordinator holds the whole graph, to evaluate) ends with the in-process weights.
#include <doctest/doctest.h>

#include <cstring>
#include <optional>
#include <sstream>
#include <unistd.h>
#include <filesystem>
#include <string>
#include <vector>

#include "ist/backend/cpu_backend.hpp"
#include "ist/comm/mpi_comm.hpp"
#include "ist/data/csr_graph.hpp"
#include "ist/data/csr_graph_dataset.hpp"
#include "ist/data/graph_partition.hpp"
#include "ist/data/graph_source.hpp"
#include "ist/data/planetoid.hpp"
#include "ist/data/synthetic_graph.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/train/graph_trainer.hpp"
#include "ist/train/trainer.hpp"
#include "../cora.hpp"
#include "mpi_test.hpp"

namespace test_mpi_gist {

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

TEST_CASE("mpi gist: Cluster-GCN GraphSAGE read from a mapped file, the whole graph on the coordinator only") {
  MPI_RANK_INFO();
  const bool root = world_rank() == 0;
  // Rank 0 writes a generated graph to a folder named after its pid, then computes and caches the partition;
  // the other ranks map the same file and read the cache.
  long pid = root ? long(::getpid()) : 0;
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("ist_mpi_cluster_" + std::to_string(pid));
  const std::string path = (dir / "g.istg").string();
  const std::string cache = partition_cache_path(path, 16);
  if (root) {
    std::filesystem::create_directories(dir);
    SyntheticGraphConfig gc;
    gc.num_nodes = 2000;
    gc.num_edges = 10000;
    gc.num_features = 16;
    gc.num_classes = 4;
    gc.feature_signal = 0.3;
    gc.homophily = 0.8;
    gc.seed = 2;
    generate_synthetic_graph(path, gc);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const CsrGraph csr = open_csr_graph(path);
  GraphPartition parts;
  if (root) parts = partition_graph(csr, 16, {.cache_path = cache});
  MPI_Barrier(MPI_COMM_WORLD);
  std::ostringstream log;
  if (!root) parts = partition_graph(csr, 16, {.cache_path = cache, .log = &log});
  CHECK(log.str().empty());  // read, not rebuilt
  const CsrGraphDatasetOptions features{.normalize_features = false, .gcn_adjacency = false};
  std::optional<GraphDataset> whole;
  if (root) whole = to_graph_dataset(csr, features);
  using Net = Sage<Input<16>, SageConv<32>, SageConv<32>, SageConv<4>>;
  TrainerConfig cfg;
  cfg.local_steps = 3;
  cfg.epochs = 3;
  cfg.eval_every = 2;
  cfg.progress = false;
  cfg.seed = 5;
  cfg.graph.clusters_per_batch = 4;
  cfg.graph.dropout = 0.1;
  cfg.graph.norm = GraphNorm::PerNode;
  cfg.graph.decay_first_layer_only = false;
  const int S = world_size();
  GraphSubnetTrainer<Net, WidthwiseRandom, HolderAverage, CpuBackend<MpiComm>> mpi(
      WidthwiseRandom{}, HolderAverage{}, CpuBackend<MpiComm>(MpiComm()), cfg, optim::AdamConfig{.lr = 0.01});
  const FitResult a = mpi.fit(GraphSource(csr, parts, features, whole ? &*whole : nullptr));
  REQUIRE(a.rounds.size() >= 2);
  CHECK(same_on_every_rank(a.final_eval.accuracy));
  CHECK(same_on_every_rank(a.final_eval.loss));
  if (root) {
    // The in-process run on the GraphDataset (its own partition: the same parts) gives the same bits.
    GraphDataset g = *whole;
    g.partition = partition_graph(g, 16);
    CHECK(g.partition.part_of == parts.part_of);
    GraphSubnetTrainer<Net, WidthwiseRandom> ref(WidthwiseRandom{}, HolderAverage{},
                                                 CpuBackend<>(InProcessComm(S, /*concurrent=*/false)), cfg,
                                                 optim::AdamConfig{.lr = 0.01});
    const FitResult b = ref.fit(g);
    REQUIRE(b.rounds.size() == a.rounds.size());
    CHECK(std::memcmp(mpi.params().data(), ref.params().data(), ref.params().size_bytes()) == 0);
    CHECK(a.final_eval.accuracy == b.final_eval.accuracy);
    for (std::size_t r = 0; r < a.rounds.size(); ++r) CHECK(a.rounds[r].train_loss == b.rounds[r].train_loss);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (root) std::filesystem::remove_all(dir);
}

}  // namespace test_mpi_gist
