#pragma once
// The inner loop every worker runs: L optimizer steps of a (sub-)network on its own batch stream.
// BatchStream turns a BatchIterator into an endless stream that moves to the next epoch when one ends,
// so a worker's data order is a function of (its seed, epoch) only.
#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/backend/eigen/softmax_cross_entropy.hpp"
#include "ist/data/batch_iterator.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/model/param_layout.hpp"

namespace ist {

class BatchStream {
 public:
  explicit BatchStream(BatchIterator& it, std::uint64_t first_epoch = 0) : it_(&it) { it_->start_epoch(first_epoch); }
  // The next batch; starts the next epoch when the current one is exhausted.
  Batch next() {
    Batch b;
    if (!it_->next(b)) {
      it_->start_epoch(it_->epoch() + 1);
      IST_CHECK(it_->next(b), "ist::BatchStream::next: the data set yields no batch (is it smaller than one batch "
                "with drop_last?)");
    }
    return b;
  }
  std::uint64_t epoch() const { return it_->epoch(); }
  // Positions the stream where it is after `steps` calls of next() from epoch 0 (resuming a run).
  void seek_step(std::uint64_t steps) {
    const auto per_epoch = std::uint64_t(it_->batches_per_epoch());
    IST_CHECK(per_epoch > 0, "ist::BatchStream::seek_step: the data set yields no batch");
    it_->seek(steps / per_epoch, int(steps % per_epoch));
  }
  BatchIterator& iterator() { return *it_; }

 private:
  BatchIterator* it_;
};

struct StepStats {
  double loss_sum = 0;  // sum over samples of the cross-entropy
  int correct = 0, samples = 0, steps = 0;
  // One worker's local steps in order: each step's mean loss over its batch (the loss it took the gradient
  // of). operator+= sums the totals above and leaves this alone: it belongs to one worker's run.
  std::vector<double> step_loss;
  double mean_loss() const { return samples ? loss_sum / samples : 0.0; }
  double accuracy() const { return samples ? double(correct) / samples : 0.0; }
  StepStats& operator+=(const StepStats& o) {
    loss_sum += o.loss_sum;
    correct += o.correct;
    samples += o.samples;
    steps += o.steps;
    return *this;
  }
};

// Runs `steps` optimizer steps: forward, softmax cross-entropy, backward, opt.step(params, grads, lr_of(i)).
// net must be configured with the active blocks that `layout` holds; params and grads follow `layout`.
template <class Net, class Opt, class LrOf>
StepStats run_local_steps(Net& net, Opt& opt, std::span<float> params, std::span<float> grads,
                          const ParamLayout& layout, BatchStream& stream, int steps, const ForwardOptions<float>& fwd,
                          LrOf&& lr_of) {
  IST_CHECK(params.size() == layout.size() && grads.size() == layout.size(), "ist::run_local_steps: expected params "
            "and grads of ", layout.size(), " values (the layout's size), found ", params.size(), " and ",
            grads.size());
  const std::vector<std::uint8_t> active(net.active().begin(), net.active().end());
  StepStats s;
  s.step_loss.reserve(std::size_t(steps));
  for (int i = 0; i < steps; ++i) {
    const Batch b = stream.next();
    if (b.size != net.batch()) net.configure(b.size, b.h, b.w, active);
    const float* logits = net.forward(params.data(), layout, b.x, fwd);
    const auto l = eigen::softmax_cross_entropy(b.size, Net::num_classes, logits, b.y, net.dlogits());
    std::fill(grads.begin(), grads.end(), 0.f);
    net.backward(params.data(), grads.data(), layout);
    opt.step(params, std::span<const float>(grads), lr_of(i));
    s.loss_sum += l.loss * b.size;
    s.step_loss.push_back(l.loss);
    s.correct += l.correct;
    s.samples += b.size;
    ++s.steps;
  }
  return s;
}

// The trainer calls run_local_steps(ctx, ...) with its worker's context, so each compute policy brings its
// own loop: this one for the Eigen policy, ist::cuda::run_local_steps (ist/backend/cuda/local_steps.cuh,
// found by argument-dependent lookup) for the CUDA one.
template <class Net, class Opt, class LrOf>
StepStats run_local_steps(eigen::CpuContext&, Net& net, Opt& opt, std::span<float> params, std::span<float> grads,
                          const ParamLayout& layout, BatchStream& stream, int steps, const ForwardOptions<float>& fwd,
                          LrOf&& lr_of) {
  return run_local_steps(net, opt, params, grads, layout, stream, steps, fwd, std::forward<LrOf>(lr_of));
}

}  // namespace ist
