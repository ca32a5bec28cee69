#pragma once
// Synthetic node-classification graphs with learnable structure, written as ISTGRAPH files
// (csr_graph_format.hpp): a degree-corrected stochastic block model with power-law degrees, class-dependent
// features and a chosen edge homophily. ist-graphgen (examples/ist_graphgen.cpp) is its command line;
// docs/graphs.md has the presets' sizes, times and learnability.
//
//   ist::SyntheticGraphConfig cfg = ist::synthetic_graph_preset("arxiv-like");
//   cfg.seed = 7;
//   ist::SyntheticGraphStats s = ist::generate_synthetic_graph("arxiv-like.istg", cfg);
//
// The model, for N nodes, E undirected edges, C classes and F features:
//   - node v gets a class c(v), drawn with probability proportional to (c + 1)^-class_skew, a split (train,
//     val, test or none, with the given fractions) and a degree weight theta_v from a Pareto law with tail
//     exponent degree_exponent (P(theta > x) ~ x^(1 - gamma)), capped so that no expected degree exceeds
//     sqrt(2E) (the Chung-Lu bound that keeps duplicate edges rare);
//   - communities (optional, community_size > 0): every node joins one of round(N / community_size)
//     communities uniformly at random, whatever its class, so each community mixes the classes as the graph does;
//   - each edge picks u with probability proportional to theta_u; then, with probability community_edges, v in
//     u's community, otherwise v in the whole graph; in either, with probability p_in v in u's class, otherwise
//     v of any class, each proportionally to theta_v. Every node's expected degree is proportional to its
//     theta, and p_in is set so that the expected fraction of edges joining two nodes of one class is
//     `homophily` (or the least reachable value, the sum over classes of their volume share squared, when the
//     target is below it), inside communities and between them alike. Self loops are redrawn, duplicates
//     merged, and missing edges drawn again in further rounds until there are E; a surplus from the last round
//     is removed at random. Communities give the graph the locality of real citation and co-purchase graphs: a
//     balanced partitioner (METIS) finds them and keeps about community_edges of the edges inside its parts,
//     and the edges it keeps are as homophilous as those it cuts, so a Cluster-GCN batch looks like the whole
//     graph. Without communities METIS can only follow the classes: the edges it keeps inside its parts are
//     far more homophilous than the graph (docs/graphs.md, "Communities");
//   - features: x_v = feature_signal * mu_c(v) + noise, mu_c and noise standard normal in R^F. feature_signal
//     sets how much a node's own features say about its class: small values leave a linear model on the
//     features well below a GCN that averages over the (homophilous) neighbourhood.
//
// Determinism: every random number comes from an ist::Rng stream named by (seed, purpose, round, chunk) over
// fixed-size chunks of nodes or edges, so chunks run in parallel (OpenMP) and the file is the same, byte for
// byte, for any number of threads. Memory: about 16 bytes per undirected edge (the edge keys plus the CSR
// columns) and 40 bytes per node; features are generated and written in blocks of rows.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/csr_graph_format.hpp"
#include "ist/data/csr_graph_writer.hpp"

