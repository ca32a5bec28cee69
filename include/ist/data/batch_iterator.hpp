#pragma once
// Mini-batches of float images from an ImageDataset: per-epoch shuffling, per-channel normalization and
// random crop / horizontal flip augmentation.
//
// Determinism: the sample order of an epoch is a pure function of (seed, epoch) (Rng(seed, {epoch})), and
// the augmentation of a sample is a pure function of (seed, epoch, sample index), so it does not depend on
// the batch size or on which epochs were run before. Give each worker its own seed, e.g.
// derive_seed(seed, {worker}), for an order that is a function of (seed, worker, epoch).
//
// Memory: every buffer is allocated in the constructor; next() only writes into them, so the pointers in
// Batch stay the same for the iterator's whole life (and are valid until the next call to next()).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/data/image_dataset.hpp"

namespace ist {

// Per-channel normalization: pixel p of channel c becomes (p/255 - mean[c]) / stddev[c].
// Both empty: just p/255.
struct Normalization {
  std::vector<float> mean, stddev;
};

// Fashion-MNIST training-set statistics.
inline Normalization fashion_mnist_normalization() { return {{0.2860f}, {0.3530f}}; }

// CIFAR-10 training-set statistics, as commonly used.
inline Normalization cifar10_normalization() {
  return {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
}

// Per-channel mean and (population) standard deviation of p/255 over the whole data set. A constant
// channel gets stddev 1.
inline Normalization compute_normalization(const ImageDataset& data) {
  IST_CHECK(data.n >= 1 && data.c >= 1 && data.pixels.size() == static_cast<std::size_t>(data.n) * data.image_size(),
            "ist::compute_normalization: ", data.source, ": expected n >= 1 images of ", data.image_size(),
            " bytes, found n = ", data.n, " and ", data.pixels.size(), " pixel bytes");
  const std::size_t hw = static_cast<std::size_t>(data.h) * data.w;
  std::vector<std::uint64_t> hist(static_cast<std::size_t>(data.c) * 256, 0);
  for (int i = 0; i < data.n; ++i) {
    const std::uint8_t* img = data.pixels.data() + static_cast<std::size_t>(i) * data.image_size();
    for (int ch = 0; ch < data.c; ++ch) {
      std::uint64_t* hc = hist.data() + static_cast<std::size_t>(ch) * 256;
      const std::uint8_t* p = img + static_cast<std::size_t>(ch) * hw;
      for (std::size_t k = 0; k < hw; ++k) ++hc[p[k]];
    }
  }
  Normalization norm;
  const double count = static_cast<double>(data.n) * static_cast<double>(hw);
  for (int ch = 0; ch < data.c; ++ch) {
    std::uint64_t s1 = 0, s2 = 0;  // exact integer sums of p and p^2
    for (std::uint64_t v = 0; v < 256; ++v) {
      const std::uint64_t k = hist[static_cast<std::size_t>(ch) * 256 + v];
      s1 += k * v;
      s2 += k * v * v;
    }
    const double mean = static_cast<double>(s1) / count / 255.0;
    const double var = std::max(0.0, static_cast<double>(s2) / count / (255.0 * 255.0) - mean * mean);
    const double sd = std::sqrt(var);
    norm.mean.push_back(static_cast<float>(mean));
    norm.stddev.push_back(sd > 0.0 ? static_cast<float>(sd) : 1.0f);
  }
  return norm;
}

// Training-time augmentation, applied per sample in this order (as torchvision's
// RandomCrop(h, padding=pad_crop) then RandomHorizontalFlip()):
//   pad_crop > 0: pad every side by pad_crop and take a random h x w window (each of the
//                 (2*pad_crop+1)^2 offsets equally likely);
//   hflip:        mirror left-right with probability 0.5.
// Padding choice: padded pixels are raw 0 (black) before normalization, exactly as torchvision pads the
// PIL image with 0 and then applies ToTensor/Normalize; after normalization they hold (0 - mean[c]) / stddev[c]
// (0 when there is no normalization).
struct Augmentation {
  int pad_crop = 0;
  bool hflip = false;
};

// CIFAR-10's usual training augmentation (with cifar10_normalization(), the CIFAR-10 preset): pad by 4,
// take a random 32x32 window, flip half of the images.
inline Augmentation cifar10_augmentation() { return {4, true}; }

// One mini-batch; x: [size, c, h, w] normalized floats, y: [size] labels. Points into the iterator's
// buffers: valid until the next call to next() or the iterator's destruction.
struct Batch {
  const float* x = nullptr;
  const std::int32_t* y = nullptr;
  int size = 0;
  int c = 0, h = 0, w = 0;
};

class BatchIterator {
 public:
  // `data` must outlive the iterator (it is not copied). Starts at epoch 0.
  BatchIterator(const ImageDataset& data, int batch_size, Normalization norm, Augmentation aug, std::uint64_t seed,
                bool shuffle = true, bool drop_last = false)
      : data_(&data),
        batch_size_(batch_size),
        norm_(std::move(norm)),
        aug_(aug),
        seed_(seed),
        shuffle_(shuffle),
        drop_last_(drop_last) {
    constexpr const char* who = "ist::BatchIterator";
    IST_CHECK(data.n >= 1 && data.c >= 1 && data.h >= 1 && data.w >= 1, who, ": ", data.source,
              ": expected a non-empty data set, found n = ", data.n, ", c x h x w = ", data.c, "x", data.h, "x",
              data.w);
    IST_CHECK(data.pixels.size() == static_cast<std::size_t>(data.n) * data.image_size() &&
                  data.labels.size() == static_cast<std::size_t>(data.n),
              who, ": ", data.source, ": expected ", data.n, " images of ", data.image_size(), " bytes and ", data.n,
              " labels, found ", data.pixels.size(), " pixel bytes and ", data.labels.size(), " labels");
    IST_CHECK(batch_size >= 1, who, ": ", data.source, ": expected batch_size >= 1, found ", batch_size);
    IST_CHECK(norm_.mean.size() == norm_.stddev.size() &&
                  (norm_.mean.empty() || norm_.mean.size() == static_cast<std::size_t>(data.c)),
              who, ": ", data.source, ": expected normalization mean and stddev with ", data.c,
              " values each (or both empty), found ", norm_.mean.size(), " and ", norm_.stddev.size());
    for (std::size_t ch = 0; ch < norm_.stddev.size(); ++ch) {
      IST_CHECK(std::isfinite(norm_.mean[ch]) && std::isfinite(norm_.stddev[ch]) && norm_.stddev[ch] > 0.0f, who,
                ": ", data.source, ": expected finite mean and stddev > 0 for channel ", ch, ", found mean ",
                norm_.mean[ch], " and stddev ", norm_.stddev[ch]);
    }
    IST_CHECK(aug_.pad_crop >= 0 && aug_.pad_crop <= std::min(data.h, data.w), who, ": ", data.source,
              ": expected pad_crop in [0, ", std::min(data.h, data.w), "], found ", aug_.pad_crop);

    // Lookup table: raw byte -> normalized float, per channel.
    lut_.resize(static_cast<std::size_t>(data.c) * 256);
    for (int ch = 0; ch < data.c; ++ch) {
      const double mean = norm_.mean.empty() ? 0.0 : norm_.mean[static_cast<std::size_t>(ch)];
      const double sd = norm_.stddev.empty() ? 1.0 : norm_.stddev[static_cast<std::size_t>(ch)];
      for (int v = 0; v < 256; ++v) {
        lut_[static_cast<std::size_t>(ch) * 256 + static_cast<std::size_t>(v)] =
            static_cast<float>((v / 255.0 - mean) / sd);
      }
    }
    const int capacity = std::min(batch_size, data.n);
    x_.assign(static_cast<std::size_t>(capacity) * data.image_size(), 0.0f);
    y_.assign(static_cast<std::size_t>(capacity), 0);
    order_.resize(static_cast<std::size_t>(data.n));
    start_epoch(0);
  }
  // The iterator keeps a pointer to the data set, so it cannot be built from a temporary.
  BatchIterator(ImageDataset&&, int, Normalization, Augmentation, std::uint64_t, bool = true, bool = false) = delete;

  // Rewinds to the start of `epoch`: order = identity, shuffled by Rng(seed, {epoch}) when shuffle is on.
  void start_epoch(std::uint64_t epoch) {
    epoch_ = epoch;
    pos_ = 0;
    std::iota(order_.begin(), order_.end(), 0);
    if (shuffle_) {
      Rng rng(seed_, {epoch});
      rng.shuffle(std::span<std::int32_t>(order_));
    }
  }

  // Positions the iterator before batch `batch` of `epoch`, exactly where next() would be after start_epoch(epoch)
  // and `batch` calls: the order of an epoch depends on (seed, epoch) only, so nothing else is needed.
  void seek(std::uint64_t epoch, int batch) {
    IST_CHECK(batch >= 0, "ist::BatchIterator::seek: expected batch >= 0, found ", batch);
    start_epoch(epoch);
    pos_ = static_cast<int>(std::min<std::int64_t>(std::int64_t(batch) * batch_size_, data_->n));
  }

  // Fills `out` with the next batch of the epoch; false (and `out` untouched) when the epoch is done.
  // The last batch is smaller when batch_size does not divide n, unless drop_last.
  bool next(Batch& out) {
    const int n = data_->n;
    if (pos_ >= n) return false;
    const int size = std::min(batch_size_, n - pos_);
    if (drop_last_ && size < batch_size_) {
      pos_ = n;
      return false;
    }
    const std::size_t image = data_->image_size();
    for (int b = 0; b < size; ++b) {
      const std::int32_t index = order_[static_cast<std::size_t>(pos_ + b)];
      write_sample(index, x_.data() + static_cast<std::size_t>(b) * image);
      y_[static_cast<std::size_t>(b)] = data_->labels[static_cast<std::size_t>(index)];
    }
    pos_ += size;
    out = Batch{x_.data(), y_.data(), size, data_->c, data_->h, data_->w};
    return true;
  }

  int batches_per_epoch() const {
    return drop_last_ ? data_->n / batch_size_ : (data_->n + batch_size_ - 1) / batch_size_;
  }
  int batch_size() const { return batch_size_; }
  int size() const { return data_->n; }  // samples per epoch before drop_last
  std::uint64_t epoch() const { return epoch_; }
  std::uint64_t seed() const { return seed_; }
  const Normalization& normalization() const { return norm_; }
  const Augmentation& augmentation() const { return aug_; }
  // This epoch's sample order (data set indices).
  std::span<const std::int32_t> order() const { return order_; }

 private:
  static constexpr std::uint64_t augment_stream = 0x61756775ULL;  // "augu"

  // Writes sample `index`, normalized and augmented, to dst: [c, h, w].
  void write_sample(std::int32_t index, float* dst) const {
    const int c = data_->c, h = data_->h, w = data_->w;
    const std::size_t hw = static_cast<std::size_t>(h) * w;
    const std::uint8_t* src = data_->pixels.data() + static_cast<std::size_t>(index) * data_->image_size();
    const int pad = aug_.pad_crop;
    if (pad == 0 && !aug_.hflip) {
      for (int ch = 0; ch < c; ++ch) {
        const float* lut = lut_.data() + static_cast<std::size_t>(ch) * 256;
        const std::uint8_t* s = src + static_cast<std::size_t>(ch) * hw;
        float* d = dst + static_cast<std::size_t>(ch) * hw;
        for (std::size_t k = 0; k < hw; ++k) d[k] = lut[s[k]];
      }
      return;
    }
    Rng rng(seed_, {epoch_, static_cast<std::uint64_t>(index), augment_stream});
    int oy = pad, ox = pad;  // window origin in the padded image; pad = centered (no shift)
    if (pad > 0) {
      oy = static_cast<int>(rng.below(static_cast<std::uint64_t>(2 * pad + 1)));
      ox = static_cast<int>(rng.below(static_cast<std::uint64_t>(2 * pad + 1)));
    }
    const bool flip = aug_.hflip && rng.below(2) == 1;
    // out[y][x] = padded[y + oy][cx + ox] with cx = flip ? w-1-x : x; padded[i][j] = raw[i - pad][j - pad].
    for (int ch = 0; ch < c; ++ch) {
      const float* lut = lut_.data() + static_cast<std::size_t>(ch) * 256;
      const float fill = lut[0];
      const std::uint8_t* s = src + static_cast<std::size_t>(ch) * hw;
      float* d = dst + static_cast<std::size_t>(ch) * hw;
      for (int y = 0; y < h; ++y) {
        float* row_out = d + static_cast<std::size_t>(y) * w;
        const int sy = y + oy - pad;
        if (sy < 0 || sy >= h) {
          std::fill(row_out, row_out + w, fill);
          continue;
        }
        const std::uint8_t* row_in = s + static_cast<std::size_t>(sy) * w;
        for (int x = 0; x < w; ++x) {
          const int sx = (flip ? w - 1 - x : x) + ox - pad;
          row_out[x] = (sx >= 0 && sx < w) ? lut[row_in[sx]] : fill;
        }
      }
    }
  }

  const ImageDataset* data_;
  int batch_size_;
  Normalization norm_;
  Augmentation aug_;
  std::uint64_t seed_;
  bool shuffle_;
  bool drop_last_;
  std::uint64_t epoch_ = 0;
  int pos_ = 0;
  std::vector<float> lut_;          // [c, 256]
  std::vector<float> x_;            // [min(batch_size, n), c, h, w]
  std::vector<std::int32_t> y_;     // [min(batch_size, n)]
  std::vector<std::int32_t> order_;  // [n]
};

}  // namespace ist
