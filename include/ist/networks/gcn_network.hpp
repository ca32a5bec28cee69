#pragma once
// GcnNetwork: forward and backward of an ist::Gcn over a whole graph (full batch), or of any width-wise
// sub-network of it, written once against a compute policy (Compute, the third template parameter:
// ist::eigen::Compute by default, or ist::cuda::Compute).
//
//   ist::eigen::CpuContext ctx(2);
//   ist::GcnNetwork<Net> net(ctx);                     // = GcnNetwork<Net, float, ist::eigen::Compute>
//   net.set_widths({128});                             // kept units per hidden layer (default: all)
//   net.configure(graph.num_nodes);
//   ist::GraphForwardOptions opt{.training = true, .dropout = 0.5, .seed = step_seed};
//   const float* logits = net.forward(params, layout, graph.features, graph.adjacency, opt);   // [N, C]
//   ist::eigen::node_cross_entropy(N, C, logits, labels, train_nodes, net.dlogits());
//   net.backward(params, grads, layout);               // grads += dL/dparams
//
// Layer l (W_l: [k_l, k_{l-1}], the compact weight of the sub-network's kept units):
//   D   = dropout(H_{l-1})        training only; for l = 0 the dropout hits the nonzeros of the sparse
//                                 features X (as Kipf's sparse_dropout), and H_{-1} = X
//   Z_l = A_hat (D W_l^T)         sparse A_hat times dense, [N, k_l]
//   H_l = relu(Z_l)               hidden layers, then, with a GraphNorm, the non-affine layer norm:
//         PerNode: each node's k_l values normalized; Whole: the [N, k_l] matrix normalized as one
//         (GIST's F.layer_norm(h, h.shape)). Both are over the sub-network's local width.
//   logits = Z_{L-1}
//
// On the GPU (ist::cuda::Compute, float; from .cu files): ist::cuda::CudaContext ctx; GcnNetwork<Net, float,
// ist::cuda::Compute> net(ctx); params, grads, the returned logits and dlogits() are device memory, and X and
// A_hat stay Eigen matrices of the host, uploaded by forward (cuSPARSE) and kept while the same matrices come
// back (forget_input() after changing one in place); the loss is ist::cuda::node_cross_entropy on device labels.
//
// Workspaces are sized by configure() and set_widths() and reused: forward and backward allocate nothing
// once a shape has been seen (on the GPU, new matrices are uploaded).
// Gradient contract: parameter gradients accumulate (+=) into `grads`, laid out like `params`.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "ist/backend/eigen/compute.hpp"
#include "ist/backend/eigen/sparse_matmul.hpp"
#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/model/dense_chain.hpp"
#include "ist/model/gcn.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/networks/graph_layers.hpp"

namespace ist {

namespace detail {

// GcnNetwork's code for every model of one value type T and compute policy: the model's sizes come as values
// (ChainShape), so it compiles once per (T, Compute), not once per model (gist-gcn has a hundred models of fixed
// widths). GcnNetwork<Model> below adds the model's sizes as constants and checks the widths against the model.
template <class T, class Compute>
class GcnNetworkCore {
 public:
  using Context = typename Compute::Context;
  using Sparse = eigen::SparseRowMatrix<T>;  // X and A_hat: host matrices with either policy

  std::span<const int> widths() const noexcept { return widths_; }

  // The number of nodes of the graphs forward() will see.
  void configure(int num_nodes) {
    IST_CHECK(num_nodes > 0, "ist::GcnNetwork::configure: expected a positive number of nodes, found ", num_nodes);
    nodes_ = num_nodes;
    plan_workspace();
  }
  int num_nodes() const noexcept { return nodes_; }
  std::size_t workspace_bytes() const noexcept { return arena_.size() * sizeof(T); }

