#pragma once
// SageNetwork: forward and backward of an ist::Sage (GraphSAGE, mean aggregator) over a whole graph (full
// batch), or of any width-wise sub-network of it, written once against a compute policy (Compute, the third
// template parameter: ist::eigen::Compute by default, or ist::cuda::Compute).
//
//   ist::eigen::CpuContext ctx(2);
//   ist::SageNetwork<Net> net(ctx);                    // = SageNetwork<Net, float, ist::eigen::Compute>
//   net.set_widths({128});                             // kept units per hidden layer (default: all)
//   net.configure(graph.num_nodes);
//   ist::GraphForwardOptions opt{.training = true, .dropout = 0.5, .seed = step_seed};
//   const float* logits = net.forward(params, layout, graph.features, graph.mean_aggregation, opt);  // [N, C]
//   ist::eigen::node_cross_entropy(N, C, logits, labels, train_nodes, net.dlogits());
//   net.backward(params, grads, layout);               // grads += dL/dparams
//
// Layer l (W_l: [k_l, 2 k_{l-1}] and b_l: [k_l], the compact tensors of the sub-network's kept units; M the
// mean-aggregation matrix, any compressed row-major sparse [N, N]: the whole graph's D^-1 A, or a batch's):
//   C_l = [H_{l-1} ‖ M H_{l-1}]   [N, 2 k_{l-1}]; H_{-1} = X, the sparse features, whose C_0 = [X ‖ M X] is
//                                 sparse too: it is built once per (X, M) pair and kept (see forward())
//   D_l = dropout(C_l)            training only (for l = 0 the dropout hits C_0's nonzeros, as Kipf's
//                                 sparse_dropout: the same as dropping the dense C_0, whose zeros stay zero)
//   Z_l = s_l D_l W_l^T + b_l     s_l the input scale (1 in training)
//   H_l = relu(norm(Z_l))         hidden layers; norm is GraphNorm over the sub-network's local width k_l
//                                 (PerNode: each node's k_l values, GIST's nn.LayerNorm; Whole: the [N, k_l]
//                                 matrix as one), or the identity with GraphNorm::None
//   logits = Z_{L-1}
//
// On the GPU (ist::cuda::Compute, float; from .cu files): ist::cuda::CudaContext ctx; SageNetwork<Net, float,
// ist::cuda::Compute> net(ctx); params, grads, the returned logits and dlogits() are device memory, and X and M
// stay Eigen matrices of the host: C_0 = [X ‖ M X] is built on the host and uploaded with M (cuSPARSE, both
// kept while the same (X, M) pair comes back), so the loss is ist::cuda::node_cross_entropy on device labels.
//
// Workspaces are sized by configure() and set_widths() and reused: forward and backward allocate nothing
// once a shape has been seen (building C_0 for a new (X, M) pair allocates, and on the GPU uploads).
// GraphPass::Inference runs layer by layer, in blocks of rows (set_inference_block_rows; by default the whole
// graph at once up to kBlockedInferenceNodes nodes, blocks of kInferenceBlockRows above): H_{l-1} and H_l are
// whole [N, k] buffers, C_l, M H_{l-1} and, with more than one block, C_0 = [X ‖ M X] exist one block at a time,
// so the peak is about 2 k N values (k the widest layer) plus one block. Every row goes through the same
// arithmetic as in the training pass (blocks start at multiples of kInferenceRowAlign rows, so the GEMM's
// panels fall on the same rows), so the logits are the same bit for bit. On the GPU (Compute::sparse_row_blocks
// false) GraphPass::Inference evaluates the whole graph as one block, whatever set_inference_block_rows says.
// Gradient contract: parameter gradients accumulate (+=) into `grads`, laid out like `params`.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <Eigen/SparseCore>

#include "ist/backend/eigen/compute.hpp"
#include "ist/backend/eigen/sparse_matmul.hpp"
#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/model/dense_chain.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/model/sage.hpp"
#include "ist/networks/graph_layers.hpp"

