#pragma once
// ResNetNetwork: forward and backward of a pre-activation ResNet (or any sub-network of it) written
// once against a compute policy's ops (ist::eigen::Compute by default).
//
//   ist::eigen::CpuContext ctx(2);
//   ist::ResNetNetwork<Net> net(ctx);
//   net.configure(128, 28, 28);                       // batch and image size; all blocks active
//   auto layout = ist::ParamLayout::full<Net>();
//   const float* logits = net.forward(params, layout, x);
//   auto loss = ist::eigen::softmax_cross_entropy(128, Net::num_classes, logits, labels, net.dlogits());
//   net.backward(params, grads, layout);              // grads += dL/dparams
//
// A sub-network is a set of active blocks (configure's `active`); inactive blocks must be decomposable
// and act as the identity. Parameters are read through a ParamLayout, so the same network runs on the
// global buffer (full layout) or on a worker's compact buffer of just its blocks.
//
// Workspaces (saved activations, gradient temporaries) are sized by configure() and reused: forward and
// backward allocate nothing once a shape has been seen.
//
// Gradient contract: parameter gradients accumulate (+=) into `grads`, laid out like `params`.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ist/backend/eigen/compute.hpp"
#include "ist/core/error.hpp"
#include "ist/core/shape.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/model/resnet.hpp"

namespace ist {

enum class BnStatistics {
  Batch,    // normalize with the batch's statistics (training; ResIST also evaluates this way)
  Running,  // normalize with running statistics (classic evaluation)
};

template <class T>
struct ForwardOptions {
  bool training = true;  // keep what backward needs
  BnStatistics bn = BnStatistics::Batch;
  // Running statistics buffer of Model::num_bn_stats values (see init_bn_stats). With bn == Batch and
  // training, it is updated; with bn == Running, it is used. May be null with bn == Batch.
  T* running_stats = nullptr;
  T running_momentum = T(0.1);
  // Residual-branch scale per block (size Model::num_blocks), or empty for 1 everywhere. ResIST evaluates
  // with 1/S on the partitioned blocks.
  std::span<const T> residual_scale = {};
};

template <class Model, class T = float, class Compute = eigen::Compute>
class ResNetNetwork {
  static_assert(is_resnet<Model>::value, "ist::ResNetNetwork: Model must be an ist::ResNet<...>");

 public:
  using Context = typename Compute::Context;
  template <class U>
  using Buffer = typename Compute::template Buffer<U>;
  static constexpr int num_blocks = Model::num_blocks;
  static constexpr int num_classes = Model::num_classes;

  explicit ResNetNetwork(Context& ctx) : ctx_(&ctx) {}

  // Sets batch size, image size and the active blocks (empty = all). Reuses workspaces when they are
  // large enough; grows them otherwise.
  void configure(int batch, int height, int width, std::span<const std::uint8_t> active = {}) {
    IST_CHECK(batch > 0 && height > 0 && width > 0, "ist::ResNetNetwork::configure: expected positive batch and "
              "image size, found batch ", batch, ", ", height, "x", width);
    IST_CHECK(active.empty() || active.size() == std::size_t(num_blocks), "ist::ResNetNetwork::configure: expected ",
              num_blocks, " block flags, found ", active.size());
    active_.assign(std::size_t(num_blocks), 1);
    for (std::size_t b = 0; b < active.size(); ++b) {
      active_[b] = active[b] ? 1 : 0;
      IST_CHECK(active_[b] || Model::blocks[b].decomposable, "ist::ResNetNetwork::configure: block ", b,
                " is not decomposable, so it must be active");
    }
    batch_ = batch;
    height_ = height;
    width_ = width;
    plan_workspace();
  }

  int batch() const noexcept { return batch_; }
  std::span<const std::uint8_t> active() const noexcept { return active_; }
  std::size_t workspace_bytes() const noexcept { return (arena_.size() + temps_.size()) * sizeof(T); }

  // x: [batch, in_channels, height, width]. Returns logits [batch, classes] (valid until the next call).
  const T* forward(const T* params, const ParamLayout& layout, const T* x, const ForwardOptions<T>& opt = {}) {
    check_ready(layout, "forward");
    IST_CHECK(opt.residual_scale.empty() || opt.residual_scale.size() == std::size_t(num_blocks),
              "ist::ResNetNetwork::forward: expected ", num_blocks, " residual scales, found ",
              opt.residual_scale.size());
    IST_CHECK(opt.bn == BnStatistics::Batch || opt.running_stats,
              "ist::ResNetNetwork::forward: BnStatistics::Running needs a running_stats buffer");
    input_ = x;
    residual_scale_.assign(opt.residual_scale.begin(), opt.residual_scale.end());
    const T* in = x;
    for (int b = 0; b < num_blocks; ++b) {
      if (!active_[std::size_t(b)]) continue;
      const BlockDesc& d = Model::blocks[std::size_t(b)];
      const T* p = params + layout.block_offset(b);
      const Slots& s = slots_[std::size_t(b)];
      const T scale = scale_of(b);
      switch (d.kind) {
        case BlockKind::Stem:
          Compute::conv2d_forward(*ctx_, s.conv1, in, p, at(s.out));
          break;
        case BlockKind::Basic:
          basic_forward(b, d, p, in, s, scale, opt);
          break;
        case BlockKind::Head:
          head_forward(b, p, in, s, opt);
          break;
      }
      in = at(s.out);
    }
    return in;
  }