  // features: [N, in_features] sparse; adjacency: A_hat [N, N] sparse, both compressed. They must outlive
  // the backward() of this forward. Returns logits [N, classes], valid until the next call.
  // On the GPU, a matrix is uploaded unless it is the one of the last forward (same object, arrays and sizes).
  const T* forward(const T* params, const ParamLayout& layout, const Sparse& features, const Sparse& adjacency,
                   const GraphForwardOptions& opt = {}) {
    check_ready(layout, "forward");
    IST_CHECK(features.rows() == nodes_ && features.cols() == shape_.in_features,
              "ist::GcnNetwork::forward: expected features of ", nodes_, " x ", shape_.in_features, ", found ",
              features.rows(), " x ", features.cols());
    IST_CHECK(adjacency.rows() == nodes_ && adjacency.cols() == nodes_, "ist::GcnNetwork::forward: expected an ",
              nodes_, " x ", nodes_, " adjacency, found ", adjacency.rows(), " x ", adjacency.cols());
    detail::check_graph_forward_options(opt, shape_.num_layers, "ist::GcnNetwork::forward");
    x_.bind(*ctx_, features);
    adjacency_.bind(*ctx_, adjacency);
    trained_ = opt.training;
    opt_ = opt;
    opt_.input_scale = {};
    scale_.assign(std::size_t(shape_.num_layers), T(1));
    for (std::size_t l = 0; l < opt.input_scale.size(); ++l) scale_[l] = T(opt.input_scale[l]);
    dropped_ = opt.training && opt.dropout > 0.0;
    const std::size_t N = std::size_t(nodes_);

    // Layer 0: T_0 = X_d W_0^T through W_0^T [F, k_0] (a transposed copy), Z_0 = A_hat T_0.
    const T* xvals = nullptr;
    if (dropped_) {
      const std::size_t nnz = x_.nnz();
      if (xmask_.size() < nnz) {
        xmask_.resize(nnz);
        xvals_.resize(nnz);
      }
      Compute::dropout_forward(*ctx_, nnz, opt.dropout, derive_seed(opt.seed, {0}), x_.values(), xvals_.data(),
                               xmask_.data());
      xvals = xvals_.data();
    }
    {
      const int k = width(0);
      detail::sparse_input_linear_forward<Compute>(*ctx_, x_.get(), params + layout.block_offset(0), k, at(w0t_),
                                                   at(layers_[0].t), xvals);
      detail::scale_values<Compute>(*ctx_, at(layers_[0].t), N * std::size_t(k), scale_[0]);
      Compute::spmm(*ctx_, adjacency_.get(), static_cast<const T*>(at(layers_[0].t)), k, at(layers_[0].z));
      if (shape_.num_hidden > 0) activate(0);
    }
    for (int l = 1; l < shape_.num_layers; ++l) {
      const Layer& L = layers_[std::size_t(l)];
      const int in_w = width(l - 1), k = width(l);
      const T* h = at(layers_[std::size_t(l) - 1].h);
      const T* d = h;
      if (dropped_) {
        Compute::dropout_forward(*ctx_, N * std::size_t(in_w), opt.dropout, derive_seed(opt.seed, {std::uint64_t(l)}),
                                 h, at(L.d), at(L.mask));
        d = at(L.d);
      }
      Compute::linear_forward(*ctx_, nodes_, in_w, k, d, params + layout.block_offset(l),
                              static_cast<const T*>(nullptr), at(L.t));
      detail::scale_values<Compute>(*ctx_, at(L.t), N * std::size_t(k), scale_[std::size_t(l)]);
      Compute::spmm(*ctx_, adjacency_.get(), static_cast<const T*>(at(L.t)), k, at(L.z));
      if (l < shape_.num_hidden) activate(l);
    }
    return at(layers_.back().z);
  }

  // Drops the uploads of X and A_hat (on the GPU; nothing is kept on the CPU): the next forward uploads them
  // again. Call it after changing either in place; backward() then needs a new forward first.
  void forget_input() {
    x_.forget();
    adjacency_.forget();
    trained_ = false;
  }

