#pragma once
// ImageBatches: the local work of the image families (ist::ResNet, ist::Mlp). Each worker draws its L
// mini-batches from its own endless stream of the training images, whose order is a function of
// (seed, worker, epoch) only; evaluation runs the global model over a test set in batches.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/batch_iterator.hpp"
#include "ist/data/image_dataset.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/model/model_info.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/train/evaluate.hpp"
#include "ist/train/local_steps.hpp"
#include "ist/train/local_work.hpp"
#include "ist/train/trainer_config.hpp"

namespace ist {

struct ImageBatches {
  using Data = ImageDataset;
  using EvalData = ImageDataset;
  static constexpr bool evaluates_on_training_data = false;
  static constexpr std::uint64_t kDataStream = 0x44415441u;  // "DATA"

  struct Worker {
    std::optional<ImageDataset> shard;  // DataSplit::Disjoint: this worker's samples
    std::optional<BatchIterator> batches;
    std::optional<BatchStream> stream;
    ForwardOptions<float> fwd;
    int height = 0, width = 0;  // of the images
  };

  // The seed of worker w's data order: epoch e of worker w is a function of (seed, w, e) only.
  static std::uint64_t worker_data_seed(std::uint64_t seed, int w) {
    return derive_seed(seed, {kDataStream, std::uint64_t(w)});
  }

  static void check(const ModelInfo& info, const ImageDataset& train) {
    IST_CHECK(info.in_channels == 0 || train.c == info.in_channels, "ist::IndependentSubnetTrainer: ", train.source,
              ": expected images with ", info.in_channels, " channels for this model, found ", train.c);
    IST_CHECK(info.in_features == 0 || train.image_size() == std::size_t(info.in_features),
              "ist::IndependentSubnetTrainer: ", train.source, ": expected samples of ", info.in_features,
              " values for this model, found ", train.c, "x", train.h, "x", train.w, " = ", train.image_size());
    IST_CHECK(train.num_classes <= info.num_classes, "ist::IndependentSubnetTrainer: ", train.source,
              ": the data has ", train.num_classes, " classes, the model only ", info.num_classes);
  }

  // With DataSplit::Disjoint, shards differ in size by one sample; every process counts the epoch by the
  // smallest shard (floor(n / S) samples), so ranks agree on schedules and round counts.
  static int steps_per_epoch(const ImageDataset& train, const TrainerConfig& cfg, int workers) {
    const int samples = cfg.data_split == DataSplit::Disjoint && workers > 1 ? train.n / workers : train.n;
    return std::max(1, samples / cfg.batch);
  }

  static void prepare(Worker& wk, const ImageDataset& train, const TrainerConfig& cfg, int w, int workers) {
    const ImageDataset* data = &train;
    if (cfg.data_split == DataSplit::Disjoint && workers > 1) {
      wk.shard = shard_of(train, w, workers);
      data = &*wk.shard;
    }
    IST_CHECK(data->n >= cfg.batch, "ist::IndependentSubnetTrainer: worker ", w, " has ", data->n,
              " training images, fewer than one batch of ", cfg.batch);
    wk.batches.emplace(*data, cfg.batch, cfg.normalization, cfg.augmentation, worker_data_seed(cfg.seed, w),
                       /*shuffle=*/true, /*drop_last=*/true);
    wk.stream.emplace(*wk.batches);
    wk.height = train.h;
    wk.width = train.w;
  }

  static void seek(Worker& wk, std::uint64_t step) { wk.stream->seek_step(step); }

  static bool applies_weight_decay(const TrainerConfig&) { return false; }

  template <class Traits, class Context, class Net, class Opt, class LrOf>
  static StepStats run(Context& ctx, Net& net, Opt& opt, std::span<float> params, std::span<float> grads,
                       const ParamLayout& layout, const SubnetSpec& spec, Worker& wk, const LocalRun& r,
                       LrOf&& lr_of) {
    const TrainerConfig& cfg = *r.config;
    Traits::configure(net, spec, cfg.batch, wk.height, wk.width);
    // The compute policy's loop (ist/train/local_steps.hpp, or ist/backend/cuda/local_steps.cuh by ADL).
    return run_local_steps(ctx, net, opt, params, grads, layout, *wk.stream, r.steps, wk.fwd, lr_of);
  }

  template <class Traits, class Context, class Net>
  static Evaluation evaluate(Context& ctx, Net& net, std::span<const float> params, const SubnetSpec& all,
                             const ParamLayout& layout, const ImageDataset& data, const TrainerConfig& cfg,
                             std::span<const double> scale) {
    Traits::configure(net, all, cfg.eval_batch, data.h, data.w);
    const std::vector<float> residual_scale(scale.begin(), scale.end());
    ForwardOptions<float> opt;
    opt.training = false;
    opt.residual_scale = residual_scale;
    Evaluation e;
    // The compute policy's loop (ist/train/evaluate.hpp, or ist/backend/cuda/evaluate.cuh by ADL).
    e.test = detail::evaluate_on(ctx, net, params.data(), layout, data, cfg.eval_batch, cfg.normalization, opt);
    return e;
  }

  // Worker w of S gets samples w, w + S, w + 2S, ...
  static ImageDataset shard_of(const ImageDataset& data, int w, int S) {
    ImageDataset s;
    s.c = data.c;
    s.h = data.h;
    s.w = data.w;
    s.num_classes = data.num_classes;
    s.class_names = data.class_names;
    s.source = data.source + " (shard " + std::to_string(w) + " of " + std::to_string(S) + ")";
    const std::size_t img = data.image_size();
    for (int i = w; i < data.n; i += S) {
      s.pixels.insert(s.pixels.end(), data.pixels.begin() + std::ptrdiff_t(std::size_t(i) * img),
                      data.pixels.begin() + std::ptrdiff_t(std::size_t(i + 1) * img));
      s.labels.push_back(data.labels[std::size_t(i)]);
    }
    s.n = int(s.labels.size());
    return s;
  }
};

static_assert(LocalWork<ImageBatches>);

}  // namespace ist