namespace ist {

namespace detail {

// SageNetwork's code for every model of one value type T and compute policy: the model's sizes come as values
// (ChainShape), so it compiles once per (T, Compute), not once per model (gist-gcn has a hundred models of fixed
// widths). SageNetwork<Model> below adds the model's sizes as constants and checks the widths against the model.
template <class T, class Compute>
class SageNetworkCore {
 public:
  using Context = typename Compute::Context;
  using Sparse = eigen::SparseRowMatrix<T>;  // X and M: host matrices with either policy

  std::span<const int> widths() const noexcept { return widths_; }

  // GraphPass::Inference in blocks: graphs of more than kBlockedInferenceNodes nodes are evaluated in blocks of
  // kInferenceBlockRows rows unless set_inference_block_rows says otherwise; block sizes are multiples of
  // kInferenceRowAlign (a multiple of the GEMM's row panels for float and double, AVX2 and AVX-512).
  static constexpr std::size_t kInferenceRowAlign = 48;
  static constexpr std::size_t kInferenceBlockRows = 1024 * kInferenceRowAlign;  // 49,152 rows
  static constexpr int kBlockedInferenceNodes = 1 << 20;

  // Rows per block of GraphPass::Inference (rounded up to a multiple of kInferenceRowAlign); 0: automatic (see
  // above). With one block, [X ‖ M X] is built once and kept while forward() sees the same (X, M) pair; with
  // several it is built block by block on every forward (a block's sparse product costs as much as its rows of
  // the whole one).
  void set_inference_block_rows(std::size_t rows) {
    block_rows_ = (rows + kInferenceRowAlign - 1) / kInferenceRowAlign * kInferenceRowAlign;
    if (nodes_ > 0) plan_workspace();
  }
  // The rows of each inference block (configure() first): the whole graph, or blocks.
  std::size_t inference_block_rows() const noexcept {
    const std::size_t N = std::size_t(nodes_);
    if constexpr (!Compute::sparse_row_blocks) return N;
    const std::size_t b = block_rows_ > 0 ? block_rows_ : nodes_ > kBlockedInferenceNodes ? kInferenceBlockRows : N;
    return std::min(b, N);
  }

  // The number of nodes of the graphs forward() will see, and whether backward() will follow (GraphPass).
  // GraphPass::Inference: forward(training = false) only, in about 4 k N values with one block, about 2 k N
  // with many, instead of about 16 k N (k the widest layer).
  void configure(int num_nodes, GraphPass pass = GraphPass::Training) {
    IST_CHECK(num_nodes > 0, "ist::SageNetwork::configure: expected a positive number of nodes, found ", num_nodes);
    nodes_ = num_nodes;
    pass_ = pass;
    plan_workspace();
  }
  int num_nodes() const noexcept { return nodes_; }
  std::size_t workspace_bytes() const noexcept {
    return (arena_.size() + xmask_.size() + xvals_.size() + std::size_t(input_.nonZeros()) +
            std::size_t(block_input_.nonZeros())) *
           sizeof(T);
  }