  // Where the caller writes dL/dlogits before backward(): [batch, classes].
  T* dlogits() { return temps_.data() + dlogits_; }

  // Backward of the last forward (which must have had training = true). grads: same layout as params.
  void backward(const T* params, T* grads, const ParamLayout& layout) {
    check_ready(layout, "backward");
    T* g = dlogits();  // gradient w.r.t. the current block's output
    int which = 0;     // ping-pong buffer for the gradient w.r.t. its input
    for (int b = num_blocks - 1; b >= 0; --b) {
      if (!active_[std::size_t(b)]) continue;
      const BlockDesc& d = Model::blocks[std::size_t(b)];
      const T* p = params + layout.block_offset(b);
      T* gp = grads + layout.block_offset(b);
      const Slots& s = slots_[std::size_t(b)];
      const T* in = s.in == input_slot ? input_ : at(s.in);
      T* dx = temps_.data() + grad_io_[std::size_t(which)];
      switch (d.kind) {
        case BlockKind::Stem:
          Compute::conv2d_backward(*ctx_, s.conv1, in, p, g, static_cast<T*>(nullptr), gp);
          break;
        case BlockKind::Basic:
          basic_backward(b, d, p, gp, in, s, g, dx);
          break;
        case BlockKind::Head:
          head_backward(b, p, gp, in, s, g, dx);
          break;
      }
      g = dx;
      which ^= 1;
    }
  }

 private:
  static constexpr std::size_t input_slot = ~std::size_t{0};

  // Offsets (into arena_) of what a block keeps for backward, and its conv shapes.
  struct Slots {
    std::size_t in = input_slot;  // its input: the previous active block's output
    std::size_t a1 = 0, z1 = 0, a2 = 0, out = 0;
    std::size_t mean1 = 0, invstd1 = 0, mean2 = 0, invstd2 = 0;
    std::size_t pooled = 0;
    ConvShape conv1{}, conv2{}, proj{};
    int hw_in = 0, hw_out = 0;
  };

  T* at(std::size_t off) { return arena_.data() + off; }
  T* tmp(int i) { return temps_.data() + tmp_[std::size_t(i)]; }

  void check_ready(const ParamLayout& layout, const char* what) const {
    IST_CHECK(batch_ > 0, "ist::ResNetNetwork::", what, ": call configure() first");
    IST_CHECK(layout.num_blocks() == num_blocks, "ist::ResNetNetwork::", what, ": expected a layout of ", num_blocks,
              " blocks, found ", layout.num_blocks());
    for (int b = 0; b < num_blocks; ++b)
      IST_CHECK(!active_[std::size_t(b)] || layout.has(b), "ist::ResNetNetwork::", what, ": block ", b,
                " is active but the parameter layout does not hold it");
  }