namespace ist {

struct SyntheticGraphConfig {
  std::int64_t num_nodes = 10000;
  std::int64_t num_edges = 50000;  // undirected edges wanted (no self loops, no duplicates)
  std::int64_t num_features = 32;
  std::int64_t num_classes = 8;
  double homophily = 0.7;          // expected fraction of edges whose two ends share a class
  double degree_exponent = 2.5;    // gamma of the power law of expected degrees, in (2, 5]
  double feature_signal = 0.25;    // scale of the class means over unit noise: how informative features are
  double class_skew = 0.5;         // class c is drawn with weight (c + 1)^-class_skew (0: equal classes)
  std::int64_t community_size = 0;  // mean nodes per community (communities mix the classes); 0: none
  double community_edges = 0;      // fraction of edges drawn inside u's community, in [0, 1]
  double train_fraction = 0.5, val_fraction = 0.25, test_fraction = 0.25;  // the rest: no split
  FeatureDtype feature_dtype = FeatureDtype::float32;
  std::uint64_t seed = 0;
};

// The names synthetic_graph_preset knows.
inline constexpr std::array<std::string_view, 2> kSyntheticGraphPresets = {"products-like", "arxiv-like"};

// "products-like": the shape of ogbn-products (and Amazon2M): 2,449,029 nodes, 61,859,140 edges, 100 features,
// 47 classes, split 8 / 2 / 90 %. "arxiv-like": the shape of ogbn-arxiv: 169,343 nodes, 1,166,243 edges, 128
// features, 40 classes, split 54 / 18 / 28 %, and 100 communities of about 1,700 nodes holding 80 % of the
// drawn edges (74 % of those written), so that METIS's 100 parts keep 73 % of the edges as in a real citation
// graph. Their measured homophily is that of the real graphs (about 0.81 and 0.65); their feature_signal is set
// so that a linear model on the features scores far below a graph model (docs/graphs.md gives the measured
// accuracies). products-like has no communities yet.
inline SyntheticGraphConfig synthetic_graph_preset(std::string_view name) {
  SyntheticGraphConfig c;
  if (name == "products-like") {
    c.num_nodes = 2449029;
    c.num_edges = 61859140;
    c.num_features = 100;
    c.num_classes = 47;
    c.homophily = 0.81;
    c.feature_signal = 0.17;
    c.class_skew = 1.0;
    c.train_fraction = 0.08;
    c.val_fraction = 0.02;
    c.test_fraction = 0.90;
    return c;
  }
  if (name == "arxiv-like") {
    c.num_nodes = 169343;
    c.num_edges = 1166243;
    c.num_features = 128;
    c.num_classes = 40;
    c.homophily = 0.73;  // measured on the file: 0.654 (merging duplicates inside small cells removes some)
    c.community_size = 1700;
    c.community_edges = 0.8;
    c.feature_signal = 0.15;
    c.class_skew = 0.5;
    c.train_fraction = 0.54;
    c.val_fraction = 0.18;
    c.test_fraction = 0.28;
    return c;
  }
  fail("ist::synthetic_graph_preset: expected a preset products-like | arxiv-like, found '", name, "'");
}

struct SyntheticGraphStats {
  std::int64_t num_edges = 0;       // undirected edges written
  std::int64_t sampled_edges = 0;   // edges drawn over all rounds (before merging duplicates)
  int rounds = 0;                   // sampling rounds
  double target_homophily = 0, homophily = 0;  // asked for, and measured on the written edges
  std::int64_t communities = 0;     // communities over all classes (0 without communities)
  double community_edge_share = 0;  // measured fraction of edges whose two ends share a community
  double mean_degree = 0;
  std::int64_t max_degree = 0;
  std::int64_t isolated_nodes = 0;  // nodes without an edge
  double top1_percent_entry_share = 0;  // fraction of the adjacency entries held by the 1 % highest-degree nodes
  std::array<std::int64_t, 4> split_sizes{};  // none, train, val, test
  double seconds_nodes = 0, seconds_edges = 0, seconds_adjacency = 0, seconds_features = 0, seconds_total = 0;
};

namespace detail {

// Rng stream ids of the generator.
enum : std::uint64_t {
  kSynthNodes = 1,
  kSynthEdges = 2,
  kSynthTrim = 3,
  kSynthMeans = 4,
  kSynthFeatures = 5,
  kSynthCommunities = 6
};
inline constexpr std::int64_t kSynthNodeChunk = 65536;     // nodes per Rng stream (classes, weights, splits)
inline constexpr std::int64_t kSynthEdgeChunk = 1 << 18;   // edges per Rng stream
inline constexpr std::int64_t kSynthFeatureChunk = 1024;   // feature rows per Rng stream
inline constexpr std::int64_t kSynthFeatureBlock = 64;     // feature chunks generated (in parallel) per write

// Walker's alias table over weights w (Vose's construction, sequential, so the same on every run): sample()
// returns i with probability w[i] / sum(w) from one index draw and one coin.
struct AliasTable {
  std::vector<float> prob;
  std::vector<std::int32_t> alias;

