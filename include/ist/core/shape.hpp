#pragma once
// Shapes of the tensors that layers exchange. All activations are NCHW float tensors.
#include <cstddef>

namespace ist {

// A 2-D convolution: input [n, c, h, w], weight [k, c, r, r], output [n, k, out_h(), out_w()].
struct ConvShape {
  int n = 0, c = 0, h = 0, w = 0;  // input
  int k = 0;                       // output channels
  int r = 3;                       // square kernel size
  int stride = 1;
  int pad = 1;

  constexpr int out_h() const noexcept { return (h + 2 * pad - r) / stride + 1; }
  constexpr int out_w() const noexcept { return (w + 2 * pad - r) / stride + 1; }
  constexpr std::size_t in_size() const noexcept { return std::size_t(n) * c * h * w; }
  constexpr std::size_t out_size() const noexcept { return std::size_t(n) * k * out_h() * out_w(); }
  constexpr std::size_t weight_size() const noexcept { return std::size_t(k) * c * r * r; }
  // Multiply-adds times two, forward pass.
  constexpr double flops() const noexcept { return 2.0 * double(out_size()) * c * r * r; }
  // True when the convolution is a plain matrix product (1x1, stride 1, no padding).
  constexpr bool is_pointwise() const noexcept { return r == 1 && stride == 1 && pad == 0; }
};

// A batch norm's input: [n, c, hw], normalized per channel over n and hw.
struct BatchNormShape {
  int n = 0, c = 0, hw = 0;
  constexpr std::size_t size() const noexcept { return std::size_t(n) * c * hw; }
};

// Optional running statistics of one batch norm: both pointers set, or both null.
template <class T>
struct RunningStats {
  T* mean = nullptr;
  T* var = nullptr;
  T momentum = T(0.1);
};

}  // namespace ist
