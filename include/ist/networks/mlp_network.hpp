#pragma once
// MlpNetwork: forward and backward of an ist::Mlp, or of any width-wise sub-network of it.
//
//   ist::eigen::CpuContext ctx(2);
//   ist::MlpNetwork<Net> net(ctx);
//   net.set_widths({256, 256});                        // kept units per hidden layer (default: all)
//   net.configure(128);                                // batch size
//   auto layout = ist::ModelTraits<Net>::layout(spec); // where each layer's compact tensors start
//   const float* logits = net.forward(params, layout, x);   // x: [128, in_features]
//   ist::eigen::softmax_cross_entropy(128, Net::num_classes, logits, labels, net.dlogits());
//   net.backward(params, grads, layout);               // grads += dL/dparams
//
// A sub-network is dense and smaller: hidden layer l runs with its kept width k_l, on the compact
// tensors of its slices (weight [k_l, k_{l-1}], norm scale and shift [k_l]). No masks.
//
// Hidden layer: z = x W^T (no bias); y = relu(gamma * (z - mean_b) * invstd_b + beta), batch statistics
// in training and in evaluation alike (as IST does; ForwardOptions::bn must be BnStatistics::Batch).
// Classifier: logits = x W^T + b.
// ForwardOptions::residual_scale, when given (one value per layer), scales each layer's input: layer l
// computes s_l * (x W^T). WidthwiseRandom::evaluation_scale sets 1/S on layers whose inputs are split, for
// evaluating the global model; behind a batch norm the scale cancels.
//
// Workspaces are sized by configure() and set_widths() and reused: forward and backward allocate nothing
// once a shape has been seen.
// Gradient contract: parameter gradients accumulate (+=) into `grads`, laid out like `params`.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "ist/backend/eigen/batch_norm_1d.hpp"
#include "ist/backend/eigen/compute.hpp"
#include "ist/core/error.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/model/dense_chain.hpp"
#include "ist/model/mlp.hpp"
#include "ist/model/param_layout.hpp"

namespace ist {

namespace detail {

// MlpNetwork's code for every model of one value type T and compute policy: the model's sizes come as values
// (ChainShape), so it compiles once per (T, Compute), not once per model. MlpNetwork<Model> below adds the
// model's sizes as constants and checks the widths against the model.
template <class T, class Compute>
class MlpNetworkCore {
 public:
  using Context = typename Compute::Context;

  std::span<const int> widths() const noexcept { return widths_; }

  // Batch size. height and width are accepted for the trainer's sake (an image's c*h*w must equal
  // Model::in_features; the trainer checks it); `active` must be empty or all ones (an Mlp has no
  // decomposable blocks).
  void configure(int batch, int /*height*/ = 1, int /*width*/ = 1, std::span<const std::uint8_t> active = {}) {
    IST_CHECK(batch > 0, "ist::MlpNetwork::configure: expected a positive batch size, found ", batch);
    IST_CHECK(active.empty() || active.size() == std::size_t(shape_.num_blocks),
              "ist::MlpNetwork::configure: expected ", shape_.num_blocks, " block flags, found ", active.size());
    for (auto a : active) IST_CHECK(a, "ist::MlpNetwork::configure: an Mlp's layers are never left out");
    batch_ = batch;
    plan_workspace();
  }
  int batch() const noexcept { return batch_; }
  std::span<const std::uint8_t> active() const noexcept { return active_; }
  std::size_t workspace_bytes() const noexcept { return arena_.size() * sizeof(T); }