  // Where the caller writes dL/dlogits before backward(): [N, classes].
  T* dlogits() { return at(dlogits_); }

  // Backward of the last forward (which must have had training = true). grads: same layout as params.
  void backward(const T* params, T* grads, const ParamLayout& layout) {
    check_ready(layout, "backward");
    IST_CHECK(trained_, "ist::GcnNetwork::backward: needs a forward with training = true first");
    const std::size_t N = std::size_t(nodes_);
    T* g = at(dlogits_);  // dL/d(output of layer l)
    for (int l = shape_.num_layers - 1; l >= 0; --l) {
      const Layer& L = layers_[std::size_t(l)];
      const int k = width(l);
      const std::size_t count = N * std::size_t(k);
      if (l < shape_.num_hidden) {  // through the norm and the ReLU
        if (opt_.norm != GraphNorm::None) {
          const auto [rows, cols] = detail::graph_norm_shape(opt_.norm, nodes_, k);
          Compute::layer_norm_backward(*ctx_, rows, cols, static_cast<const T*>(at(L.h)), static_cast<const T*>(g),
                                       static_cast<const T*>(at(L.invstd)), g);
        }
        const T* z = at(L.z);
        Compute::relu_mask(*ctx_, count, z, static_cast<const T*>(g), g);
      }
      // dT = A_hat^T g
      T* dt = at(g == at(grad_a_) ? grad_b_ : grad_a_);
      Compute::fill_zero(*ctx_, count, dt);
      Compute::spmm_transposed_add(*ctx_, adjacency_.get(), static_cast<const T*>(g), k, dt);
      detail::scale_values<Compute>(*ctx_, dt, count, scale_[std::size_t(l)]);
      T* gw = grads + layout.block_offset(l);
      if (l > 0) {
        const int in_w = width(l - 1);
        const T* d = dropped_ ? at(L.d) : at(layers_[std::size_t(l) - 1].h);
        T* gd = at(dt == at(grad_a_) ? grad_b_ : grad_a_);
        Compute::linear_backward(*ctx_, nodes_, in_w, k, d, params + layout.block_offset(l),
                                 static_cast<const T*>(dt), gd, gw, static_cast<T*>(nullptr));
        if (dropped_)
          Compute::dropout_backward(*ctx_, N * std::size_t(in_w), static_cast<const T*>(at(L.mask)),
                                    static_cast<const T*>(gd), gd);
        g = gd;
      } else {  // dW_0^T [F, k_0] = X_d^T dT
        detail::sparse_input_linear_backward<Compute>(*ctx_, x_.get(), static_cast<const T*>(dt), k, at(gw0t_), gw,
                                                      dropped_ ? static_cast<const T*>(xvals_.data()) : nullptr);
      }
    }
  }

 protected:
  GcnNetworkCore(Context& ctx, const ChainShape& shape, std::vector<int> widths)
      : ctx_(&ctx), shape_(shape), widths_(std::move(widths)) {}
  // Kept units of each hidden layer, checked by the caller.
  void assign_widths(std::vector<int> widths) {
    widths_ = std::move(widths);
    if (nodes_ > 0) plan_workspace();
  }

 private:
  struct Layer {
    std::size_t d = 0, mask = 0;  // dropped input and its mask (l > 0)
    std::size_t t = 0, z = 0;     // D W^T and A_hat D W^T
    std::size_t h = 0;            // hidden: relu(z), normalized in place
    std::size_t mean = 0, invstd = 0;
  };

  int width(int l) const { return l < shape_.num_hidden ? widths_[std::size_t(l)] : shape_.num_classes; }

  void activate(int l) {
    const Layer& L = layers_[std::size_t(l)];
    const int k = width(l);
    const std::size_t count = std::size_t(nodes_) * std::size_t(k);
    const T* z = at(L.z);
    T* h = at(L.h);
    Compute::relu(*ctx_, count, z, h);
    if (opt_.norm != GraphNorm::None) {
      const auto [rows, cols] = detail::graph_norm_shape(opt_.norm, nodes_, k);
      Compute::layer_norm_forward(*ctx_, rows, cols, static_cast<const T*>(h), h, at(L.mean), at(L.invstd));
    }
  }

