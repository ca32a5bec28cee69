#pragma once
// evaluate: loss and accuracy of a (sub-)network on a whole data set, in batches, in data-set order.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/data/batch_iterator.hpp"
#include "ist/data/image_dataset.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/model/param_layout.hpp"

namespace ist {

struct EvalResult {
  double loss = 0;      // mean cross-entropy
  double accuracy = 0;  // fraction correct
  int samples = 0;
};

// Runs `net` (already configured for its active blocks; its batch is reconfigured here) over `data`.
// opt.training is ignored (forced false). With BnStatistics::Batch, each batch is normalized with its
// own statistics (as ResIST evaluates); the result then depends on batch_size.
template <class Net, class T>
EvalResult evaluate(Net& net, const T* params, const ParamLayout& layout, const ImageDataset& data, int batch_size,
                    const Normalization& norm, ForwardOptions<T> opt = {}) {
  opt.training = false;
  BatchIterator it(data, batch_size, norm, Augmentation{}, 0, /*shuffle=*/false, /*drop_last=*/false);
  const std::vector<std::uint8_t> active(net.active().begin(), net.active().end());
  EvalResult r;
  double loss_sum = 0;
  int correct = 0;
  Batch b;
  while (it.next(b)) {
    net.configure(b.size, b.h, b.w, active);
    const T* logits = net.forward(params, layout, b.x, opt);
    const auto l = eigen::softmax_cross_entropy<T>(b.size, Net::num_classes, logits, b.y, nullptr);
    loss_sum += l.loss * b.size;
    correct += l.correct;
    r.samples += b.size;
  }
  r.loss = loss_sum / r.samples;
  r.accuracy = double(correct) / r.samples;
  return r;
}

// The engine calls evaluate(ctx, ...) with its evaluation context, so each compute policy brings its own
// loop: this one for the Eigen policy, ist::cuda::evaluate (ist/backend/cuda/evaluate.cuh, found by
// argument-dependent lookup) for the CUDA one, where params live on the device.
template <class Net, class T>
EvalResult evaluate(eigen::CpuContext&, Net& net, const T* params, const ParamLayout& layout, const ImageDataset& data,
                    int batch_size, const Normalization& norm, ForwardOptions<T> opt = {}) {
  return evaluate(net, params, layout, data, batch_size, norm, opt);
}

namespace detail {
// evaluate(ctx, ...) for the compute policy of `ctx`, found by argument-dependent lookup (for callers whose
// own scope has a member named evaluate).
template <class Context, class Net, class T>
EvalResult evaluate_on(Context& ctx, Net& net, const T* params, const ParamLayout& layout, const ImageDataset& data,
                       int batch_size, const Normalization& norm, const ForwardOptions<T>& opt) {
  return evaluate(ctx, net, params, layout, data, batch_size, norm, opt);
}
}  // namespace detail

}  // namespace ist