  void plan_workspace() {
    slots_.assign(std::size_t(num_blocks), Slots{});
    std::size_t arena = 0, largest = 0;
    auto take = [&](std::size_t n) {
      const std::size_t off = arena;
      arena += (n + 15) / 16 * 16;  // keep every tensor 64-byte aligned relative to the arena
      return off;
    };
    const int n = batch_;
    int c = Model::in_channels, h = height_, w = width_;
    std::size_t prev = input_slot;
    for (int b = 0; b < num_blocks; ++b) {
      if (!active_[std::size_t(b)]) continue;
      const BlockDesc& d = Model::blocks[std::size_t(b)];
      Slots& s = slots_[std::size_t(b)];
      s.in = prev;
      s.hw_in = h * w;
      const std::size_t in_size = std::size_t(n) * c * h * w;
      largest = std::max(largest, in_size);
      if (d.kind == BlockKind::Stem) {
        s.conv1 = ConvShape{n, c, h, w, d.out_channels, 3, 1, 1};
        c = d.out_channels;
        s.out = take(std::size_t(n) * c * h * w);
      } else if (d.kind == BlockKind::Basic) {
        s.conv1 = ConvShape{n, c, h, w, d.out_channels, 3, d.stride, 1};
        const int oh = s.conv1.out_h(), ow = s.conv1.out_w();
        s.conv2 = ConvShape{n, d.out_channels, oh, ow, d.out_channels, 3, 1, 1};
        if (d.projection) s.proj = ConvShape{n, c, h, w, d.out_channels, 1, d.stride, 0};
        const std::size_t out_size = std::size_t(n) * d.out_channels * oh * ow;
        s.a1 = take(in_size);
        s.z1 = take(out_size);
        s.a2 = take(out_size);
        s.out = take(out_size);
        s.mean1 = take(std::size_t(c));
        s.invstd1 = take(std::size_t(c));
        s.mean2 = take(std::size_t(d.out_channels));
        s.invstd2 = take(std::size_t(d.out_channels));
        c = d.out_channels;
        h = oh;
        w = ow;
        largest = std::max(largest, out_size);
      } else {  // head
        if (d.num_batch_norms == 1) {
          s.a1 = take(in_size);
          s.mean1 = take(std::size_t(c));
          s.invstd1 = take(std::size_t(c));
        }
        s.pooled = take(std::size_t(n) * c);
        s.out = take(std::size_t(n) * num_classes);
        s.hw_out = h * w;
      }
      prev = s.out;
    }
    // Temporaries for backward: two ping-pong input-gradient buffers, two scratch tensors, dlogits.
    std::size_t t = 0;
    auto take_tmp = [&](std::size_t sz) {
      const std::size_t off = t;
      t += (sz + 15) / 16 * 16;
      return off;
    };
    grad_io_[0] = take_tmp(largest);
    grad_io_[1] = take_tmp(largest);
    tmp_[0] = take_tmp(largest);
    tmp_[1] = take_tmp(largest);
    dlogits_ = take_tmp(std::size_t(n) * num_classes);
    if (arena_.size() < arena) arena_.resize(arena);
    if (temps_.size() < t) temps_.resize(t);
  }

  // Tensors of block b within its parameter slice.
  static const T* tensor(const T* block_params, int b, int local) {
    return block_params + Model::tensor_offset_in_block(b, local);
  }
  static T* tensor(T* block_params, int b, int local) { return block_params + Model::tensor_offset_in_block(b, local); }

  std::size_t bn_stats(int b, int norm) const {
    const BlockDesc& d = Model::blocks[std::size_t(b)];
    return d.bn_stats_offset + (norm == 0 ? 0 : std::size_t(2) * d.in_channels);
  }

  void bn_forward(int b, int norm, const T* gamma, const T* beta, const T* x, T* y, T* mean, T* invstd, int ch,
                  int hw, const ForwardOptions<T>& opt) {
    const BatchNormShape bs{batch_, ch, hw};
    if (opt.bn == BnStatistics::Running) {
      const T* st = opt.running_stats + bn_stats(b, norm);
      Compute::batch_norm_forward_infer(*ctx_, bs, x, gamma, beta, st, st + ch, y, true);
    } else {
      RunningStats<T> rs{};
      if (opt.running_stats && opt.training) {
        T* st = opt.running_stats + bn_stats(b, norm);
        rs = {st, st + ch, opt.running_momentum};
      }
      Compute::batch_norm_forward_train(*ctx_, bs, x, gamma, beta, y, mean, invstd, true, T(1e-5), rs);
    }
  }

  // a1 = relu(bn1(x)); z1 = conv1(a1); a2 = relu(bn2(z1)); out = scale * conv2(a2) + shortcut.
  void basic_forward(int b, const BlockDesc& d, const T* p, const T* x, const Slots& s, T scale,
                     const ForwardOptions<T>& opt) {
    const int hw_out = s.conv2.h * s.conv2.w;
    bn_forward(b, 0, tensor(p, b, 0), tensor(p, b, 1), x, at(s.a1), at(s.mean1), at(s.invstd1), d.in_channels,
               s.hw_in, opt);
    Compute::conv2d_forward(*ctx_, s.conv1, at(s.a1), tensor(p, b, 2), at(s.z1));
    bn_forward(b, 1, tensor(p, b, 3), tensor(p, b, 4), at(s.z1), at(s.a2), at(s.mean2), at(s.invstd2),
               d.out_channels, hw_out, opt);
    Compute::conv2d_forward(*ctx_, s.conv2, at(s.a2), tensor(p, b, 5), at(s.out));
    const std::size_t count = std::size_t(batch_) * d.out_channels * hw_out;
    if (d.projection) {
      T* sc = tmp(0);
      Compute::conv2d_forward(*ctx_, s.proj, at(s.a1), tensor(p, b, 6), sc);
      Compute::residual_add(*ctx_, count, scale, static_cast<const T*>(sc), at(s.out));
    } else {
      Compute::residual_add(*ctx_, count, scale, x, at(s.out));
    }
  }

