#pragma once
// Slices: the pieces of the global parameter buffer that a worker holds, in the order its compact
// buffer stores them. A TensorSlice views a tensor as a row-major matrix [num_rows x num_cols] at
// `offset` and keeps the listed rows and columns (empty list = all). A whole block of a ResNet is one
// slice with 1 row; a width-wise cut of W_l keeps rows = units of layer l, cols = units of layer l-1.
//
// gather() copies global -> compact; scatter_accumulate() adds compact values into per-element sums
// and holder counts (HolderAverage divides them), or, given a weight, weighted values into sums and the
// weight into per-element weight totals (SampleWeightedAverage divides those); scatter() writes
// compact -> global.
#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

#include "ist/core/error.hpp"

namespace ist {

struct TensorSlice {
  std::size_t offset = 0;
  int num_rows = 1, num_cols = 0;
  std::vector<int> rows, cols;  // kept indices, sorted; empty = all

  std::size_t kept_rows() const noexcept { return rows.empty() ? std::size_t(num_rows) : rows.size(); }
  std::size_t kept_cols() const noexcept { return cols.empty() ? std::size_t(num_cols) : cols.size(); }
  std::size_t size() const noexcept { return kept_rows() * kept_cols(); }
};

struct SliceSet {
  std::vector<TensorSlice> slices;
  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (const auto& s : slices) n += s.size();
    return n;
  }
};

namespace detail {
// Calls f(global_index, compact_index, run_length) for every contiguous run of the slice set.
template <class F>
void for_each_run(const SliceSet& set, F&& f) {
  std::size_t c = 0;
  for (const auto& s : set.slices) {
    const std::size_t kr = s.kept_rows();
    for (std::size_t i = 0; i < kr; ++i) {
      const std::size_t r = s.rows.empty() ? i : std::size_t(s.rows[i]);
      const std::size_t row_start = s.offset + r * std::size_t(s.num_cols);
      if (s.cols.empty()) {
        f(row_start, c, std::size_t(s.num_cols));
        c += std::size_t(s.num_cols);
      } else {
        for (int col : s.cols) f(row_start + std::size_t(col), c++, std::size_t(1));
      }
    }
  }
}
}  // namespace detail

template <class T>
void gather(std::span<const T> global, const SliceSet& set, std::span<T> compact) {
  IST_CHECK(compact.size() == set.size(), "ist::gather: expected a compact buffer of ", set.size(), " values, found ",
            compact.size());
  detail::for_each_run(set, [&](std::size_t g, std::size_t c, std::size_t n) {
    std::memcpy(compact.data() + c, global.data() + g, n * sizeof(T));
  });
}

template <class T>
void scatter(std::span<const T> compact, const SliceSet& set, std::span<T> global) {
  IST_CHECK(compact.size() == set.size(), "ist::scatter: expected a compact buffer of ", set.size(),
            " values, found ", compact.size());
  detail::for_each_run(set, [&](std::size_t g, std::size_t c, std::size_t n) {
    std::memcpy(global.data() + g, compact.data() + c, n * sizeof(T));
  });
}

// sums[g] += compact[c]; holders[g] += 1 for every element the set covers.
template <class T>
void scatter_accumulate(std::span<const T> compact, const SliceSet& set, std::span<double> sums,
                        std::span<int> holders) {
  IST_CHECK(compact.size() == set.size(), "ist::scatter_accumulate: expected a compact buffer of ", set.size(),
            " values, found ", compact.size());
  detail::for_each_run(set, [&](std::size_t g, std::size_t c, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      sums[g + i] += double(compact[c + i]);
      holders[g + i] += 1;
    }
  });
}

// sums[g] += weight * compact[c]; weights[g] += weight for every element the set covers. A weighted mean
// is sums[g] / weights[g] where weights[g] > 0. Integer weights keep split-then-merge exact: k holders
// that all return x give back exactly x while the weights' total is below 2^29.
template <class T>
void scatter_accumulate(std::span<const T> compact, const SliceSet& set, std::span<double> sums,
                        std::span<double> weights, double weight) {
  IST_CHECK(compact.size() == set.size(), "ist::scatter_accumulate: expected a compact buffer of ", set.size(),
            " values, found ", compact.size());
  detail::for_each_run(set, [&](std::size_t g, std::size_t c, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      sums[g + i] += weight * double(compact[c + i]);
      weights[g + i] += weight;
    }
  });
}

}  // namespace ist