  explicit AliasTable(std::span<const double> w) : prob(w.size()), alias(w.size()) {
    const std::size_t n = w.size();
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    std::vector<double> scaled(n);
    std::vector<std::int32_t> small, large;
    for (std::size_t i = 0; i < n; ++i) {
      scaled[i] = w[i] * double(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(std::int32_t(i));
    }
    while (!small.empty() && !large.empty()) {
      const std::int32_t s = small.back(), l = large.back();
      small.pop_back();
      prob[std::size_t(s)] = float(scaled[std::size_t(s)]);
      alias[std::size_t(s)] = l;
      scaled[std::size_t(l)] -= 1.0 - scaled[std::size_t(s)];
      if (scaled[std::size_t(l)] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (std::int32_t i : large) prob[std::size_t(i)] = 1.f, alias[std::size_t(i)] = i;
    for (std::int32_t i : small) prob[std::size_t(i)] = 1.f, alias[std::size_t(i)] = i;  // rounding leftovers
  }
  std::int32_t sample(Rng& rng) const {
    const auto i = std::int32_t(rng.below(prob.size()));
    return rng.uniform() < double(prob[std::size_t(i)]) ? i : alias[std::size_t(i)];
  }
};

// Sorts the keys and removes duplicates, in parallel: one pass buckets the keys by their high half (the smaller
// node id) into contiguous ranges, then each bucket is sorted on its own. The result is the sorted set of
// keys, whatever the number of threads.
inline void sort_unique_edge_keys(std::vector<std::uint64_t>& keys, std::int64_t num_nodes) {
  const std::uint64_t buckets = std::uint64_t(std::min<std::int64_t>(4096, num_nodes));
  auto bucket_of = [&](std::uint64_t key) { return (key >> 32) * buckets / std::uint64_t(num_nodes); };
  std::vector<std::uint64_t> begin(buckets + 1, 0);
  for (std::uint64_t k : keys) ++begin[bucket_of(k) + 1];
  std::partial_sum(begin.begin(), begin.end(), begin.begin());
  std::vector<std::uint64_t> sorted(keys.size());
  {
    std::vector<std::uint64_t> at(begin.begin(), begin.end() - 1);
    for (std::uint64_t k : keys) sorted[at[bucket_of(k)]++] = k;
  }
  std::vector<std::uint64_t>().swap(keys);
  std::vector<std::uint64_t> kept(buckets, 0);
#pragma omp parallel for schedule(dynamic, 8)
  for (std::int64_t b = 0; b < std::int64_t(buckets); ++b) {
    auto first = sorted.begin() + std::ptrdiff_t(begin[std::size_t(b)]);
    auto last = sorted.begin() + std::ptrdiff_t(begin[std::size_t(b) + 1]);
    std::sort(first, last);
    kept[std::size_t(b)] = std::uint64_t(std::unique(first, last) - first);
  }
  std::uint64_t out = 0;
  for (std::uint64_t b = 0; b < buckets; ++b) {
    std::copy(sorted.begin() + std::ptrdiff_t(begin[b]), sorted.begin() + std::ptrdiff_t(begin[b] + kept[b]),
              sorted.begin() + std::ptrdiff_t(out));
    out += kept[b];
  }
  sorted.resize(out);
  sorted.shrink_to_fit();
  keys.swap(sorted);
}

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace detail

// Generates the graph of `cfg` and writes it to `path` (see the top of this file).
inline SyntheticGraphStats generate_synthetic_graph(const std::string& path, const SyntheticGraphConfig& cfg) {
  using namespace detail;
  const char* who = "ist::generate_synthetic_graph: ";
  const std::int64_t n = cfg.num_nodes, e_target = cfg.num_edges, f = cfg.num_features, c = cfg.num_classes;
  IST_CHECK(n >= 2 && std::uint64_t(n) <= kCsrGraphMaxNodes, who, path, ": expected num_nodes in [2, 2^31), found ", n);
  IST_CHECK(e_target >= 0 && double(e_target) <= 0.25 * double(n) * double(n - 1), who, path,
            ": expected num_edges in [0, N (N - 1) / 4] (a sparse graph), found ", e_target, " for N = ", n);
  IST_CHECK(f >= 1, who, path, ": expected num_features >= 1, found ", f);
  IST_CHECK(c >= 1 && c <= n, who, path, ": expected num_classes in [1, N], found ", c);
  IST_CHECK(cfg.homophily >= 0 && cfg.homophily <= 1, who, path, ": expected homophily in [0, 1], found ",
            cfg.homophily);
  IST_CHECK(cfg.degree_exponent > 2 && cfg.degree_exponent <= 5, who, path,
            ": expected degree_exponent in (2, 5], found ", cfg.degree_exponent);
  IST_CHECK(cfg.feature_signal >= 0 && std::isfinite(cfg.feature_signal), who, path,
            ": expected feature_signal >= 0, found ", cfg.feature_signal);
  IST_CHECK(cfg.class_skew >= 0 && cfg.class_skew <= 4, who, path, ": expected class_skew in [0, 4], found ",
            cfg.class_skew);
  IST_CHECK(cfg.community_size >= 0 && cfg.community_size <= n, who, path,
            ": expected community_size in [0, N] (0: no communities), found ", cfg.community_size);
  IST_CHECK(cfg.community_edges >= 0 && cfg.community_edges <= 1 &&
                (cfg.community_size > 0 || cfg.community_edges == 0),
            who, path, ": expected community_edges in [0, 1], and 0 without communities (community_size 0), found ",
            cfg.community_edges);
  IST_CHECK(cfg.train_fraction >= 0 && cfg.val_fraction >= 0 && cfg.test_fraction >= 0 &&
                cfg.train_fraction + cfg.val_fraction + cfg.test_fraction <= 1 + 1e-9,
            who, path, ": expected split fractions >= 0 summing to at most 1, found train ", cfg.train_fraction,
            ", val ", cfg.val_fraction, ", test ", cfg.test_fraction);
  const auto t_start = std::chrono::steady_clock::now();
  SyntheticGraphStats st;
  st.target_homophily = cfg.homophily;

  // ---- nodes: class, degree weight, split ----
  std::vector<std::int32_t> cls(static_cast<std::size_t>(n));
  std::vector<double> theta(static_cast<std::size_t>(n));
  std::vector<NodeSplit> split(static_cast<std::size_t>(n));
  {
    std::vector<double> class_cdf(static_cast<std::size_t>(c));
    double acc = 0;
    for (std::int64_t k = 0; k < c; ++k) class_cdf[std::size_t(k)] = acc += std::pow(double(k + 1), -cfg.class_skew);
    for (double& x : class_cdf) x /= acc;
    // The weight cap: theta_max * 2E / sum(theta) = sqrt(2E), with sum(theta) = N * E[min(Pareto, cap)].
    const double alpha = cfg.degree_exponent - 1;
    const double two_e = std::max(2.0 * double(e_target), 1.0);
    double cap = double(n) * alpha / (alpha - 1) / std::sqrt(two_e);
    for (int it = 0; it < 50; ++it) cap = double(n) * (alpha - std::pow(std::max(cap, 1.0), 1 - alpha)) / (alpha - 1) /
                                          std::sqrt(two_e);
    cap = std::max(cap, 1.0);
    const double p_train = cfg.train_fraction, p_val = p_train + cfg.val_fraction, p_test = p_val + cfg.test_fraction;
    const std::int64_t chunks = (n + kSynthNodeChunk - 1) / kSynthNodeChunk;
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
      Rng rng(cfg.seed, {kSynthNodes, std::uint64_t(ch)});
      for (std::int64_t v = ch * kSynthNodeChunk; v < std::min(n, (ch + 1) * kSynthNodeChunk); ++v) {
        const double u = rng.uniform();
        cls[std::size_t(v)] =
            std::int32_t(std::min<std::ptrdiff_t>(std::upper_bound(class_cdf.begin(), class_cdf.end(), u) -
                                                      class_cdf.begin(),
                                                  std::ptrdiff_t(c - 1)));
        theta[std::size_t(v)] = std::min(std::pow(1.0 - rng.uniform(), -1.0 / alpha), cap);
        const double s = rng.uniform();
        split[std::size_t(v)] = s < p_train ? NodeSplit::train
                                : s < p_val ? NodeSplit::val
                                : s < p_test ? NodeSplit::test
                                             : NodeSplit::none;
      }
    }
  }
  for (NodeSplit s : split) ++st.split_sizes[std::size_t(s)];
  // Members of each class (in node order), their alias tables, and the global one.
  std::vector<std::int64_t> class_begin(static_cast<std::size_t>(c) + 1, 0);
  for (std::int32_t k : cls) ++class_begin[std::size_t(k) + 1];
  std::partial_sum(class_begin.begin(), class_begin.end(), class_begin.begin());
  std::vector<std::int32_t> members(static_cast<std::size_t>(n));
  {
    std::vector<std::int64_t> at(class_begin.begin(), class_begin.end() - 1);
    for (std::int64_t v = 0; v < n; ++v) members[std::size_t(at[std::size_t(cls[std::size_t(v)])]++)] = std::int32_t(v);
  }
  const AliasTable global(theta);
  std::vector<AliasTable> per_class;
  std::vector<double> class_volume(static_cast<std::size_t>(c), 0.0);
  per_class.reserve(std::size_t(c));
  for (std::int64_t k = 0; k < c; ++k) {
    std::vector<double> w;
    for (std::int64_t i = class_begin[std::size_t(k)]; i < class_begin[std::size_t(k) + 1]; ++i)
      w.push_back(theta[std::size_t(members[std::size_t(i)])]);
    class_volume[std::size_t(k)] = std::accumulate(w.begin(), w.end(), 0.0);
    if (w.empty()) w.push_back(1.0);  // an empty class is never drawn from (no node has it)
    per_class.emplace_back(w);
  }
  // Communities (independent of the classes): each node's community, the nodes ordered by (community, class),
  // and alias tables over every community and every (community, class) cell of that order.
  std::vector<std::int32_t> community;
  std::vector<std::int64_t> cell_begin;  // cell (j, k) = community j's class-k nodes: index j * C + k
  std::vector<std::int32_t> cell_members;
  std::vector<AliasTable> per_community, per_cell;
  if (cfg.community_size > 0) {
    const std::int64_t m = std::max<std::int64_t>(1, std::llround(double(n) / double(cfg.community_size)));
    st.communities = m;
    community.resize(static_cast<std::size_t>(n));
    const std::int64_t chunks = (n + kSynthNodeChunk - 1) / kSynthNodeChunk;
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
      Rng rng(cfg.seed, {kSynthCommunities, std::uint64_t(ch)});
      for (std::int64_t v = ch * kSynthNodeChunk; v < std::min(n, (ch + 1) * kSynthNodeChunk); ++v)
        community[std::size_t(v)] = std::int32_t(rng.below(std::uint64_t(m)));
    }
    auto cell_of = [&](std::int64_t v) {
      return std::size_t(community[std::size_t(v)]) * std::size_t(c) + std::size_t(cls[std::size_t(v)]);
    };
    cell_begin.assign(static_cast<std::size_t>(m * c) + 1, 0);
    for (std::int64_t v = 0; v < n; ++v) ++cell_begin[cell_of(v) + 1];
    std::partial_sum(cell_begin.begin(), cell_begin.end(), cell_begin.begin());
    cell_members.resize(static_cast<std::size_t>(n));
    std::vector<std::int64_t> at(cell_begin.begin(), cell_begin.end() - 1);
    for (std::int64_t v = 0; v < n; ++v) cell_members[std::size_t(at[cell_of(v)]++)] = std::int32_t(v);
    auto table = [&](std::int64_t first, std::int64_t last) {
      std::vector<double> w;
      for (std::int64_t i = first; i < last; ++i) w.push_back(theta[std::size_t(cell_members[std::size_t(i)])]);
      if (w.empty()) w.push_back(1.0);  // an empty community or cell is never drawn from (no node is in it)
      return AliasTable(w);
    };
    per_community.reserve(std::size_t(m));
    per_cell.reserve(std::size_t(m * c));
    for (std::int64_t j = 0; j < m; ++j) {
      per_community.push_back(table(cell_begin[std::size_t(j * c)], cell_begin[std::size_t((j + 1) * c)]));
      for (std::int64_t k = 0; k < c; ++k)
        per_cell.push_back(table(cell_begin[std::size_t(j * c + k)], cell_begin[std::size_t(j * c + k) + 1]));
    }
  }
  const double volume = std::accumulate(class_volume.begin(), class_volume.end(), 0.0);
  double chance = 0;  // the homophily of edges that ignore classes
  for (double x : class_volume) chance += (x / volume) * (x / volume);
  const double p_in = chance >= 1 ? 0.0 : std::clamp((cfg.homophily - chance) / (1 - chance), 0.0, 1.0);
  // One uniform draw x picks the kind of partner: x < l p_in u's community and class, x < l u's community,
  // x < l + (1 - l) p_in u's class, else anywhere (l = community_edges; with l = 0 the draws are those of a
  // graph without communities).
  const double p_local = cfg.community_edges;
  const double p_local_in = p_local * p_in, p_class = p_local + (1 - p_local) * p_in;
  std::vector<double>().swap(theta);
  st.seconds_nodes = seconds_since(t_start);

  // ---- edges: rounds of sampling until E distinct ones ----
  const auto t_edges = std::chrono::steady_clock::now();
  std::vector<std::uint64_t> keys;
  constexpr std::uint64_t kNoEdge = ~std::uint64_t{0};
  double kept_ratio = 1.0;  // distinct new edges per edge drawn, in the last round
  for (int round = 0; std::int64_t(keys.size()) < e_target && round < 16; ++round) {
    const std::int64_t missing = e_target - std::int64_t(keys.size());
    const std::int64_t draw = round == 0 ? missing : std::int64_t(std::ceil(double(missing) / kept_ratio * 1.05)) + 16;
    const std::size_t before = keys.size();
    keys.resize(before + std::size_t(draw));
    const std::int64_t chunks = (draw + kSynthEdgeChunk - 1) / kSynthEdgeChunk;
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
      Rng rng(cfg.seed, {kSynthEdges, std::uint64_t(round), std::uint64_t(ch)});
      for (std::int64_t i = ch * kSynthEdgeChunk; i < std::min(draw, (ch + 1) * kSynthEdgeChunk); ++i) {
        const std::int32_t u = global.sample(rng);
        std::int32_t v = u;
        for (int tries = 0; tries < 64 && v == u; ++tries) {
          const double x = rng.uniform();
          if (x < p_local_in) {
            const std::size_t cell = std::size_t(community[std::size_t(u)]) * std::size_t(c) +
                                     std::size_t(cls[std::size_t(u)]);
            v = cell_members[std::size_t(cell_begin[cell] + per_cell[cell].sample(rng))];
          } else if (x < p_local) {
            const std::size_t j = std::size_t(community[std::size_t(u)]);
            v = cell_members[std::size_t(cell_begin[j * std::size_t(c)] + per_community[j].sample(rng))];
          } else if (x < p_class) {
            const std::int32_t k = cls[std::size_t(u)];
            v = members[std::size_t(class_begin[std::size_t(k)] + per_class[std::size_t(k)].sample(rng))];
          } else {
            v = global.sample(rng);
          }
        }
        keys[before + std::size_t(i)] =
            v == u ? kNoEdge : (std::uint64_t(std::min(u, v)) << 32) | std::uint64_t(std::max(u, v));
      }
    }
    st.sampled_edges += draw;
    st.rounds = round + 1;
    // Drop the edges that found no partner, then merge duplicates.
    keys.erase(std::remove(keys.begin() + std::ptrdiff_t(before), keys.end(), kNoEdge), keys.end());
    sort_unique_edge_keys(keys, n);
    kept_ratio = std::max(double(keys.size() - std::min(keys.size(), before)) / double(draw), 0.01);
  }
  if (std::int64_t(keys.size()) > e_target) {  // the last round's surplus, removed uniformly at random
    std::vector<std::uint8_t> drop(keys.size(), 0);
    Rng rng(cfg.seed, {kSynthTrim});
    for (std::int64_t left = std::int64_t(keys.size()) - e_target; left > 0;) {
      const std::size_t i = std::size_t(rng.below(keys.size()));
      if (!drop[i]) drop[i] = 1, --left;
    }
    std::size_t out = 0;
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (!drop[i]) keys[out++] = keys[i];
    keys.resize(out);
  }
  const std::int64_t m_edges = std::int64_t(keys.size());
  st.num_edges = m_edges;
  {
    std::int64_t same = 0;
#pragma omp parallel for reduction(+ : same)
    for (std::int64_t i = 0; i < m_edges; ++i)
      same += cls[std::size_t(keys[std::size_t(i)] >> 32)] == cls[std::size_t(keys[std::size_t(i)] & 0xffffffffu)];
    st.homophily = m_edges == 0 ? 0.0 : double(same) / double(m_edges);
    if (!community.empty()) {  // edges whose two ends share a community
      std::int64_t inside = 0;
#pragma omp parallel for reduction(+ : inside)
      for (std::int64_t i = 0; i < m_edges; ++i)
        inside += community[std::size_t(keys[std::size_t(i)] >> 32)] ==
                  community[std::size_t(keys[std::size_t(i)] & 0xffffffffu)];
      st.community_edge_share = m_edges == 0 ? 0.0 : double(inside) / double(m_edges);
    }
  }
  st.seconds_edges = seconds_since(t_edges);