  void basic_backward(int b, const BlockDesc& d, const T* p, T* gp, const T* x, const Slots& s, const T* dout,
                      T* dx) {
    const int hw_out = s.conv2.h * s.conv2.w;
    const std::size_t out_count = std::size_t(batch_) * d.out_channels * hw_out;
    const T scale = scale_of(b);
    const T* dz2 = dout;
    if (scale != T(1)) {
      Compute::scale_copy(*ctx_, out_count, scale, dout, tmp(0));
      dz2 = tmp(0);
    }
    T* da2 = tmp(1);
    Compute::conv2d_backward(*ctx_, s.conv2, at(s.a2), tensor(p, b, 5), dz2, da2, tensor(gp, b, 5));
    T* dz1 = tmp(0);
    Compute::batch_norm_backward(*ctx_, BatchNormShape{batch_, d.out_channels, hw_out}, at(s.z1), at(s.a2),
                                 static_cast<const T*>(da2), tensor(p, b, 3), at(s.mean2), at(s.invstd2), dz1,
                                 tensor(gp, b, 3), tensor(gp, b, 4), true);
    T* da1 = tmp(1);
    Compute::conv2d_backward(*ctx_, s.conv1, at(s.a1), tensor(p, b, 2), static_cast<const T*>(dz1), da1,
                             tensor(gp, b, 2));
    if (d.projection)
      Compute::conv2d_backward(*ctx_, s.proj, at(s.a1), tensor(p, b, 6), dout, da1, tensor(gp, b, 6), true);
    Compute::batch_norm_backward(*ctx_, BatchNormShape{batch_, d.in_channels, s.hw_in}, x, at(s.a1),
                                 static_cast<const T*>(da1), tensor(p, b, 0), at(s.mean1), at(s.invstd1), dx,
                                 tensor(gp, b, 0), tensor(gp, b, 1), true);
    if (!d.projection) Compute::add_to(*ctx_, std::size_t(batch_) * d.in_channels * s.hw_in, dout, dx);
  }

  // FinalBnRelu: a = relu(bn(x)); NoFinalBn: a = x. pooled = mean of a over hw; logits = fc(pooled).
  void head_forward(int b, const T* p, const T* x, const Slots& s, const ForwardOptions<T>& opt) {
    const int c = Model::blocks[std::size_t(b)].in_channels;
    const T* a = x;
    if constexpr (Model::head_bn_relu) {
      bn_forward(b, 0, tensor(p, b, 0), tensor(p, b, 1), x, at(s.a1), at(s.mean1), at(s.invstd1), c, s.hw_in, opt);
      a = at(s.a1);
    }
    Compute::global_avg_pool_forward(*ctx_, batch_, c, s.hw_in, a, at(s.pooled));
    Compute::linear_forward(*ctx_, batch_, c, num_classes, static_cast<const T*>(at(s.pooled)),
                            tensor(p, b, head_fc), tensor(p, b, head_fc + 1), at(s.out));
  }

  void head_backward(int b, const T* p, T* gp, const T* x, const Slots& s, const T* dlogits, T* dx) {
    const int c = Model::blocks[std::size_t(b)].in_channels;
    T* dpooled = tmp(0);
    Compute::linear_backward(*ctx_, batch_, c, num_classes, static_cast<const T*>(at(s.pooled)),
                             tensor(p, b, head_fc), dlogits, dpooled, tensor(gp, b, head_fc),
                             tensor(gp, b, head_fc + 1));
    if constexpr (Model::head_bn_relu) {
      T* da = tmp(1);
      Compute::global_avg_pool_backward(*ctx_, batch_, c, s.hw_in, static_cast<const T*>(dpooled), da);
      Compute::batch_norm_backward(*ctx_, BatchNormShape{batch_, c, s.hw_in}, x, at(s.a1),
                                   static_cast<const T*>(da), tensor(p, b, 0), at(s.mean1), at(s.invstd1), dx,
                                   tensor(gp, b, 0), tensor(gp, b, 1), true);
    } else {
      Compute::global_avg_pool_backward(*ctx_, batch_, c, s.hw_in, static_cast<const T*>(dpooled), dx);
    }
  }

  // Index of fc.weight among the head's tensors (fc.bias follows it).
  static constexpr int head_fc = Model::head_bn_relu ? 2 : 0;

  T scale_of(int b) const { return residual_scale_.empty() ? T(1) : residual_scale_[std::size_t(b)]; }

  Context* ctx_;
  int batch_ = 0, height_ = 0, width_ = 0;
  std::vector<std::uint8_t> active_;
  std::vector<Slots> slots_;
  Buffer<T> arena_, temps_;
  std::size_t grad_io_[2]{}, tmp_[2]{}, dlogits_ = 0;
  const T* input_ = nullptr;
  std::vector<T> residual_scale_;
};

}  // namespace ist
