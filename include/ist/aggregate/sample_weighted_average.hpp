#pragma once
// SampleWeightedAverage: every parameter becomes the mean over the workers that held it this round,
// each worker weighted by the training samples its local steps used (MergeInput::samples); parameters no
// worker held, or held only by workers of weight 0, keep their values. Without sample counts
// (in.samples empty) every worker weighs 1: the result is HolderAverage's.
//
// It is written as a user's aggregator would be (docs/aggregators.md shows it whole). Sums are taken in
// double in worker order, so the result does not depend on thread timing, and a value returned unchanged by
// every holder comes back bit for bit (integer weights, total below 2^29).
#include <cmath>
#include <span>
#include <string_view>
#include <vector>

#include "ist/aggregate/aggregator.hpp"
#include "ist/core/error.hpp"
#include "ist/decompose/slices.hpp"

namespace ist {

class SampleWeightedAverage {
 public:
  void merge(std::span<float> global, const MergeInput& in) {
    IST_CHECK(in.results.size() == in.slices.size(), "ist::SampleWeightedAverage::merge: expected one result per "
              "worker (", in.slices.size(), "), found ", in.results.size());
    IST_CHECK(in.samples.empty() || in.samples.size() == in.slices.size(), "ist::SampleWeightedAverage::merge: "
              "expected one sample count per worker (", in.slices.size(), "), found ", in.samples.size());
    sums_.assign(global.size(), 0.0);
    weights_.assign(global.size(), 0.0);
    for (std::size_t w = 0; w < in.slices.size(); ++w) {
      const double weight = in.samples.empty() ? 1.0 : in.samples[w];
      IST_CHECK(std::isfinite(weight) && weight >= 0, "ist::SampleWeightedAverage::merge: worker ", w,
                ": expected a sample count >= 0, found ", weight);
      scatter_accumulate(in.results[w], in.slices[w], std::span<double>(sums_), std::span<double>(weights_), weight);
    }
    for (std::size_t i = 0; i < global.size(); ++i)
      if (weights_[i] > 0) global[i] = float(sums_[i] / weights_[i]);
  }
  std::string_view name() const { return "sample-weighted-average"; }

 private:
  std::vector<double> sums_, weights_;
};

static_assert(Aggregator<SampleWeightedAverage>);

}  // namespace ist