  // x: [batch, in_features]. Returns logits [batch, classes], valid until the next call.
  const T* forward(const T* params, const ParamLayout& layout, const T* x, const ForwardOptions<T>& opt = {}) {
    check_ready(layout, "forward");
    IST_CHECK(opt.bn == BnStatistics::Batch, "ist::MlpNetwork::forward: IST normalizes with batch statistics; "
              "BnStatistics::Running is not supported");
    IST_CHECK(opt.residual_scale.empty() || opt.residual_scale.size() == std::size_t(shape_.num_blocks),
              "ist::MlpNetwork::forward: expected ", shape_.num_blocks, " input scales (one per layer), found ",
              opt.residual_scale.size());
    input_ = x;
    scale_.assign(std::size_t(shape_.num_blocks), T(1));
    std::copy(opt.residual_scale.begin(), opt.residual_scale.end(), scale_.begin());
    const T* in = x;
    int in_w = shape_.in_features;
    for (int l = 0; l < shape_.num_hidden; ++l) {
      const int k = widths_[std::size_t(l)];
      const T* w = params + layout.block_offset(l);
      const T* gamma = w + std::size_t(k) * in_w;
      const T* beta = gamma + k;
      const Hidden& h = hidden_[std::size_t(l)];
      Compute::linear_forward(*ctx_, batch_, in_w, k, in, w, static_cast<const T*>(nullptr), at(h.z));
      scale(at(h.z), std::size_t(batch_) * k, scale_[std::size_t(l)]);
      Compute::batch_norm_1d_forward_train(*ctx_, batch_, k, at(h.z), gamma, beta, at(h.y), at(h.mean), at(h.invstd),
                                           /*relu=*/true);
      in = at(h.y);
      in_w = k;
    }
    const T* w = params + layout.block_offset(shape_.num_hidden);
    const T* b = w + std::size_t(shape_.num_classes) * in_w;
    T* logits = at(logits_);
    Compute::linear_forward(*ctx_, batch_, in_w, shape_.num_classes, in, w, static_cast<const T*>(nullptr), logits);
    Compute::scale_add_bias(*ctx_, batch_, shape_.num_classes, scale_[std::size_t(shape_.num_hidden)], b, logits);
    return logits;
  }

  // Where the caller writes dL/dlogits before backward(): [batch, classes].
  T* dlogits() { return at(dlogits_); }

  // Backward of the last forward. grads: same layout as params.
  void backward(const T* params, T* grads, const ParamLayout& layout) {
    check_ready(layout, "backward");
    const int last_w = shape_.num_hidden > 0 ? widths_.back() : shape_.in_features;
    const T* last_in = shape_.num_hidden > 0 ? at(hidden_.back().y) : input_;
    {
      const T* w = params + layout.block_offset(shape_.num_hidden);
      T* gw = grads + layout.block_offset(shape_.num_hidden);
      T* gb = gw + std::size_t(shape_.num_classes) * last_w;
      const T* dl = at(dlogits_);
      Compute::bias_grad_add(*ctx_, batch_, shape_.num_classes, dl, gb);
      // The weight sees the gradient times its input scale.
      T* dz = at(grad_b_);
      Compute::scale_copy(*ctx_, std::size_t(batch_) * shape_.num_classes, scale_[std::size_t(shape_.num_hidden)], dl,
                          dz);
      Compute::linear_backward(*ctx_, batch_, last_w, shape_.num_classes, last_in, w, static_cast<const T*>(dz),
                               shape_.num_hidden > 0 ? at(grad_a_) : static_cast<T*>(nullptr), gw,
                               static_cast<T*>(nullptr));
    }
    for (int l = shape_.num_hidden - 1; l >= 0; --l) {
      const int k = widths_[std::size_t(l)];
      const int in_w = l > 0 ? widths_[std::size_t(l) - 1] : shape_.in_features;
      const T* in = l > 0 ? at(hidden_[std::size_t(l) - 1].y) : input_;
      const T* w = params + layout.block_offset(l);
      T* gw = grads + layout.block_offset(l);
      const std::size_t wsize = std::size_t(k) * in_w;
      const Hidden& h = hidden_[std::size_t(l)];
      // grad_a_ holds dL/dy of this layer; dL/dz goes to grad_b_.
      Compute::batch_norm_1d_backward(*ctx_, batch_, k, at(h.z), at(h.y), at(grad_a_), w + wsize, at(h.mean),
                                      at(h.invstd), at(grad_b_), gw + wsize, gw + wsize + k, /*relu=*/true);
      scale(at(grad_b_), std::size_t(batch_) * k, scale_[std::size_t(l)]);
      Compute::linear_backward(*ctx_, batch_, in_w, k, in, w, at(grad_b_),
                               l > 0 ? at(grad_a_) : static_cast<T*>(nullptr), gw, static_cast<T*>(nullptr));
    }
  }

