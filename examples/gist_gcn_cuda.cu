// gist-gcn --backend cuda: the same runs (gist_gcn_run.hpp: the engine, GraphBatches, checkpoints, metrics) on
// ist::CudaBackend, with the S workers as CUDA streams on one GPU (ist::cuda::StreamComm). The networks are
// SageNetwork / GcnNetwork on ist::cuda::Compute (cuBLAS, cuSPARSE, graph_ops.cuh); the graph stays in host
// memory and each batch's matrices are uploaded when the network binds them. Compiled into gist-gcn when the
// CUDA backend is built (IST_WITH_CUDA).
//
// Every model is a type of its own and nvcc compiles each, so this registry holds fewer than the CPU's
// (gist_gcn.cpp, gist_sage_models.cpp, gist_large_models.cpp):
//   GCN, 2 layers, on the Planetoid shapes, hidden 16 (Kipf & Welling) or 256 (GIST);
//   GraphSAGE, 2 or 3 layers, on the Planetoid shapes, hidden 256;
//   GraphSAGE, 3 layers, on ist-graphgen's presets: arxiv-like at 256, 1,024 and 8,192, products-like at 256.
#include <string>

#include "ist/backend/cuda/adam.cuh"
#include "ist/backend/cuda/cuda_backend.cuh"
#include "ist/backend/cuda/elementwise.cuh"  // add_scaled, found by GraphBatches through the context
#include "ist/backend/cuda/graph_ops.cuh"    // fill_zero, score_nodes, the same
#include "ist/backend/cuda/novograd.cuh"     // the CUDA side of each optimizer in optimizer_registry.hpp
#include "ist/backend/cuda/sgd.cuh"
#include "gist_gcn_run.hpp"

namespace gist_gcn {

namespace {

// Net with the workers as streams on GPU o.gpu, over o.seeds seeds.
template <class Net>
int run_cuda(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi) {
  ist::cuda::CudaOptions options;
  options.allow_tf32 = o.tf32;
  const int workers = o.protocol == "single" ? 1 : o.workers;
  const std::string where = "as CUDA streams on GPU " + std::to_string(o.gpu) + (o.tf32 ? " (TF32)" : " (FP32)");
  return run_seeds(o, g, mpi, [&](std::uint64_t seed, bool verbose) {
    using Backend = ist::CudaBackend<ist::cuda::StreamComm>;
    return run_once<Net>(o, Backend(ist::cuda::StreamComm(workers, o.gpu, !o.sequential), options), where, g, seed,
                         verbose);
  });
}

// The Planetoid shapes (F features, C classes).
template <int F, int C>
int planetoid(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi) {
  if (o.model == "gcn" && o.layers == 2 && o.width == 16)
    return run_cuda<ist::Gcn<ist::Input<F>, ist::GraphConv<16>, ist::GraphConv<C>>>(o, g, mpi);
  if (o.model == "gcn" && o.layers == 2 && o.width == 256)
    return run_cuda<ist::Gcn<ist::Input<F>, ist::GraphConv<256>, ist::GraphConv<C>>>(o, g, mpi);
  if (o.model == "sage" && o.layers == 2 && o.width == 256)
    return run_cuda<typename SageOf<F, 256, C, 2>::type>(o, g, mpi);
  if (o.model == "sage" && o.layers == 3 && o.width == 256)
    return run_cuda<typename SageOf<F, 256, C, 3>::type>(o, g, mpi);
  ist::fail("--backend cuda: no ", o.model, " with ", o.layers, " layers and width ", o.width, " is compiled for the "
            "GPU on ", g.source(), " (the GPU models of the Planetoid graphs: --model gcn --layers 2 --width 16 or "
            "256; --model sage --layers 2 or 3 --width 256); use --backend cpu for the others");
}

}  // namespace

int run_on_cuda(const Options& o, const ist::GraphSource& g, const ist::examples::MpiSession& mpi) {
  const Shape shape = graph_shape(g);
  switch (shape) {
    case Shape::Cora: return planetoid<1433, 7>(o, g, mpi);
    case Shape::Citeseer: return planetoid<3703, 6>(o, g, mpi);
    case Shape::Pubmed: return planetoid<500, 3>(o, g, mpi);
    case Shape::ArxivLike:
    case Shape::ProductsLike: {
      const bool arxiv = shape == Shape::ArxivLike;
      if (o.model == "sage" && o.layers == 3) {
        if (arxiv && o.width == 256) return run_cuda<typename SageOf<128, 256, 40, 3>::type>(o, g, mpi);
        if (arxiv && o.width == 1024) return run_cuda<typename SageOf<128, 1024, 40, 3>::type>(o, g, mpi);
        if (arxiv && o.width == 8192) return run_cuda<typename SageOf<128, 8192, 40, 3>::type>(o, g, mpi);
        if (!arxiv && o.width == 256) return run_cuda<typename SageOf<100, 256, 47, 3>::type>(o, g, mpi);
      }
      ist::fail("--backend cuda: no ", o.model, " with ", o.layers, " layers and width ", o.width, " is compiled for "
                "the GPU on ", g.source(), " (an ist-graphgen preset's shape: --model sage --layers 3 --width ",
                arxiv ? "256, 1024 or 8192)" : "256)");
    }
    case Shape::Other: break;
  }
  ist::fail("--backend cuda: ", g.source(), ": no model is compiled for ", g.num_features(), " features and ",
            g.num_classes(), " classes (the Planetoid shapes and ist-graphgen's presets)");
}

}  // namespace gist_gcn
