// gist-gcn: GIST (width-wise independent subnetwork training) of a graph convolutional network (GCN or
// GraphSAGE) on the Planetoid citation graphs or an ISTGRAPH file, full batch or in Cluster-GCN batches of
// METIS parts, with the same engine (and the same checkpoints, failure handling,
// MPI, optimizers and metrics) as ist-train.
//
//   gist-gcn                                          # GIST, S = 2 sub-GCNs, Cora, hidden 256, L = 10
//   gist-gcn --protocol single --width 16 --seeds 5   # Kipf & Welling's GCN, mean +- std over 5 seeds
//   gist-gcn --dataset pubmed -S 4 --norm node        # GIST with the non-affine layer norm
//   gist-gcn --protocol local -S 4 -L 10              # local Adam (every worker trains the whole GCN)
//   gist-gcn --model sage --layers 3 --hidden 256     # GIST of a 3-layer GraphSAGE (mean aggregator)
//   gist-gcn --model sage --graph arxiv-like.istg --partitions 200 --clusters-per-batch 10 --layers 3
//                                                     # Cluster-GCN batches of an ist-graphgen graph
//   gist-gcn --optimizer novograd --lr 0.01           # another optimizer
//   gist-gcn -S 4 --checkpoint-dir ckpt --resume      # continue a killed run, bit for bit
//   mpirun -np 4 gist-gcn                             # one sub-GCN per MPI rank (S = ranks)
//   gist-gcn --backend cuda -S 2                      # the sub-GCNs as CUDA streams on one GPU (cuBLAS, cuSPARSE)
//
// Prints one line per round (loss, accuracy, bytes moved, step time), writes one JSON row per round to
// --metrics, and ends with a summary: final test accuracy, bytes moved versus local SGD, wall time.
#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "gist_gcn_run.hpp"

namespace gist_gcn {

namespace {

template <int F, int C>
int gcn_with_width(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi) {
  auto pick = [&]<int H>() {
    if (o.layers == 2) return run<ist::Gcn<ist::Input<F>, ist::GraphConv<H>, ist::GraphConv<C>>>(o, g, mpi);
    return run<ist::Gcn<ist::Input<F>, ist::GraphConv<H>, ist::GraphConv<H>, ist::GraphConv<C>>>(o, g, mpi);
  };
  switch (o.width) {
    case 16: return pick.template operator()<16>();
    case 32: return pick.template operator()<32>();
    case 64: return pick.template operator()<64>();
    case 128: return pick.template operator()<128>();
    case 256: return pick.template operator()<256>();
    case 512: return pick.template operator()<512>();
    case 1024: return pick.template operator()<1024>();
  }
  ist::fail("--width: expected one of 16, 32, 64, 128, 256, 512, 1024, found ", o.width);
}

}  // namespace

// The GCNs: 2 or 3 layers, every width of kWidths, for the Planetoid graphs' shapes.
int run_gcn(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi) {
  IST_CHECK(o.layers == 2 || o.layers == 3, "--layers: --model gcn has 2 or 3 layers, found ", o.layers);
  switch (graph_shape(g)) {
    case Shape::Cora: return gcn_with_width<1433, 7>(o, g, mpi);
    case Shape::Citeseer: return gcn_with_width<3703, 6>(o, g, mpi);
    case Shape::Pubmed: return gcn_with_width<500, 3>(o, g, mpi);
    default: break;
  }
  ist::fail("--model gcn: ", g.source(), ": no GCN is compiled for ", g.num_features(), " features and ", g.num_classes(),
            " classes (the Planetoid shapes only); use --model sage");
}

}  // namespace gist_gcn

