#pragma once
// What the networks of the graph families (GcnNetwork, SageNetwork) share: their forward options, and the
// pieces of a layer both compute the same way:
// - a linear map of sparse node features X [N, F] (the first layer), whose dropout hits X's nonzeros, as
//   Kipf's sparse_dropout (zeros stay zero, so this is dropout of the dense X in distribution);
// - the per-layer input scale (WidthwiseRandom's evaluation of the global model);
// - the shape GraphNorm normalizes over;
// - the workspace arena's offsets.
// The sparse products themselves are ist::eigen::spmm and spmm_transposed_add: they take any compressed
// row-major sparse matrix (the whole graph's, or later a batch subgraph's).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/packet_loops.hpp"
#include "ist/backend/eigen/sparse_matmul.hpp"
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
template <class T>
void scale_values(T* p, std::size_t n, T s) {
  if (s != T(1)) eigen::detail::scale(s, static_cast<const T*>(p), p, n);
}

// The [rows, cols] that GraphNorm `norm` normalizes row by row for an activation of `nodes` x `width`.
inline std::pair<std::size_t, std::size_t> graph_norm_shape(GraphNorm norm, int nodes, int width) {
  if (norm == GraphNorm::Whole) return {1, std::size_t(nodes) * std::size_t(width)};
  return {std::size_t(nodes), std::size_t(width)};
}

// y [N, k] = X W^T for sparse X [N, F] and W [k, F] row-major, through the transposed copy wt [F, k] (scratch).
// `values`: X's nonzeros after dropout (nullptr: X's own).
template <class T>
void sparse_input_linear_forward(eigen::CpuContext& ctx, const eigen::SparseRowMatrix<T>& x, const T* w, int k, T* wt,
                                 T* y, const T* values = nullptr) {
  const int F = int(x.cols());
  for (int r = 0; r < k; ++r)
    for (int c = 0; c < F; ++c) wt[std::size_t(c) * k + r] = w[std::size_t(r) * F + c];
  eigen::spmm(ctx, x, wt, k, y, values);
}

// gw [k, F] += (X^T dy)^T for dy [N, k], through gwt [F, k] (scratch); `values` as in the forward.
template <class T>
void sparse_input_linear_backward(eigen::CpuContext& ctx, const eigen::SparseRowMatrix<T>& x, const T* dy, int k,
                                  T* gwt, T* gw, const T* values = nullptr) {
  const int F = int(x.cols());
  std::fill(gwt, gwt + std::size_t(F) * k, T(0));
  eigen::spmm_transposed_add(ctx, x, dy, k, gwt, values);
  for (int r = 0; r < k; ++r)
    for (int c = 0; c < F; ++c) gw[std::size_t(r) * F + c] += gwt[std::size_t(c) * k + r];
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

}  // namespace detail
}  // namespace ist
