#pragma once
// What the networks of the graph families (GcnNetwork, SageNetwork) share: their forward options, and the
// pieces of a layer both compute the same way, written against a compute policy (ist::eigen::Compute,
// ist::cuda::Compute: their graph ops, spmm to transpose_add):
// - a linear map of sparse node features X [N, F] (the first layer), whose dropout hits X's nonzeros, as
//   Kipf's sparse_dropout (zeros stay zero, so this is dropout of the dense X in distribution);
// - the per-layer input scale (WidthwiseRandom's evaluation of the global model);
// - the shape GraphNorm normalizes over;
// - the workspace arena's offsets, and the resizing of a policy's buffer.
// The sparse products themselves are the policy's spmm and spmm_transposed_add on a Compute::SparseOperand:
// any compressed row-major sparse matrix of the host (the whole graph's, or a batch subgraph's), used in place
// on the CPU, uploaded once on the GPU.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "ist/core/error.hpp"
#include "ist/model/graph_norm.hpp"

namespace ist {

// What a graph network is configured for: training (forward and backward: every layer's activations, masks and
// gradient buffers are kept) or inference only (forward without dropout, layer by layer: one set of buffers
// shared by all layers, a fraction of the memory; evaluation of the whole graph).
enum class GraphPass { Training, Inference };

// One forward pass of a graph network over a whole graph.
struct GraphForwardOptions {
  bool training = true;     // apply dropout and keep what backward needs
  double dropout = 0.0;     // drop probability of each layer's input, in [0, 1)
  GraphNorm norm = GraphNorm::None;
  std::uint64_t seed = 0;   // dropout masks are a pure function of (seed, layer, element)
  // One value per layer, or empty for 1: layer l scales its input's contribution by s_l (GCN: s_l A_hat (D
  // W_l^T); GraphSAGE: s_l [D ‖ M D] W_l^T + b_l). WidthwiseRandom's evaluation_scale gives 1/S on layers
  // whose inputs are split, for evaluating the global model.
  std::span<const double> input_scale = {};
};

namespace detail {

// Checks `opt` for a network of `layers` layers; `who` names the caller ("ist::GcnNetwork::forward").
inline void check_graph_forward_options(const GraphForwardOptions& opt, int layers, const char* who) {
  IST_CHECK(opt.dropout >= 0.0 && opt.dropout < 1.0, who, ": expected a dropout probability in [0, 1), found ",
            opt.dropout);
  IST_CHECK(opt.input_scale.empty() || opt.input_scale.size() == std::size_t(layers), who, ": expected ", layers,
            " input scales (one per layer), found ", opt.input_scale.size());
}

// p[i] *= s (nothing when s == 1).
template <class Compute, class T>
void scale_values(typename Compute::Context& ctx, T* p, std::size_t n, T s) {
  if (s != T(1)) Compute::scale(ctx, n, s, static_cast<const T*>(p), p);
}

// The [rows, cols] that GraphNorm `norm` normalizes row by row for an activation of `nodes` x `width`.
inline std::pair<std::size_t, std::size_t> graph_norm_shape(GraphNorm norm, int nodes, int width) {
  if (norm == GraphNorm::Whole) return {1, std::size_t(nodes) * std::size_t(width)};
  return {std::size_t(nodes), std::size_t(width)};
}

// y [N, k] = X W^T for sparse X [N, F] (x: Compute::SparseOperand<T>::get()) and W [k, F] row-major, through
// the transposed copy wt [F, k] (scratch). `values`: X's nonzeros after dropout (nullptr: X's own).
template <class Compute, class T, class SparseX>
void sparse_input_linear_forward(typename Compute::Context& ctx, SparseX& x, const T* w, int k, T* wt, T* y,
                                 const T* values = nullptr) {
  Compute::transpose(ctx, k, int(x.cols()), w, wt);
  Compute::spmm(ctx, x, static_cast<const T*>(wt), k, y, values);
}

// gw [k, F] += (X^T dy)^T for dy [N, k], through gwt [F, k] (scratch); `values` as in the forward.
template <class Compute, class T, class SparseX>
void sparse_input_linear_backward(typename Compute::Context& ctx, SparseX& x, const T* dy, int k, T* gwt, T* gw,
                                  const T* values = nullptr) {
  const int F = int(x.cols());
  Compute::fill_zero(ctx, std::size_t(F) * std::size_t(k), gwt);
  Compute::spmm_transposed_add(ctx, x, dy, k, gwt, values);
  Compute::transpose_add(ctx, F, k, static_cast<const T*>(gwt), gw);
}

// Offsets of a network's workspaces in one arena, each aligned to 16 values.
struct ArenaPlan {
  std::size_t size = 0;
  std::size_t take(std::size_t n) {
    const std::size_t at = size;
    size += (n + 15) / 16 * 16;
    return at;
  }
};

// buf holds n values: a std::vector is resized and its spare capacity released; a buffer without
// shrink_to_fit (the CUDA policy's) is allocated afresh when its size differs.
template <class Buffer>
void fit_buffer(Buffer& buf, std::size_t n) {
  if constexpr (requires { buf.shrink_to_fit(); }) {
    buf.resize(n);
    buf.shrink_to_fit();
  } else if (buf.size() != n) {
    buf = Buffer();
    buf.resize(n);
  }
}

}  // namespace detail
}  // namespace ist
