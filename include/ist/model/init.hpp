#pragma once
// Parameter initialization, deterministic for a seed: each tensor draws from its own stream
// Rng(seed, {tensor index}), so a tensor's values do not depend on any other tensor.
//   conv weights:   InitScheme::KaimingNormal (the default): normal, std = sqrt(2 / fan_in)
//                   InitScheme::TorchDefault: uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)], what PyTorch's
//                   Conv2d.reset_parameters draws (kaiming_uniform_ with a = sqrt(5)) and so what the ResIST
//                   reference code trains from; std 1/sqrt(3 fan_in), 2.4x smaller  (fan_in = in_channels * r * r)
//   batch norm:     weight 1, bias 0
//   linear:         weight and bias uniform in [-1/sqrt(in), 1/sqrt(in)]   (PyTorch's default, both schemes)
#include <cmath>
#include <cstdint>
#include <span>

#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/model/model_desc.hpp"

namespace ist {

enum class InitScheme {
  KaimingNormal,  // convolutions: normal, std sqrt(2 / fan_in) (He et al. 2015)
  TorchDefault,   // convolutions: uniform +-1/sqrt(fan_in), as PyTorch's nn.Conv2d initializes itself
};

template <class Model, class T>
void init_params(std::span<T> params, std::uint64_t seed, InitScheme scheme = InitScheme::KaimingNormal) {
  IST_CHECK(params.size() == Model::num_params, "ist::init_params: expected a buffer of ", Model::num_params,
            " parameters, found ", params.size());
  for (std::size_t t = 0; t < Model::tensors.size(); ++t) {
    const TensorDesc& d = Model::tensors[t];
    Rng rng(seed, {std::uint64_t(t)});
    T* p = params.data() + d.offset;
    switch (d.role) {
      case TensorRole::ConvWeight: {
        const double fan_in = double(d.shape[1] * d.shape[2] * d.shape[3]);
        if (scheme == InitScheme::TorchDefault) {
          const double bound = 1.0 / std::sqrt(fan_in);
          for (std::size_t i = 0; i < d.size; ++i) p[i] = T(bound * (2.0 * rng.uniform() - 1.0));
        } else {
          const double stddev = std::sqrt(2.0 / fan_in);
          for (std::size_t i = 0; i < d.size; ++i) p[i] = T(stddev * rng.normal());
        }
        break;
      }
      case TensorRole::BnWeight:
        for (std::size_t i = 0; i < d.size; ++i) p[i] = T(1);
        break;
      case TensorRole::BnBias:
        for (std::size_t i = 0; i < d.size; ++i) p[i] = T(0);
        break;
      case TensorRole::LinearWeight:
      case TensorRole::LinearBias: {
        const int fan_in = Model::blocks[std::size_t(d.block)].in_channels;
        const double bound = 1.0 / std::sqrt(double(fan_in));
        for (std::size_t i = 0; i < d.size; ++i) p[i] = T(bound * (2.0 * rng.uniform() - 1.0));
        break;
      }
    }
  }
}

// Running statistics of every batch norm: mean 0, variance 1.
template <class Model, class T>
void init_bn_stats(std::span<T> stats) {
  IST_CHECK(stats.size() == Model::num_bn_stats, "ist::init_bn_stats: expected ", Model::num_bn_stats,
            " values, found ", stats.size());
  for (const BlockDesc& b : Model::blocks) {
    std::size_t off = b.bn_stats_offset;
    auto norm = [&](int c) {
      for (int i = 0; i < c; ++i) stats[off + std::size_t(i)] = T(0);
      for (int i = 0; i < c; ++i) stats[off + std::size_t(c + i)] = T(1);
      off += std::size_t(2) * c;
    };
    if (b.kind == BlockKind::Basic) {
      norm(b.in_channels);
      norm(b.out_channels);
    } else if (b.kind == BlockKind::Head && b.num_batch_norms == 1) {
      norm(b.in_channels);
    }
  }
}

}  // namespace ist