  // ---- the CSR adjacency: row v holds its smaller neighbours (keys (u, v), in increasing u) before its larger
  // ones (keys (v, w), in increasing w), so every row comes out sorted ----
  const auto t_adj = std::chrono::steady_clock::now();
  CsrGraphWriter w(path, {.num_nodes = n,
                          .num_entries = 2 * m_edges,
                          .num_features = f,
                          .num_classes = c,
                          .feature_dtype = cfg.feature_dtype});
  {
    std::vector<std::int64_t> offsets(static_cast<std::size_t>(n) + 1, 0);
    std::vector<std::int64_t> lower(static_cast<std::size_t>(n), 0);  // entries of each row below the diagonal
    for (std::uint64_t k : keys) {
      ++offsets[std::size_t(k >> 32) + 1];
      ++lower[std::size_t(k & 0xffffffffu)];
    }
    for (std::int64_t v = 0; v < n; ++v) offsets[std::size_t(v) + 1] += lower[std::size_t(v)];
    std::partial_sum(offsets.begin(), offsets.end(), offsets.begin());
    std::vector<std::int64_t> below(offsets.begin(), offsets.end() - 1);  // next slot of a smaller neighbour
    std::vector<std::int64_t>& above = lower;                             // next slot of a larger neighbour
    for (std::int64_t v = 0; v < n; ++v) above[std::size_t(v)] += offsets[std::size_t(v)];
    std::vector<std::int32_t> columns(static_cast<std::size_t>(2 * m_edges));
    for (std::uint64_t k : keys) {
      const auto u = std::int32_t(k >> 32), v = std::int32_t(k & 0xffffffffu);
      columns[std::size_t(above[std::size_t(u)]++)] = v;
      columns[std::size_t(below[std::size_t(v)]++)] = u;
    }
    std::vector<std::uint64_t>().swap(keys);
    std::vector<std::int64_t> degrees(static_cast<std::size_t>(n));
    for (std::int64_t v = 0; v < n; ++v) {
      const std::int64_t d = offsets[std::size_t(v) + 1] - offsets[std::size_t(v)];
      degrees[std::size_t(v)] = d;
      st.max_degree = std::max(st.max_degree, d);
      st.isolated_nodes += d == 0;
    }
    st.mean_degree = double(2 * m_edges) / double(n);
    const std::size_t top = std::max<std::size_t>(1, std::size_t(n) / 100);
    std::nth_element(degrees.begin(), degrees.begin() + std::ptrdiff_t(top), degrees.end(), std::greater<>());
    const std::int64_t top_entries = std::accumulate(degrees.begin(), degrees.begin() + std::ptrdiff_t(top),
                                                     std::int64_t{0});
    st.top1_percent_entry_share = m_edges == 0 ? 0.0 : double(top_entries) / double(2 * m_edges);
    w.append_row_offsets(offsets);
    w.append_column_indices(columns);
  }
  st.seconds_adjacency = seconds_since(t_adj);

