#pragma once
// tensor_segments: where each of the model's tensors lies in a worker's compact buffer, given the slices of
// its sub-network. A layer-wise optimizer (NovoGrad) keeps one value per tensor; the segments tell it which
// values of the compact buffer form one tensor (the part of it the worker holds).
#include <algorithm>
#include <cstddef>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/model/model_info.hpp"
#include "ist/optim/optimizer.hpp"

namespace ist {

// The segments tile [0, set.size()) in order: one per tensor the slices touch (a tensor the slices take in
// several runs, such as the kept rows of a weight, is one segment: its runs are adjacent in the compact
// buffer).
// A model whose info lists no tensors is one tensor.
inline optim::TensorSegments tensor_segments(const ModelInfo& info, const SliceSet& set) {
  if (info.tensors.empty()) return optim::whole_buffer(set.size());
  optim::TensorSegments out;
  int last_tensor = -1;
  auto tensor_of = [&](std::size_t global) {
    // info.tensors are in offset order; the last one starting at or before `global`.
    const auto it = std::upper_bound(info.tensors.begin(), info.tensors.end(), global,
                                     [](std::size_t g, const TensorInfo& t) { return g < t.offset; });
    IST_CHECK(it != info.tensors.begin(), "ist::tensor_segments: parameter ", global, " of model ", info.name,
              " precedes its first tensor");
    return int(it - info.tensors.begin()) - 1;
  };
  detail::for_each_run(set, [&](std::size_t g, std::size_t c, std::size_t n) {
    while (n > 0) {
      const int t = tensor_of(g);
      const TensorInfo& ti = info.tensors[std::size_t(t)];
      IST_CHECK(g < ti.offset + ti.size, "ist::tensor_segments: parameter ", g, " of model ", info.name,
                " lies in no tensor");
      const std::size_t take = std::min(n, ti.offset + ti.size - g);
      if (t == last_tensor && !out.empty() && out.back().offset + out.back().size == c) {
        out.back().size += take;
      } else {
        out.push_back({c, take});
        last_tensor = t;
      }
      g += take;
      c += take;
      n -= take;
    }
  });
  return out;
}

}  // namespace ist
