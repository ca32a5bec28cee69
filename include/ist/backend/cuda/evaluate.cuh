#pragma once
// Evaluation on a GPU: the global model's loss and accuracy on a whole data set, in batches, in data-set
// order, with the parameters in device memory. The same loop as ist::evaluate (ist/train/evaluate.hpp); the
// engine finds this overload through the CudaContext argument. Each batch is uploaded and run forward, its
// loss and hits stay on the device (deferred readouts), and one copy at the end brings them back.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ist/backend/cuda/cuda_context.cuh"
#include "ist/backend/cuda/softmax_cross_entropy.cuh"
#include "ist/data/batch_iterator.hpp"
#include "ist/data/image_dataset.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/train/evaluate.hpp"

namespace ist::cuda {

template <class Net>
EvalResult evaluate(CudaContext& ctx, Net& net, const float* params, const ParamLayout& layout,
                    const ImageDataset& data, int batch_size, const Normalization& norm, ForwardOptions<float> opt = {}) {
  opt.training = false;
  BatchIterator it(data, batch_size, norm, Augmentation{}, 0, /*shuffle=*/false, /*drop_last=*/false);
  const std::vector<std::uint8_t> active(net.active().begin(), net.active().end());
  const std::size_t batches = (std::size_t(data.n) + std::size_t(batch_size) - 1) / std::size_t(batch_size);
  auto* readouts = ctx.step_readouts<detail::LossReadout>(batches);
  EvalResult r;
  std::size_t i = 0;
  Batch b;
  while (it.next(b)) {
    net.configure(b.size, b.h, b.w, active);
    const float* x = ctx.upload_input(0, b.x, std::size_t(b.size) * std::size_t(b.c) * b.h * b.w);
    const std::int32_t* y = ctx.upload_input(1, b.y, std::size_t(b.size));
    const float* logits = net.forward(params, layout, x, opt);
    softmax_cross_entropy_deferred(ctx, b.size, Net::num_classes, logits, y, net.dlogits(), readouts + i);
    r.samples += b.size;
    ++i;
  }
  const LossResult sums = read_losses(ctx, readouts, i, Net::num_classes);  // waits for the stream
  if (r.samples > 0) {
    r.loss = sums.loss / r.samples;
    r.accuracy = double(sums.correct) / r.samples;
  }
  return r;
}

}  // namespace ist::cuda
