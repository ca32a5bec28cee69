// gist-gcn's GraphSAGE models for ist-graphgen's presets (arxiv-like: 128 features, 40 classes; products-like:
// 100 features, 47 classes), compiled apart: 3 layers (Cluster-GCN's and GIST's depth on these graphs); arxiv-like
// at the widths of kLargeGraphWidths (8,192 for ultra-wide GIST), products-like at 256.
#include "gist_gcn_run.hpp"

namespace gist_gcn {

namespace {

// One 3-layer GraphSAGE per (shape, width): each is a model type of its own, and each costs compile time, so
// products-like (the MPI run of docs/results.md) has 256 only.
template <int F, int C, int H>
int large_sage(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi) {
  return run<ist::Sage<ist::Input<F>, ist::SageConv<H>, ist::SageConv<H>, ist::SageConv<C>>>(o, g, mpi);
}

}  // namespace

int run_large_sage(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi) {
  IST_CHECK(o.layers == 3, "--layers: GraphSAGE on ", g.source(), " (an ist-graphgen preset's shape) has 3 layers, found ",
            o.layers);
  const bool arxiv = graph_shape(g) == Shape::ArxivLike;
  if (arxiv && o.width == 256) return large_sage<128, 40, 256>(o, g, mpi);
  if (arxiv && o.width == 1024) return large_sage<128, 40, 1024>(o, g, mpi);
  if (arxiv && o.width == 8192) return large_sage<128, 40, 8192>(o, g, mpi);
  if (!arxiv && o.width == 256) return large_sage<100, 47, 256>(o, g, mpi);
  ist::fail("--width: GraphSAGE on ", g.source(), " has the widths ", arxiv ? "256, 1024 and 8192" : "256",
            " (an ist-graphgen preset's shape: arxiv-like 128 features / 40 classes, products-like 100 / 47), found ",
            o.width);
}

}  // namespace gist_gcn