  // features: X [N, in_features] sparse; mean_aggregation: M = D^-1 A [N, N] sparse (GraphDataset::
  // mean_aggregation), both compressed. They must outlive the backward() of this forward. The first layer's
  // input [X ‖ M X] is built on the first forward with a pair (X, M) and kept while later calls pass the same
  // two matrices (same objects, sizes and value arrays); call forget_input() after changing either in place.
  // Returns logits [N, classes], valid until the next call.
  const T* forward(const T* params, const ParamLayout& layout, const Sparse& features, const Sparse& mean_aggregation,
                   const GraphForwardOptions& opt = {}) {
    check_ready(layout, "forward");
    IST_CHECK(features.rows() == nodes_ && features.cols() == shape_.in_features,
              "ist::SageNetwork::forward: expected features of ", nodes_, " x ", shape_.in_features, ", found ",
              features.rows(), " x ", features.cols());
    IST_CHECK(mean_aggregation.rows() == nodes_ && mean_aggregation.cols() == nodes_,
              "ist::SageNetwork::forward: expected the mean-aggregation matrix D^-1 A of ", nodes_, " x ", nodes_,
              ", found ", mean_aggregation.rows(), " x ", mean_aggregation.cols(),
              " (build it with ist::mean_aggregation_matrix; load_planetoid fills GraphDataset::mean_aggregation)");
    IST_CHECK(features.isCompressed() && mean_aggregation.isCompressed(),
              "ist::SageNetwork::forward: expected compressed sparse matrices (call makeCompressed())");
    detail::check_graph_forward_options(opt, shape_.num_layers, "ist::SageNetwork::forward");
    IST_CHECK(!opt.training || pass_ == GraphPass::Training,
              "ist::SageNetwork::forward: configured with GraphPass::Inference, so training = false only");
    opt_ = opt;
    opt_.input_scale = {};
    scale_.assign(std::size_t(shape_.num_layers), T(1));
    for (std::size_t l = 0; l < opt.input_scale.size(); ++l) scale_[l] = T(opt.input_scale[l]);
    mean_.bind(*ctx_, mean_aggregation);
    if (pass_ == GraphPass::Inference) return forward_blocks(params, layout, features, mean_aggregation);
    build_input(features, mean_aggregation);
    input_op_.bind(*ctx_, input_);
    dropped_ = opt.training && opt.dropout > 0.0;
    trained_ = opt.training;
    const std::size_t N = std::size_t(nodes_);

    // Layer 0: Z_0 = s_0 dropout([X ‖ M X]) W_0^T + b_0, sparse times the transposed copy of W_0 [2F, k_0].
    const T* xvals = nullptr;
    if (dropped_) {
      const std::size_t nnz = input_op_.nnz();
      if (xmask_.size() < nnz) {
        xmask_.resize(nnz);
        xvals_.resize(nnz);
      }
      Compute::dropout_forward(*ctx_, nnz, opt.dropout, derive_seed(opt.seed, {0}), input_op_.values(), xvals_.data(),
                               xmask_.data());
      xvals = xvals_.data();
    }
    {
      const int k = width(0);
      const T* w = params + layout.block_offset(0);
      detail::sparse_input_linear_forward<Compute>(*ctx_, input_op_.get(), w, k, at(w0t_), at(layers_[0].z), xvals);
      Compute::scale_add_bias(*ctx_, nodes_, k, scale_[0], w + std::size_t(k) * std::size_t(2 * shape_.in_features),
                              at(layers_[0].z));
      if (shape_.num_hidden > 0) activate(0);
    }
    for (int l = 1; l < shape_.num_layers; ++l) {
      const Layer& L = layers_[std::size_t(l)];
      const int in_w = width(l - 1), k = width(l);
      const T* h = at(layers_[std::size_t(l) - 1].h);
      // C = [H ‖ M H], then dropout in place.
      T* agg = at(half_);
      Compute::spmm(*ctx_, mean_.get(), h, in_w, agg);
      T* c = at(L.c);
      Compute::concat_rows(*ctx_, N, std::size_t(in_w), h, std::size_t(in_w), static_cast<const T*>(agg), c);
      if (dropped_)
        Compute::dropout_forward(*ctx_, N * std::size_t(2 * in_w), opt.dropout,
                                 derive_seed(opt.seed, {std::uint64_t(l)}), static_cast<const T*>(c), c, at(L.mask));
      const T* w = params + layout.block_offset(l);
      Compute::linear_forward(*ctx_, nodes_, 2 * in_w, k, static_cast<const T*>(c), w, static_cast<const T*>(nullptr),
                              at(L.z));
      Compute::scale_add_bias(*ctx_, nodes_, k, scale_[std::size_t(l)], w + std::size_t(k) * std::size_t(2 * in_w),
                              at(L.z));
      if (l < shape_.num_hidden) activate(l);
    }
    return at(layers_.back().z);
  }

  // Drops the kept first-layer input [X ‖ M X] (and, on the GPU, the uploads of it and of M): the next forward
  // builds it again. Call it after changing X or M in place; backward() then needs a new forward first.
  void forget_input() {
    input_ = Sparse();
    key_ = InputKey{};
    input_op_.forget();
    block_op_.forget();
    mean_.forget();
    trained_ = false;
  }

