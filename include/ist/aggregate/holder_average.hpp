#pragma once
// HolderAverage: every parameter becomes the mean over the workers that held it this round; parameters
// no worker held keep their values. Sums are taken in double in worker order, so a value held by k
// workers that all returned x comes back as exactly x (split-then-merge is the identity), and the
// result does not depend on thread timing.
#include <algorithm>
#include <span>
#include <string_view>
#include <vector>

#include "ist/aggregate/aggregator.hpp"

namespace ist {

class HolderAverage {
 public:
  void merge(std::span<float> global, const MergeInput& in) {
    IST_CHECK(in.slices.size() == in.results.size(), "ist::HolderAverage::merge: expected one result per worker (",
              in.slices.size(), "), found ", in.results.size());
    sums_.assign(global.size(), 0.0);
    holders_.assign(global.size(), 0);
    for (std::size_t w = 0; w < in.slices.size(); ++w)
      scatter_accumulate(in.results[w], in.slices[w], std::span<double>(sums_), std::span<int>(holders_));
    for (std::size_t i = 0; i < global.size(); ++i)
      if (holders_[i] > 0) global[i] = float(sums_[i] / holders_[i]);
  }
  std::string_view name() const { return "holder-average"; }

 private:
  std::vector<double> sums_;
  std::vector<int> holders_;
};

}  // namespace ist