int main(int argc, char** argv) {
  using namespace gist_gcn;
  Options o;
  auto& t = o.trainer;
  t.local_steps = 10;
  t.epochs = 200;
  t.eval_every = 1;
  o.optimizer.name = "adam";  // GIST's (and Kipf & Welling's) optimizer: Adam, lr 0.01, weight decay 5e-4
  o.optimizer.lr = 0.01;
  o.optimizer.weight_decay = 5e-4;
  CLI::App app{"gist-gcn: train a GCN or a GraphSAGE on Cora, Citeseer or Pubmed with GIST (width-wise independent "
               "subnetwork training), local Adam, or a single worker"};
  app.add_option("--model", o.model,
                 "gcn (Kipf & Welling's GCN) | sage (GraphSAGE, mean aggregator, [h ‖ mean of neighbours] with a bias)")
      ->capture_default_str()->check(CLI::IsMember({"gcn", "sage"}));
  app.add_option("--protocol", o.protocol, "gist | local | single")->capture_default_str()
      ->check(CLI::IsMember({"gist", "local", "single"}));
  app.add_option("--dataset", o.dataset, "cora | citeseer | pubmed")->capture_default_str()
      ->check(CLI::IsMember({"cora", "citeseer", "pubmed"}));
  app.add_option("--data", o.data, "folder holding the Planetoid data set folders")->capture_default_str();
  app.add_option("--graph", o.graph,
                 "an ISTGRAPH file (ist-graphgen, or a converted Planetoid graph) instead of --dataset")
      ->check(CLI::ExistingFile);
  app.add_flag("--row-normalize-features", o.row_normalize,
               "divide each feature row of --graph by its sum, as load_planetoid does (for converted Planetoid graphs, "
               "whose files hold the raw counts; not for ist-graphgen's signed features)");
  app.add_option("--partitions", o.partitions,
                 "METIS parts of the graph for Cluster-GCN batches (0: full-batch training); cached next to --graph")
      ->capture_default_str();
  app.add_option("--clusters-per-batch", t.graph.clusters_per_batch,
                 "parts per Cluster-GCN batch (needs --partitions; 0: full batch)")
      ->capture_default_str();
  app.add_option("--diag-lambda", t.graph.diag_lambda,
                 "Cluster-GCN's diagonal enhancement of a GCN's batch adjacency (< 0: the batch's A_hat)")
      ->capture_default_str();
  app.add_option("--partition-cache", o.partition_cache,
                 "the partition's cache file (default: next to --graph; none for a Planetoid --dataset)");
  ist::examples::add_layout_flags(app, t, o.workers, o.threads, o.sequential, "number of workers S (sub-GCNs)",
                                  "full-batch optimizer steps per worker per round",
                                  "full-batch steps of each worker in all");
  app.add_option("--width,--hidden", o.width,
                 "hidden units per hidden layer: 16, 32, 64, 128, 256, 512 or 1024 (sage with 4 or 5 layers: 128 "
                 "or 256)")
      ->capture_default_str();
  app.add_option("--layers", o.layers, "graph layers, the classifier included: gcn 2 or 3, sage 2 to 5")
      ->capture_default_str()->check(CLI::IsMember({2, 3, 4, 5}));
  ist::examples::add_optimizer_flags(app, o.optimizer);
  app.add_flag("!--decay-all-layers", t.graph.decay_first_layer_only,
               "apply the weight decay to every layer, by the optimizer (default: L2 on the first layer only, as "
               "Kipf & Welling; --model sage always decays every layer)");
  app.add_option("--dropout", t.graph.dropout, "drop probability of every layer's input")->capture_default_str();
  app.add_option("--norm", o.norm, "non-affine layer norm after hidden layers: none | node | whole (GIST's code)")
      ->capture_default_str()->check(CLI::IsMember({"none", "node", "whole"}));
  ist::examples::add_run_flags(app, o.run, t);
  app.add_option("--seeds", o.seeds, "repeat with seeds seed, seed+1, ... and report mean +- std")
      ->capture_default_str();
  app.add_flag("--mpi", o.mpi, "workers are MPI ranks, S = the number of ranks (automatic under mpirun)");
  app.add_option("--backend", o.backend,
                 "cpu (Eigen) | cuda (cuBLAS and cuSPARSE; the S workers run as streams on one GPU; the models of "
                 "docs/graphs.md's GPU list)")
      ->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--gpu", o.gpu, "--backend cuda: the CUDA device")->capture_default_str();
  app.add_flag("--tf32", o.tf32,
               "--backend cuda: allow TF32 tensor cores in the dense products (~1e-3 relative error)");
  CLI11_PARSE(app, argc, argv);
  o.workers_given = app.count("--workers") > 0;

  const bool use_mpi = o.mpi || ist::examples::launched_by_mpirun();
  ist::examples::MpiSession mpi(argc, argv, use_mpi);
  try {
    mpi.require_built_with_mpi("gist-gcn", o.mpi);
#if !IST_WITH_CUDA
    IST_CHECK(o.backend != "cuda", "--backend cuda: this gist-gcn was built without the CUDA backend; reconfigure "
              "where nvcc, cuBLAS and cuDNN are found (-DIST_ENABLE_CUDA=ON), or use --backend cpu");
#endif
    IST_CHECK(o.backend != "cuda" || !use_mpi, "--backend cuda under mpirun: gist-gcn runs its GPU workers as streams "
              "of one process; run it without mpirun (-S sets the number of workers)");
    if (use_mpi) {
      IST_CHECK(!o.workers_given || o.workers == mpi.ranks(), "-S/--workers: under MPI, S is the number of ranks (",
                mpi.ranks(), "), found -S ", o.workers);
      IST_CHECK(o.protocol != "single" || mpi.ranks() == 1, "--protocol single: expected 1 MPI rank, found ",
                mpi.ranks());
      o.workers = mpi.ranks();
    }
    IST_CHECK(o.seeds >= 1, "--seeds: expected >= 1, found ", o.seeds);
    IST_CHECK(o.seeds == 1 || (o.run.resume_from.empty() && !o.run.resume && t.checkpoint_dir.empty()),
              "--seeds: several seeds cannot share --checkpoint-dir or --resume; run one seed per directory");
    bool known = false;
    for (int w : kWidths) known |= w == o.width;
    for (int w : kLargeGraphWidths) known |= !o.graph.empty() && w == o.width;
    IST_CHECK(known, "--width: expected one of 16, 32, 64, 128, 256, 512, 1024", o.graph.empty() ? "" : " (or 8192 on --graph)",
              ", found ", o.width);
    if (o.model == "sage") t.graph.decay_first_layer_only = false;  // GraphSAGE: Adam's decay on every tensor
    if (o.protocol == "single") {
      t.local_steps = 1;
      o.run.optimizer_state = "carry";
    }
    ist::examples::apply(o.run, t);
    t.graph.norm = o.norm == "node" ? ist::GraphNorm::PerNode : o.norm == "whole" ? ist::GraphNorm::Whole : ist::GraphNorm::None;
    ist::validate(t);  // a bad config stops here, before any data is read
    (void)ist::examples::make_optimizer<ist::eigen::CpuContext>(o.optimizer);  // and a bad optimizer config

    IST_CHECK((o.partitions > 0) == (t.graph.clusters_per_batch > 0),
              "--partitions and --clusters-per-batch go together (Cluster-GCN batches), found --partitions ",
              o.partitions, " and --clusters-per-batch ", t.graph.clusters_per_batch);
    IST_CHECK(!(app.count("--graph") && app.count("--dataset")), "--graph and --dataset: give one graph, not both");
    // The graph. A Planetoid data set: a GraphDataset on every rank. An ISTGRAPH file: mapped on every rank
    // (the ranks of one machine share its pages); with Cluster-GCN batches the workers read their batches from
    // the file and its partition, and only the coordinator (rank 0), which evaluates on the whole graph, builds
    // the GraphDataset; full-batch steps need it on every rank. A GraphSAGE's dataset leaves out A_hat.
    const ist::CsrGraphDatasetOptions features{.normalize_features = o.row_normalize, .gcn_adjacency = o.model == "gcn"};
    std::optional<ist::CsrGraph> csr;
    std::optional<ist::GraphDataset> dataset;
    ist::GraphPartition partition;  // the file's; a Planetoid dataset keeps its own in GraphDataset::partition
    if (o.graph.empty()) dataset = ist::load_planetoid(o.data, o.dataset);
    else csr = ist::open_csr_graph(o.graph);
    if (o.partitions > 0) {
      const std::string cache = !o.partition_cache.empty() ? o.partition_cache
                                : o.graph.empty()          ? std::string()
                                                           : ist::partition_cache_path(o.graph, o.partitions);
      auto part = [&](const ist::PartitionOptions& opt) {
        return csr ? ist::partition_graph(*csr, o.partitions, opt) : ist::partition_graph(*dataset, o.partitions, opt);
      };
      // Rank 0 computes and caches the partition first; the other ranks then read the cache (or, without a
      // cache, compute the same parts: METIS is deterministic for a seed).
      if (mpi.rank() == 0) {
        const auto start = std::chrono::steady_clock::now();
        std::ostringstream log;
        partition = part({.cache_path = cache, .log = &log});
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::error_code ec;
        const auto bytes = cache.empty() ? 0 : std::filesystem::file_size(cache, ec);
        std::printf("partition: %d METIS parts in %.2f s (%s)%s%s%s\n", o.partitions, s,
                    cache.empty() ? "no cache" : log.str().find("wrote") != std::string::npos ? "computed, cache written"
                                                                                            : "read from the cache",
                    cache.empty() ? "" : ", cache ", cache.c_str(),
                    cache.empty() ? "" : (" (" + std::to_string(bytes) + " bytes)").c_str());
        std::printf("%s", log.str().c_str());
      }
      mpi.barrier();
      if (mpi.rank() != 0) partition = part({.cache_path = cache});
      if (!csr) dataset->partition = std::move(partition);
    }
    if (csr && (o.partitions == 0 || mpi.rank() == 0)) dataset = ist::to_graph_dataset(*csr, features);
    const ist::GraphSource g = csr && o.partitions > 0
                                   ? ist::GraphSource(*csr, partition, features, dataset ? &*dataset : nullptr)
                                   : ist::GraphSource(*dataset);
    if (mpi.rank() == 0) {
      const ist::GraphDataset& d = g.whole("gist-gcn");
      if (use_mpi) std::printf("mpi: %d ranks, one worker each; rank 0 coordinates%s\n", mpi.ranks(),
                               csr && o.partitions > 0 ? " and alone holds the whole graph (the workers read their "
                                                         "batches from the mapped file)"
                                                       : "");
      std::printf("data: %s, %d nodes, %lld edges, %d features, %d classes, %zu train / %zu val / %zu test nodes, "
                  "from %s\n",
                  d.name.c_str(), d.num_nodes, (long long)d.num_edges, d.num_features, d.num_classes, d.train.size(),
                  d.val.size(), d.test.size(), d.source.c_str());
      if (o.partitions > 0)
        std::printf("batches: Cluster-GCN, %d METIS parts, %d per batch, %d batches per epoch\n", o.partitions,
                    t.graph.clusters_per_batch, ist::GraphBatches::steps_per_epoch(g, t, o.workers));
      std::fflush(stdout);
    }
#if IST_WITH_CUDA
    if (o.backend == "cuda") return run_on_cuda(o, g, mpi);
#endif
    return o.model == "sage" ? run_sage(o, g, mpi) : run_gcn(o, g, mpi);
  } catch (const std::exception& e) {
    return mpi.fail("gist-gcn", e);
  }
}