  void check_ready(const ParamLayout& layout, const char* what) const {
    IST_CHECK(nodes_ > 0, "ist::GcnNetwork::", what, ": call configure() first");
    IST_CHECK(layout.num_blocks() == shape_.num_blocks, "ist::GcnNetwork::", what, ": expected a layout of ",
              shape_.num_blocks, " blocks, found ", layout.num_blocks());
    std::size_t n = 0;
    for (int l = 0; l < shape_.num_layers; ++l)
      n += std::size_t(width(l)) * std::size_t(l > 0 ? width(l - 1) : shape_.in_features);
    IST_CHECK(layout.size() == n, "ist::GcnNetwork::", what, ": the layout holds ", layout.size(),
              " values, but the configured widths need ", n, " (was the layout made for another sub-network?)");
  }

  void plan_workspace() {
    detail::ArenaPlan arena;
    auto take = [&](std::size_t n) { return arena.take(n); };
    const std::size_t N = std::size_t(nodes_);
    layers_.assign(std::size_t(shape_.num_layers), Layer{});
    std::size_t widest = std::size_t(shape_.num_classes);
    for (int l = 0; l < shape_.num_layers; ++l) {
      Layer& L = layers_[std::size_t(l)];
      const std::size_t k = std::size_t(width(l));
      widest = std::max(widest, k);
      if (l > 0) {
        L.d = take(N * std::size_t(width(l - 1)));
        L.mask = take(N * std::size_t(width(l - 1)));
      }
      L.t = take(N * k);
      L.z = take(N * k);
      if (l < shape_.num_hidden) {
        L.h = take(N * k);
        L.mean = take(N);
        L.invstd = take(N);
      }
    }
    w0t_ = take(std::size_t(shape_.in_features) * std::size_t(width(0)));
    gw0t_ = take(std::size_t(shape_.in_features) * std::size_t(width(0)));
    grad_a_ = take(N * widest);
    grad_b_ = take(N * widest);
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
  std::size_t w0t_ = 0, gw0t_ = 0, grad_a_ = 0, grad_b_ = 0, dlogits_ = 0;
  typename Compute::template Buffer<T> arena_, xmask_, xvals_;  // host memory (Eigen) or device memory (CUDA)
  typename Compute::template SparseOperand<T> x_, adjacency_;  // the last forward's X and A_hat
  GraphForwardOptions opt_;
  bool dropped_ = false, trained_ = false;
};

}  // namespace detail

template <class Model, class T = float, class Compute = eigen::Compute>
class GcnNetwork : public detail::GcnNetworkCore<T, Compute> {
  static_assert(is_gcn<Model>::value, "ist::GcnNetwork: Model must be an ist::Gcn<...>");

 public:
  using Context = typename detail::GcnNetworkCore<T, Compute>::Context;
  using Sparse = typename detail::GcnNetworkCore<T, Compute>::Sparse;
  static constexpr int num_blocks = Model::num_blocks;
  static constexpr int num_classes = Model::num_classes;
  static constexpr int num_hidden = Model::num_hidden;
  static constexpr int num_layers = Model::num_layers;

  explicit GcnNetwork(Context& ctx)
      : detail::GcnNetworkCore<T, Compute>(ctx, detail::chain_shape<Model>(),
                                           detail::hidden_widths<Model>({}, "ist::GcnNetwork")) {}

  // Kept units of each hidden layer (num_hidden values, 1 <= k_l <= U_l). Empty: full width.
  void set_widths(std::span<const int> kept) {
    this->assign_widths(detail::hidden_widths<Model>(kept, "ist::GcnNetwork::set_widths"));
  }
};

}  // namespace ist
