// gist-gcn's GraphSAGE models for ist-graphgen's presets (arxiv-like: 128 features, 40 classes; products-like:
// 100 features, 47 classes), compiled apart: 3 layers (Cluster-GCN's and GIST's depth on these graphs) at the
// widths of kLargeGraphWidths, 8,192 included for ultra-wide GIST.
#include "gist_gcn_run.hpp"

namespace gist_gcn {

namespace {

template <int F, int C>
int large_sage(const Options& o, const ist::GraphDataset& g, const ist::examples::MpiSession& mpi) {
  auto with = [&]<int H>() {
    return run<ist::Sage<ist::Input<F>, ist::SageConv<H>, ist::SageConv<H>, ist::SageConv<C>>>(o, g, mpi);
  };
  switch (o.width) {
    case 256: return with.template operator()<256>();
    case 1024: return with.template operator()<1024>();
    case 8192: return with.template operator()<8192>();
  }
  ist::fail("--width: GraphSAGE on ", g.source, " has the widths 256, 1024 and 8192, found ", o.width);
}

}  // namespace

int run_large_sage(const Options& o, const ist::GraphDataset& g, const ist::examples::MpiSession& mpi) {
  IST_CHECK(o.layers == 3, "--layers: GraphSAGE on ", g.source, " (an ist-graphgen preset's shape) has 3 layers, found ",
            o.layers);
  if (graph_shape(g) == Shape::ArxivLike) return large_sage<128, 40>(o, g, mpi);
  return large_sage<100, 47>(o, g, mpi);
}

}  // namespace gist_gcn
