// gist-gcn's GraphSAGE models (--model sage), compiled apart from the GCNs: every (data set, depth, width) is a
// model type of its own. Depths 2 and 3 at every width of kWidths, depths 4 and 5 at kDeepSageWidths.
#include "gist_gcn_run.hpp"

namespace gist_gcn {

namespace {

template <int F, int C>
int sage_with_width(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi) {
  auto shallow = [&]<int H>() {
    if (o.layers == 2) return run<typename SageOf<F, H, C, 2>::type>(o, g, mpi);
    return run<typename SageOf<F, H, C, 3>::type>(o, g, mpi);
  };
  auto deep = [&]<int H>() {
    if (o.layers == 4) return run<typename SageOf<F, H, C, 4>::type>(o, g, mpi);
    return run<typename SageOf<F, H, C, 5>::type>(o, g, mpi);
  };
  if (o.layers <= 3) {
    switch (o.width) {
      case 16: return shallow.template operator()<16>();
      case 32: return shallow.template operator()<32>();
      case 64: return shallow.template operator()<64>();
      case 128: return shallow.template operator()<128>();
      case 256: return shallow.template operator()<256>();
      case 512: return shallow.template operator()<512>();
      case 1024: return shallow.template operator()<1024>();
    }
    ist::fail("--width: expected one of 16, 32, 64, 128, 256, 512, 1024, found ", o.width);
  }
  switch (o.width) {
    case 128: return deep.template operator()<128>();
    case 256: return deep.template operator()<256>();
  }
  ist::fail("--width: --model sage with ", o.layers, " layers has the widths 128 and 256, found ", o.width,
            " (2 and 3 layers have every width)");
}

}  // namespace

int run_sage(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi) {
  IST_CHECK(o.layers >= 2 && o.layers <= 5, "--layers: --model sage has 2 to 5 layers, found ", o.layers);
  switch (graph_shape(g)) {
    case Shape::Cora: return sage_with_width<1433, 7>(o, g, mpi);
    case Shape::Citeseer: return sage_with_width<3703, 6>(o, g, mpi);
    case Shape::Pubmed: return sage_with_width<500, 3>(o, g, mpi);
    case Shape::ArxivLike:
    case Shape::ProductsLike: return run_large_sage(o, g, mpi);
    case Shape::Other: break;
  }
  ist::fail("--model sage: ", g.source(), ": no GraphSAGE is compiled for ", g.num_features(), " features and ",
            g.num_classes(), " classes (compiled: the Planetoid shapes 1433/7, 3703/6, 500/3 and ist-graphgen's "
            "presets 128/40 (arxiv-like), 100/47 (products-like))");
}

}  // namespace gist_gcn
