#pragma once
// Numerical and performance choices of a CudaContext.
#include <cstddef>

namespace ist::cuda {

// How cuDNN convolution algorithms are chosen, once per convolution shape.
enum class ConvAlgoSearch {
  Heuristic,  // cuDNN's heuristics (cudnnGet*Algorithm_v7): no timing runs, the same choice every run
  Benchmark,  // time the candidates (cudnnFind*Algorithm) at first use: faster steps, choice may vary run to run
};

struct CudaOptions {
  // Float convolutions and GEMMs may use TF32 tensor cores (about 1e-3 relative error instead of float
  // rounding). Off by default, so results agree with the CPU backend to float precision.
  bool allow_tf32 = false;
  // Only cuDNN algorithms whose results are bit-identical run to run (no atomics in the weight
  // gradient), so two runs with the same seed give identical weights. Falls back to any algorithm
  // when a shape has no deterministic one.
  bool deterministic = true;
  ConvAlgoSearch conv_search = ConvAlgoSearch::Heuristic;
  // The largest cuDNN workspace an algorithm may ask for.
  std::size_t workspace_limit = std::size_t(256) << 20;
};

}  // namespace ist::cuda