  // Where the caller writes dL/dlogits before backward(): [N, classes].
  T* dlogits() { return at(dlogits_); }

  // Backward of the last forward (which must have had training = true). grads: same layout as params.
  void backward(const T* params, T* grads, const ParamLayout& layout) {
    check_ready(layout, "backward");
    IST_CHECK(pass_ == GraphPass::Training, "ist::SageNetwork::backward: configured with GraphPass::Inference");
    IST_CHECK(trained_, "ist::SageNetwork::backward: needs a forward with training = true first");
    const std::size_t N = std::size_t(nodes_);
    T* g = at(dlogits_);  // dL/dZ_l once through the norm and the ReLU
    for (int l = shape_.num_layers - 1; l >= 0; --l) {
      const Layer& L = layers_[std::size_t(l)];
      const int k = width(l);
      const int in_w = l > 0 ? width(l - 1) : shape_.in_features;
      const std::size_t count = N * std::size_t(k);
      if (l < shape_.num_hidden) {  // through the ReLU and the norm
        const T* h = at(L.h);
        Compute::relu_mask(*ctx_, count, h, static_cast<const T*>(g), g);
        if (opt_.norm != GraphNorm::None) {
          const auto [rows, cols] = detail::graph_norm_shape(opt_.norm, nodes_, k);
          Compute::layer_norm_backward(*ctx_, rows, cols, static_cast<const T*>(at(L.y)), static_cast<const T*>(g),
                                       static_cast<const T*>(at(L.invstd)), g);
        }
      }
      T* gw = grads + layout.block_offset(l);
      T* gb = gw + std::size_t(k) * std::size_t(2 * in_w);
      Compute::bias_grad_add(*ctx_, nodes_, k, static_cast<const T*>(g), gb);
      detail::scale_values<Compute>(*ctx_, g, count, scale_[std::size_t(l)]);  // the weight sees s_l dZ
      if (l > 0) {
        T* dc = at(dcat_);
        Compute::linear_backward(*ctx_, nodes_, 2 * in_w, k, static_cast<const T*>(at(L.c)),
                                 params + layout.block_offset(l), static_cast<const T*>(g), dc, gw,
                                 static_cast<T*>(nullptr));
        if (dropped_)
          Compute::dropout_backward(*ctx_, N * std::size_t(2 * in_w), static_cast<const T*>(at(L.mask)),
                                    static_cast<const T*>(dc), dc);
        // dH = dC[:, :in] + M^T dC[:, in:]
        T* dh = at(g == at(grad_a_) ? grad_b_ : grad_a_);
        T* right = at(half_);
        Compute::split_rows(*ctx_, N, std::size_t(in_w), std::size_t(in_w), static_cast<const T*>(dc), dh, right);
        Compute::spmm_transposed_add(*ctx_, mean_.get(), static_cast<const T*>(right), in_w, dh);
        g = dh;
      } else {  // dW_0 [k_0, 2F] += (D_0^T dZ_0)^T
        detail::sparse_input_linear_backward<Compute>(*ctx_, input_op_.get(), static_cast<const T*>(g), k, at(gw0t_),
                                                      gw, dropped_ ? static_cast<const T*>(xvals_.data()) : nullptr);
      }
    }
  }

 protected:
  SageNetworkCore(Context& ctx, const ChainShape& shape, std::vector<int> widths)
      : ctx_(&ctx), shape_(shape), widths_(std::move(widths)) {}
  // Kept units of each hidden layer, checked by the caller.
  void assign_widths(std::vector<int> widths) {
    widths_ = std::move(widths);
    if (nodes_ > 0) plan_workspace();
  }

