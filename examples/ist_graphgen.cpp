// ist-graphgen: writes a graph file of the ISTGRAPH format (docs/graphs.md): a synthetic node-classification
// graph (a degree-corrected stochastic block model with power-law degrees, class-dependent features and a chosen
// homophily), or a Planetoid graph converted.
//
//   ist-graphgen --preset arxiv-like --out arxiv-like.istg                 # 169,343 nodes, 1.17 M edges
//   ist-graphgen --preset products-like --feature-dtype bf16 --out p.istg  # 2,449,029 nodes, 61.9 M edges
//   ist-graphgen --nodes 100000 --edges 1000000 --features 64 --classes 10 --homophily 0.8 --out g.istg
//   ist-graphgen --from-planetoid cora --out cora.istg                     # raw features, 0/1 adjacency
//
// Flags given next to --preset override the preset's values. The same flags and seed give the same file, byte
// for byte, for any number of threads (--threads, default: OpenMP's). After writing, the file is opened and
// checked in full (open_csr_graph) unless --no-verify.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "ist/data/csr_graph.hpp"
#include "ist/data/csr_graph_dataset.hpp"
#include "ist/data/planetoid.hpp"
#include "ist/data/synthetic_graph.hpp"

#ifndef IST_PLANETOID_DIR
#define IST_PLANETOID_DIR "../shared/data/planetoid"
#endif

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void print_file(const ist::CsrGraph& g, double open_seconds) {
  std::printf("file: %s, %.1f MB: %lld nodes, %lld edges (%lld entries), %lld features (%s), %lld classes; "
              "train/val/test %zu/%zu/%zu; opened and checked in %.2f s\n",
              g.path().c_str(), double(g.file_bytes()) / 1e6, (long long)g.num_nodes(), (long long)g.num_edges(),
              (long long)g.num_entries(), (long long)g.num_features(),
              std::string(ist::feature_dtype_name(g.feature_dtype())).c_str(), (long long)g.num_classes(),
              g.split_nodes(ist::NodeSplit::train).size(), g.split_nodes(ist::NodeSplit::val).size(),
              g.split_nodes(ist::NodeSplit::test).size(), open_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  ist::SyntheticGraphConfig cfg;
  std::string preset, out, dtype = "f32", from_planetoid, data = IST_PLANETOID_DIR;
  int threads = 0;
  bool no_verify = false;
  CLI::App app{"ist-graphgen: write a synthetic node-classification graph (degree-corrected stochastic block model) "
               "or a converted Planetoid graph as an ISTGRAPH file"};
  app.add_option("--out", out, "the graph file to write")->required();
  app.add_option("--preset", preset, "products-like | arxiv-like (other flags override its values)")
      ->check(CLI::IsMember({"products-like", "arxiv-like"}));
  auto* o_nodes = app.add_option("--nodes", cfg.num_nodes, "number of nodes N")->capture_default_str();
  auto* o_edges = app.add_option("--edges", cfg.num_edges, "number of undirected edges")->capture_default_str();
  auto* o_features = app.add_option("--features", cfg.num_features, "features per node F")->capture_default_str();
  auto* o_classes = app.add_option("--classes", cfg.num_classes, "number of classes C")->capture_default_str();
  auto* o_homophily = app.add_option("--homophily", cfg.homophily,
                                     "fraction of edges joining two nodes of one class")->capture_default_str();
  auto* o_exponent = app.add_option("--degree-exponent", cfg.degree_exponent,
                                    "power-law exponent of the expected degrees, in (2, 5]")->capture_default_str();
  auto* o_signal = app.add_option("--feature-signal", cfg.feature_signal,
                                  "scale of the class means over unit noise (how informative features are)")
                       ->capture_default_str();
  auto* o_skew = app.add_option("--class-skew", cfg.class_skew, "class c has weight (c + 1)^-skew")
                     ->capture_default_str();
  auto* o_community_size = app.add_option("--community-size", cfg.community_size,
                                          "mean nodes per community inside a class (0: no communities)")
                              ->capture_default_str();
  auto* o_community_edges = app.add_option("--community-edges", cfg.community_edges,
                                           "fraction of edges drawn inside a node's community, at most the "
                                           "homophily")
                               ->capture_default_str();
  auto* o_train = app.add_option("--train", cfg.train_fraction, "fraction of nodes in the train split")
                      ->capture_default_str();
  auto* o_val = app.add_option("--val", cfg.val_fraction, "fraction of nodes in the val split")->capture_default_str();
  auto* o_test = app.add_option("--test", cfg.test_fraction, "fraction of nodes in the test split")
                     ->capture_default_str();
  app.add_option("--seed", cfg.seed, "random seed")->capture_default_str();
  app.add_option("--feature-dtype", dtype, "f32 | bf16")->capture_default_str()->check(CLI::IsMember({"f32", "bf16"}));
  app.add_option("--threads", threads, "OpenMP threads (0: OpenMP's default); the file does not depend on it")
      ->capture_default_str();
  app.add_option("--from-planetoid", from_planetoid, "convert this Planetoid graph (cora | citeseer | pubmed) instead")
      ->check(CLI::IsMember({"cora", "citeseer", "pubmed"}));
  app.add_option("--data", data, "the folder holding the Planetoid folders")->capture_default_str();
  app.add_flag("--no-verify", no_verify, "do not open and check the file after writing it");
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads > 0) omp_set_num_threads(threads);
    const ist::FeatureDtype feature_dtype = dtype == "bf16" ? ist::FeatureDtype::bfloat16 : ist::FeatureDtype::float32;
    const auto t0 = std::chrono::steady_clock::now();
    if (!from_planetoid.empty()) {
      const ist::GraphDataset g = ist::load_planetoid(data, from_planetoid, {.normalize_features = false});
      ist::write_csr_graph(out, g, feature_dtype);
      std::printf("converted %s from %s in %.2f s (raw features: to_graph_dataset row-normalizes them)\n",
                  from_planetoid.c_str(), g.source.c_str(), seconds_since(t0));
    } else {
      if (!preset.empty()) {
        ist::SyntheticGraphConfig p = ist::synthetic_graph_preset(preset);
        // Flags given on the command line win over the preset.
        auto keep = [](CLI::Option* o, auto& field, const auto& preset_value) {
          if (o->count() == 0) field = preset_value;
        };
        keep(o_nodes, cfg.num_nodes, p.num_nodes);
        keep(o_edges, cfg.num_edges, p.num_edges);
        keep(o_features, cfg.num_features, p.num_features);
        keep(o_classes, cfg.num_classes, p.num_classes);
        keep(o_homophily, cfg.homophily, p.homophily);
        keep(o_exponent, cfg.degree_exponent, p.degree_exponent);
        keep(o_signal, cfg.feature_signal, p.feature_signal);
        keep(o_skew, cfg.class_skew, p.class_skew);
        keep(o_community_size, cfg.community_size, p.community_size);
        keep(o_community_edges, cfg.community_edges, p.community_edges);
        keep(o_train, cfg.train_fraction, p.train_fraction);
        keep(o_val, cfg.val_fraction, p.val_fraction);
        keep(o_test, cfg.test_fraction, p.test_fraction);
      }
      cfg.feature_dtype = feature_dtype;
      std::printf("generating %s: %lld nodes, %lld edges, %lld features (%s), %lld classes, homophily %.3f, degree "
                  "exponent %.2f, feature signal %.3f, class skew %.2f, communities of %lld nodes holding %.3f of "
                  "the edges, split %.2f/%.2f/%.2f, seed %llu, %d threads\n",
                  preset.empty() ? "a graph" : preset.c_str(), (long long)cfg.num_nodes, (long long)cfg.num_edges,
                  (long long)cfg.num_features, dtype.c_str(), (long long)cfg.num_classes, cfg.homophily,
                  cfg.degree_exponent, cfg.feature_signal, cfg.class_skew, (long long)cfg.community_size,
                  cfg.community_edges, cfg.train_fraction, cfg.val_fraction,
                  cfg.test_fraction, (unsigned long long)cfg.seed, omp_get_max_threads());
      const ist::SyntheticGraphStats s = ist::generate_synthetic_graph(out, cfg);
      std::printf("edges: %lld written (%lld drawn in %d rounds), homophily %.4f (target %.4f)\n",
                  (long long)s.num_edges, (long long)s.sampled_edges, s.rounds, s.homophily, s.target_homophily);
      if (s.communities > 0)
        std::printf("communities: %lld, holding %.4f of the edges (target %.4f)\n", (long long)s.communities,
                    s.community_edge_share, cfg.community_edges);
      std::printf("degrees: mean %.2f, max %lld, %lld isolated nodes, the top 1%% of nodes hold %.1f%% of the "
                  "entries\n",
                  s.mean_degree, (long long)s.max_degree, (long long)s.isolated_nodes,
                  100.0 * s.top1_percent_entry_share);
      std::printf("time: %.2f s (nodes %.2f, edges %.2f, adjacency %.2f, features and writing %.2f)\n",
                  s.seconds_total, s.seconds_nodes, s.seconds_edges, s.seconds_adjacency, s.seconds_features);
    }
    if (!no_verify) {
      const auto t1 = std::chrono::steady_clock::now();
      const ist::CsrGraph g = ist::open_csr_graph(out);
      print_file(g, seconds_since(t1));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ist-graphgen: error: %s\n", e.what());
    return 1;
  }
}