 protected:
  MlpNetworkCore(Context& ctx, const ChainShape& shape, std::vector<int> widths)
      : ctx_(&ctx), shape_(shape), widths_(std::move(widths)) {}
  // Kept units of each hidden layer, checked by the caller.
  void assign_widths(std::vector<int> widths) {
    widths_ = std::move(widths);
    if (batch_ > 0) plan_workspace();
  }

 private:
  struct Hidden {
    std::size_t z = 0, y = 0, mean = 0, invstd = 0;
  };

  void scale(T* p, std::size_t n, T s) {
    if (s != T(1)) Compute::scale_copy(*ctx_, n, s, static_cast<const T*>(p), p);
  }

  void check_ready(const ParamLayout& layout, const char* what) const {
    IST_CHECK(batch_ > 0, "ist::MlpNetwork::", what, ": call configure() first");
    IST_CHECK(layout.num_blocks() == shape_.num_blocks, "ist::MlpNetwork::", what, ": expected a layout of ",
              shape_.num_blocks, " blocks, found ", layout.num_blocks());
    IST_CHECK(layout.size() == expected_params(), "ist::MlpNetwork::", what, ": the layout holds ", layout.size(),
              " values, but the configured widths need ", expected_params(),
              " (was the layout made for another sub-network?)");
  }

  std::size_t expected_params() const {
    std::size_t n = 0;
    int in_w = shape_.in_features;
    for (int k : widths_) {
      n += std::size_t(k) * in_w + 2 * std::size_t(k);
      in_w = k;
    }
    return n + std::size_t(shape_.num_classes) * in_w + shape_.num_classes;
  }

  void plan_workspace() {
    std::size_t off = 0;
    auto take = [&](std::size_t n) {
      const std::size_t at = off;
      off += (n + 15) / 16 * 16;
      return at;
    };
    const std::size_t b = std::size_t(batch_);
    hidden_.assign(std::size_t(shape_.num_hidden), Hidden{});
    std::size_t widest = std::size_t(shape_.num_classes);
    for (int l = 0; l < shape_.num_hidden; ++l) {
      const std::size_t k = std::size_t(widths_[std::size_t(l)]);
      widest = std::max(widest, k);
      Hidden& h = hidden_[std::size_t(l)];
      h.z = take(b * k);
      h.y = take(b * k);
      h.mean = take(k);
      h.invstd = take(k);
    }
    logits_ = take(b * shape_.num_classes);
    dlogits_ = take(b * shape_.num_classes);
    grad_a_ = take(b * widest);
    grad_b_ = take(b * widest);
    if (arena_.size() < off) arena_.resize(off);
    active_.assign(std::size_t(shape_.num_blocks), 1);
  }

  T* at(std::size_t off) { return arena_.data() + off; }

  Context* ctx_;
  ChainShape shape_;
  int batch_ = 0;
  std::vector<int> widths_;
  std::vector<T> scale_;
  std::vector<Hidden> hidden_;
  std::size_t logits_ = 0, dlogits_ = 0, grad_a_ = 0, grad_b_ = 0;
  typename Compute::template Buffer<T> arena_;  // host memory (Eigen) or device memory (CUDA)
  std::vector<std::uint8_t> active_;
  const T* input_ = nullptr;
};

}  // namespace detail

template <class Model, class T = float, class Compute = eigen::Compute>
class MlpNetwork : public detail::MlpNetworkCore<T, Compute> {
  static_assert(is_mlp<Model>::value, "ist::MlpNetwork: Model must be an ist::Mlp<...>");

 public:
  using Context = typename detail::MlpNetworkCore<T, Compute>::Context;
  static constexpr int num_blocks = Model::num_blocks;
  static constexpr int num_classes = Model::num_classes;
  static constexpr int num_hidden = Model::num_hidden;

  explicit MlpNetwork(Context& ctx)
      : detail::MlpNetworkCore<T, Compute>(ctx, detail::chain_shape<Model>(),
                                           detail::hidden_widths<Model>({}, "ist::MlpNetwork")) {}

  // Kept units of each hidden layer (num_hidden values, 1 <= k_l <= U_l). Empty: every layer at full width.
  void set_widths(std::span<const int> kept) {
    this->assign_widths(detail::hidden_widths<Model>(kept, "ist::MlpNetwork::set_widths"));
  }
};

}  // namespace ist