 private:
  struct Layer {
    std::size_t c = 0, mask = 0;       // l > 0: the (dropped) concatenation [H ‖ M H] and its dropout mask
    std::size_t z = 0;                 // D W^T + b
    std::size_t y = 0;                 // hidden: norm(z)
    std::size_t h = 0;                 // hidden: relu(y)
    std::size_t mean = 0, invstd = 0;  // hidden: the norm's statistics
  };
  // What identifies the (X, M) pair the kept [X ‖ M X] was built from.
  struct InputKey {
    const Sparse* x = nullptr;
    const Sparse* m = nullptr;
    const T* x_values = nullptr;
    const T* m_values = nullptr;
    Eigen::Index x_nnz = -1, m_nnz = -1, rows = -1;
    bool operator==(const InputKey&) const = default;
  };

  int width(int l) const { return l < shape_.num_hidden ? widths_[std::size_t(l)] : shape_.num_classes; }

  // GraphPass::Inference (see the top of the file): layer l's rows [r, r + b) from H_{l-1} whole, written to H_l;
  // then the norm and the ReLU over the whole H_l (GraphNorm::Whole needs all of it), in place.
  const T* forward_blocks(const T* params, const ParamLayout& layout, const Sparse& x, const Sparse& m) {
    const std::size_t N = std::size_t(nodes_);
    const std::size_t B = inference_block_rows();
    const bool whole = B >= N;
    const int F = shape_.in_features;
    T* prev = at(inf_prev_);
    T* next = at(inf_next_);
    if (whole) {
      build_input(x, m);  // kept while the same (X, M) pair comes back
      input_op_.bind(*ctx_, input_);
    } else {
      input_ = Sparse();  // a kept whole-graph [X ‖ M X] would defeat the blocks
      key_ = InputKey{};
      input_op_.forget();
    }
    for (int l = 0; l < shape_.num_layers; ++l) {
      const int k = width(l);
      const T* w = params + layout.block_offset(l);
      const int in_w = l > 0 ? width(l - 1) : F;
      for (std::size_t r = 0; r < N; r += B) {
        const std::size_t b = std::min(B, N - r);
        T* z = next + r * std::size_t(k);  // Z_l's rows [r, r + b)
        if (l == 0) {
          if (!whole) {
            build_block_input(x, m, r, b);
            block_op_.forget();  // rebuilt in the same object
            block_op_.bind(*ctx_, block_input_);
          }
          detail::sparse_input_linear_forward<Compute>(*ctx_, whole ? input_op_.get() : block_op_.get(), w, k,
                                                       at(w0t_), z);
        } else {
          // C = [H ‖ M H] for the block; M H goes first to Z's rows from r on (free until Z is written: b x in_w
          // values from r k end before (r + b) x widest, inside the buffer).
          T* agg = z;
          Compute::spmm_rows(*ctx_, mean_.get(), std::ptrdiff_t(r), std::ptrdiff_t(b), static_cast<const T*>(prev),
                             in_w, agg);
          T* c = at(inf_c_);
          const T* h = prev + r * std::size_t(in_w);
          Compute::concat_rows(*ctx_, b, std::size_t(in_w), h, std::size_t(in_w), static_cast<const T*>(agg), c);
          Compute::linear_forward(*ctx_, int(b), 2 * in_w, k, static_cast<const T*>(c), w,
                                  static_cast<const T*>(nullptr), z);
        }
        Compute::scale_add_bias(*ctx_, int(b), k, scale_[std::size_t(l)], w + std::size_t(k) * std::size_t(2 * in_w),
                                z);
      }
      if (l < shape_.num_hidden) {  // H_l = relu(norm(Z_l)), in place
        const std::size_t count = N * std::size_t(k);
        if (opt_.norm != GraphNorm::None) {
          const auto [rows, cols] = detail::graph_norm_shape(opt_.norm, nodes_, k);
          Compute::layer_norm_forward(*ctx_, rows, cols, static_cast<const T*>(next), next, at(inf_mean_),
                                      at(inf_invstd_));
        }
        Compute::relu(*ctx_, count, static_cast<const T*>(next), next);
      }
      std::swap(prev, next);
    }
    return prev;
  }

