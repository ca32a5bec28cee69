#pragma once
// RAII owners of cuDNN descriptors (move-only). A descriptor converts to its raw handle, so it can be
// passed straight to cuDNN calls:
//   ist::cuda::TensorDescriptor x;
//   x.set_nchw(n, c, h, w);
//   cudnnBatchNormalizationForwardInference(handle, ..., x, ...);
#include <cudnn.h>

#include <utility>

#include "ist/backend/cuda/check.cuh"

namespace ist::cuda {

template <class Handle, cudnnStatus_t (*Create)(Handle*), cudnnStatus_t (*Destroy)(Handle)>
class CudnnDescriptor {
 public:
  CudnnDescriptor() { IST_CUDNN_CHECK(Create(&handle_)); }
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  CudnnDescriptor(CudnnDescriptor&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  CudnnDescriptor& operator=(CudnnDescriptor&& o) noexcept {
    std::swap(handle_, o.handle_);
    return *this;
  }
  ~CudnnDescriptor() {
    if (handle_) Destroy(handle_);  // errors ignored: a destructor must not throw
  }

  Handle get() const noexcept { return handle_; }
  operator Handle() const noexcept { return handle_; }

 private:
  Handle handle_ = nullptr;
};

// A dense float tensor in NCHW order.
class TensorDescriptor
    : public CudnnDescriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor> {
 public:
  void set_nchw(int n, int c, int h, int w) {
    IST_CUDNN_CHECK(cudnnSetTensor4dDescriptor(get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
  }
};

// A float convolution filter [k, c, r, s].
class FilterDescriptor
    : public CudnnDescriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor> {
 public:
  void set_kcrs(int k, int c, int r, int s) {
    IST_CUDNN_CHECK(cudnnSetFilter4dDescriptor(get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k, c, r, s));
  }
};

using ConvolutionDescriptor =
    CudnnDescriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor, cudnnDestroyConvolutionDescriptor>;

}  // namespace ist::cuda