  // ---- features: signal * class mean + unit noise, in blocks of rows ----
  const auto t_feat = std::chrono::steady_clock::now();
  {
    std::vector<float> means(static_cast<std::size_t>(c * f));
    Rng rng(cfg.seed, {kSynthMeans});
    for (float& x : means) x = float(rng.normal());
    const std::int64_t chunks = (n + kSynthFeatureChunk - 1) / kSynthFeatureChunk;
    std::vector<float> block(static_cast<std::size_t>(kSynthFeatureChunk * kSynthFeatureBlock * f));
    for (std::int64_t first = 0; first < chunks; first += kSynthFeatureBlock) {
      const std::int64_t last = std::min(chunks, first + kSynthFeatureBlock);
#pragma omp parallel for schedule(dynamic)
      for (std::int64_t ch = first; ch < last; ++ch) {
        Rng r(cfg.seed, {kSynthFeatures, std::uint64_t(ch)});
        for (std::int64_t v = ch * kSynthFeatureChunk; v < std::min(n, (ch + 1) * kSynthFeatureChunk); ++v) {
          float* x = block.data() + std::size_t((v - first * kSynthFeatureChunk) * f);
          const float* mu = means.data() + std::size_t(cls[std::size_t(v)]) * std::size_t(f);
          for (std::int64_t j = 0; j < f; ++j)
            x[j] = float(cfg.feature_signal * double(mu[j]) + r.normal());
        }
      }
      const std::int64_t rows = std::min(n, last * kSynthFeatureChunk) - first * kSynthFeatureChunk;
      w.append_features(std::span<const float>(block.data(), std::size_t(rows * f)));
    }
  }
  w.append_labels(cls);
  w.append_splits(split);
  w.finish();
  st.seconds_features = seconds_since(t_feat);
  st.seconds_total = seconds_since(t_start);
  return st;
}

}  // namespace ist