  // block_input_ = rows [r, r + b) of [X ‖ M X], as build_input makes them (the same sparse product, row for row).
  void build_block_input(const Sparse& x, const Sparse& m, std::size_t r, std::size_t b) {
    const Eigen::Index r0 = Eigen::Index(r), rows = Eigen::Index(b);
    const Sparse xb = x.middleRows(r0, rows);
    const Sparse mx = m.middleRows(r0, rows) * x;
    join_input(xb, mx, block_input_);
  }

  // input_ = [X ‖ M X] [N, 2F], compressed, row by row: X's entries, then M X's shifted by F.
  void build_input(const Sparse& x, const Sparse& m) {
    const InputKey key{&x, &m, x.valuePtr(), m.valuePtr(), x.nonZeros(), m.nonZeros(), x.rows()};
    if (key == key_) return;
    input_op_.forget();  // input_ is rebuilt in the same object
    const Sparse mx = m * x;
    join_input(x, mx, input_);
    key_ = key;
  }

  // out = [x ‖ mx], row by row: x's entries (columns < F), then mx's shifted by F; both sorted, so the row is.
  void join_input(const Sparse& x, const Sparse& mx, Sparse& out) const {
    const int F = shape_.in_features;
    out = Sparse(x.rows(), 2 * F);
    out.resizeNonZeros(x.nonZeros() + mx.nonZeros());
    int at = 0;
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      out.outerIndexPtr()[i] = at;
      for (typename Sparse::InnerIterator it(x, i); it; ++it, ++at) {
        out.innerIndexPtr()[at] = int(it.col());
        out.valuePtr()[at] = it.value();
      }
      for (typename Sparse::InnerIterator it(mx, i); it; ++it, ++at) {
        out.innerIndexPtr()[at] = int(it.col()) + F;
        out.valuePtr()[at] = it.value();
      }
    }
    out.outerIndexPtr()[x.rows()] = at;
  }

  void activate(int l) {
    const Layer& L = layers_[std::size_t(l)];
    const int k = width(l);
    const std::size_t count = std::size_t(nodes_) * std::size_t(k);
    const T* y = at(L.z);
    if (opt_.norm != GraphNorm::None) {
      const auto [rows, cols] = detail::graph_norm_shape(opt_.norm, nodes_, k);
      Compute::layer_norm_forward(*ctx_, rows, cols, y, at(L.y), at(L.mean), at(L.invstd));
      y = at(L.y);
    }
    T* h = at(L.h);
    Compute::relu(*ctx_, count, y, h);
  }

  void check_ready(const ParamLayout& layout, const char* what) const {
    IST_CHECK(nodes_ > 0, "ist::SageNetwork::", what, ": call configure() first");
    IST_CHECK(layout.num_blocks() == shape_.num_blocks, "ist::SageNetwork::", what, ": expected a layout of ",
              shape_.num_blocks, " blocks, found ", layout.num_blocks());
    std::size_t n = 0;
    for (int l = 0; l < shape_.num_layers; ++l)
      n += std::size_t(width(l)) * (2 * std::size_t(l > 0 ? width(l - 1) : shape_.in_features) + 1);
    IST_CHECK(layout.size() == n, "ist::SageNetwork::", what, ": the layout holds ", layout.size(),
              " values, but the configured widths need ", n, " (was the layout made for another sub-network?)");
  }

