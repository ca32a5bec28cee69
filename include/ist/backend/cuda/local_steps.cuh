#pragma once
// The worker's inner loop on a GPU: L optimizer steps of a (sub-)network whose parameters, gradients and
// optimizer state live on the device. The same loop as ist::run_local_steps (ist/train/local_steps.hpp);
// the trainer finds this overload through the CudaContext argument.
//
// Per step: the host batch is copied to the context's input slots, then forward, softmax cross-entropy
// (its loss and hits stay on the device), zeroed gradients, backward and the optimizer's update, all queued on
// ctx.stream() without waiting, so the host prepares and queues step i+1 while the GPU runs step i. After the
// last step the L readouts come back in one copy, which waits for the stream: the parameters may be read
// when this returns. A label outside [0, classes) is therefore reported after the L steps, as an error that
// fails the worker's round (its update is dropped or the run stops, by TrainerConfig::on_worker_failure).
#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <vector>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/compute.cuh"
#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/softmax_cross_entropy.cuh"
#include "ist/core/error.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/train/local_steps.hpp"

namespace ist::cuda {

template <class Net, class Opt, class LrOf>
StepStats run_local_steps(CudaContext& ctx, Net& net, Opt& opt, std::span<float> params, std::span<float> grads,
                          const ParamLayout& layout, BatchStream& stream, int steps, const ForwardOptions<float>& fwd,
                          LrOf&& lr_of) {
  IST_CHECK(params.size() == layout.size() && grads.size() == layout.size(), "ist::cuda::run_local_steps: expected "
            "params and grads of ", layout.size(), " values (the layout's size), found ", params.size(), " and ",
            grads.size());
  const std::vector<std::uint8_t> active(net.active().begin(), net.active().end());
  auto* readouts = ctx.step_readouts<detail::LossReadout>(std::size_t(steps));
  StepStats s;
  std::vector<int> batch_sizes;
  batch_sizes.reserve(std::size_t(steps));
  for (int i = 0; i < steps; ++i) {
    const Batch b = stream.next();
    batch_sizes.push_back(b.size);
    if (b.size != net.batch()) net.configure(b.size, b.h, b.w, active);
    const float* x = ctx.upload_input(0, b.x, std::size_t(b.size) * std::size_t(b.c) * b.h * b.w);
    const std::int32_t* y = ctx.upload_input(1, b.y, std::size_t(b.size));
    const float* logits = net.forward(params.data(), layout, x, fwd);
    softmax_cross_entropy_deferred(ctx, b.size, Net::num_classes, logits, y, net.dlogits(), readouts + i);
    IST_CUDA_CHECK(cudaMemsetAsync(grads.data(), 0, grads.size_bytes(), ctx.stream()));
    net.backward(params.data(), grads.data(), layout);
    opt.step(params, std::span<const float>(grads), lr_of(i));
    s.samples += b.size;
    ++s.steps;
  }
  // Waits for the stream; per step the summed cross-entropy, made the batch's mean below.
  const LossResult sums = read_losses(ctx, readouts, std::size_t(steps), Net::num_classes, &s.step_loss);
  for (std::size_t i = 0; i < s.step_loss.size(); ++i) s.step_loss[i] /= double(batch_sizes[i]);
  s.loss_sum = sums.loss;
  s.correct = sums.correct;
  return s;
}

}  // namespace ist::cuda