  void plan_workspace() {
    detail::ArenaPlan arena;
    const std::size_t N = std::size_t(nodes_);
    layers_.assign(std::size_t(shape_.num_layers), Layer{});
    if (pass_ == GraphPass::Inference) {
      // forward_blocks: H_{l-1} and H_l whole, C for one block; M H_{l-1} goes to H_l's rows of the block.
      std::size_t widest = std::size_t(shape_.num_classes);
      for (int l = 0; l < shape_.num_hidden; ++l) widest = std::max(widest, std::size_t(width(l)));
      const std::size_t B = inference_block_rows();
      inf_prev_ = arena.take(N * widest);
      inf_next_ = arena.take(N * widest);
      inf_c_ = arena.take(B * 2 * widest);
      inf_mean_ = arena.take(N);
      inf_invstd_ = arena.take(N);
      w0t_ = arena.take(2 * std::size_t(shape_.in_features) * std::size_t(width(0)));
      half_ = gw0t_ = grad_a_ = grad_b_ = dcat_ = dlogits_ = 0;
      detail::fit_buffer(arena_, arena.size);
      return;
    }
    std::size_t widest = std::size_t(shape_.num_classes);
    for (int l = 0; l < shape_.num_layers; ++l) {
      Layer& L = layers_[std::size_t(l)];
      const std::size_t k = std::size_t(width(l));
      widest = std::max(widest, k);
      if (l > 0) {
        L.c = arena.take(N * 2 * std::size_t(width(l - 1)));
        L.mask = arena.take(N * 2 * std::size_t(width(l - 1)));
      }
      L.z = arena.take(N * k);
      if (l < shape_.num_hidden) {
        L.y = arena.take(N * k);
        L.h = arena.take(N * k);
        L.mean = arena.take(N);
        L.invstd = arena.take(N);
      }
    }
    w0t_ = arena.take(2 * std::size_t(shape_.in_features) * std::size_t(width(0)));
    gw0t_ = arena.take(2 * std::size_t(shape_.in_features) * std::size_t(width(0)));
    grad_a_ = arena.take(N * widest);
    grad_b_ = arena.take(N * widest);
    half_ = arena.take(N * widest);
    dcat_ = arena.take(N * 2 * widest);
    dlogits_ = grad_a_;  // the caller's dL/dlogits is the first gradient buffer
    if (arena_.size() < arena.size) arena_.resize(arena.size);
  }

  T* at(std::size_t off) { return arena_.data() + off; }

  Context* ctx_;
  ChainShape shape_;
  int nodes_ = 0;
  std::vector<int> widths_;
  std::vector<T> scale_;
  std::vector<Layer> layers_;
  std::size_t w0t_ = 0, gw0t_ = 0, grad_a_ = 0, grad_b_ = 0, half_ = 0, dcat_ = 0, dlogits_ = 0;
  std::size_t inf_prev_ = 0, inf_next_ = 0, inf_c_ = 0, inf_mean_ = 0, inf_invstd_ = 0;  // GraphPass::Inference
  std::size_t block_rows_ = 0;  // set_inference_block_rows (0: automatic)
  typename Compute::template Buffer<T> arena_, xmask_, xvals_;  // host memory (Eigen) or device memory (CUDA)
  Sparse input_;        // [X ‖ M X], on the host
  Sparse block_input_;  // GraphPass::Inference in blocks: one block's rows of it
  InputKey key_;
  // The policy's operands: input_, block_input_ and the last forward's M (on the GPU: their device copies).
  typename Compute::template SparseOperand<T> input_op_, block_op_, mean_;
  GraphForwardOptions opt_;
  bool dropped_ = false, trained_ = false;
  GraphPass pass_ = GraphPass::Training;
};

}  // namespace detail

template <class Model, class T = float, class Compute = eigen::Compute>
class SageNetwork : public detail::SageNetworkCore<T, Compute> {
  static_assert(is_sage<Model>::value, "ist::SageNetwork: Model must be an ist::Sage<...>");

 public:
  using Context = typename detail::SageNetworkCore<T, Compute>::Context;
  using Sparse = typename detail::SageNetworkCore<T, Compute>::Sparse;
  static constexpr int num_blocks = Model::num_blocks;
  static constexpr int num_classes = Model::num_classes;
  static constexpr int num_hidden = Model::num_hidden;
  static constexpr int num_layers = Model::num_layers;

  explicit SageNetwork(Context& ctx)
      : detail::SageNetworkCore<T, Compute>(ctx, detail::chain_shape<Model>(),
                                            detail::hidden_widths<Model>({}, "ist::SageNetwork")) {}

  // Kept units of each hidden layer (num_hidden values, 1 <= k_l <= U_l). Empty: full width.
  void set_widths(std::span<const int> kept) {
    this->assign_widths(detail::hidden_widths<Model>(kept, "ist::SageNetwork::set_widths"));
  }
};

}  // namespace ist
