#pragma once
// CudaContext: the GPU resources of one worker on the CUDA backend: its device, one stream that every
// op is queued on, the cuBLAS and cuDNN handles bound to that stream, a cuDNN workspace, scratch
// memory, and per-shape caches (convolution descriptors and algorithms, batch-norm descriptors).
// Caches and memory grow at the first use of a shape; later steps of the same shape allocate nothing
// and search nothing.
//
//   ist::cuda::CudaContext ctx;            // device 0; throws ist::Error "... no CUDA device ..." without one
//   ist::ResNetNetwork<Net, float, ist::cuda::Compute> net(ctx);
//
// Ops are asynchronous on stream(); only results returned to the host (the loss) synchronize. The stream
// is a blocking stream, so copies on the legacy default stream are ordered with it.
// The constructor makes `device` current; memory a network allocates lives on the device current at
// that time, so with several GPUs call make_current() before configuring a network on this context.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <map>
#include <memory>
#include <utility>

#include "ist/backend/cuda/check.cuh"
#include "ist/backend/cuda/conv_plan.cuh"
#include "ist/backend/cuda/cuda_options.cuh"
#include "ist/backend/cuda/descriptors.cuh"
#include "ist/backend/cuda/device_buffer.cuh"
#include "ist/core/error.hpp"
#include "ist/core/shape.hpp"

namespace ist::cuda {

// Descriptors of one batch-norm shape: x as [n, c, hw, 1], and the per-channel [1, c, 1, 1] tensors.
struct BnPlan {
  TensorDescriptor x, param;
};

namespace detail {

// Owners of the context's raw handles, so a constructor that throws half-way releases what it made.
struct StreamOwner {
  cudaStream_t handle = nullptr;
  StreamOwner() = default;
  StreamOwner(const StreamOwner&) = delete;
  StreamOwner& operator=(const StreamOwner&) = delete;
  ~StreamOwner() {
    if (handle) {
      cudaStreamSynchronize(handle);
      cudaStreamDestroy(handle);
    }
  }
};
struct CublasOwner {
  cublasHandle_t handle = nullptr;
  CublasOwner() = default;
  CublasOwner(const CublasOwner&) = delete;
  CublasOwner& operator=(const CublasOwner&) = delete;
  ~CublasOwner() {
    if (handle) cublasDestroy(handle);
  }
};
struct CudnnOwner {
  cudnnHandle_t handle = nullptr;
  CudnnOwner() = default;
  CudnnOwner(const CudnnOwner&) = delete;
  CudnnOwner& operator=(const CudnnOwner&) = delete;
  ~CudnnOwner() {
    if (handle) cudnnDestroy(handle);
  }
};
struct CusparseOwner {
  cusparseHandle_t handle = nullptr;
  CusparseOwner() = default;
  CusparseOwner(const CusparseOwner&) = delete;
  CusparseOwner& operator=(const CusparseOwner&) = delete;
  ~CusparseOwner() {
    if (handle) cusparseDestroy(handle);
  }
};
struct PinnedOwner {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  PinnedOwner() = default;
  PinnedOwner(const PinnedOwner&) = delete;
  PinnedOwner& operator=(const PinnedOwner&) = delete;
  ~PinnedOwner() {
    if (ptr) cudaFreeHost(ptr);
  }
};

// Number of CUDA devices; 0 when there is no device or no usable driver (never throws).
struct EventOwner {
  cudaEvent_t handle = nullptr;
  EventOwner() = default;
  EventOwner(const EventOwner&) = delete;
  EventOwner& operator=(const EventOwner&) = delete;
  ~EventOwner() {
    if (handle) cudaEventDestroy(handle);
  }
};

// A step input's staging: one device copy, and two page-locked host buffers used in turn, so the copy of step
// i+1's batch can be queued while step i's copy may still be in flight.
struct InputStage {
  DeviceBuffer<std::byte> device;
  std::array<PinnedOwner, 2> host;
  std::array<EventOwner, 2> copied;  // recorded after each host buffer's copy was queued
  int next = 0;
};

inline int device_count() noexcept {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the error so later calls do not see it
    return 0;
  }
  return count;
}

}  // namespace detail

class CudaContext {
 public:
  static constexpr int num_scratch_slots = 4;

  explicit CudaContext(int device = 0, CudaOptions options = {}) : device_(device), options_(options) {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess || count == 0) {
      cudaGetLastError();
      ::ist::fail("ist::cuda::CudaContext: no CUDA device (cudaGetDeviceCount: ",
                  status == cudaSuccess ? std::string("0 devices") : detail::error_text(status), ")");
    }
    IST_CHECK(device >= 0 && device < count, "ist::cuda::CudaContext: expected a device in [0, ", count,
              "), found ", device);
    IST_CUDA_CHECK(cudaSetDevice(device));
    IST_CUDA_CHECK(cudaStreamCreate(&stream_.handle));
    IST_CUBLAS_CHECK(cublasCreate(&cublas_.handle));
    IST_CUBLAS_CHECK(cublasSetStream(cublas_.handle, stream_.handle));
    IST_CUBLAS_CHECK(cublasSetPointerMode(cublas_.handle, CUBLAS_POINTER_MODE_HOST));
    IST_CUDNN_CHECK(cudnnCreate(&cudnn_.handle));
    IST_CUDNN_CHECK(cudnnSetStream(cudnn_.handle, stream_.handle));
    apply_math_mode();
    IST_CUDA_CHECK(cudaMallocHost(&pinned_.ptr, 256));
    pinned_.bytes = 256;
  }
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const noexcept { return device_; }
  cudaStream_t stream() const noexcept { return stream_.handle; }
  cublasHandle_t cublas() const noexcept { return cublas_.handle; }
  cudnnHandle_t cudnn() const noexcept { return cudnn_.handle; }
  // cuSPARSE handle on this context's stream, created at first use (only the graph ops need it).
  cusparseHandle_t cusparse() {
    if (!cusparse_.handle) {
      IST_CUSPARSE_CHECK(cusparseCreate(&cusparse_.handle));
      IST_CUSPARSE_CHECK(cusparseSetStream(cusparse_.handle, stream_.handle));
    }
    return cusparse_.handle;
  }
  const CudaOptions& options() const noexcept { return options_; }

  // New options apply to shapes seen from now on: the convolution cache is cleared.
  void set_options(const CudaOptions& options) {
    synchronize();
    options_ = options;
    conv_plans_.clear();
    apply_math_mode();
  }

  void make_current() const { IST_CUDA_CHECK(cudaSetDevice(device_)); }
  // Waits until everything queued on the stream has run; reports asynchronous kernel errors.
  void synchronize() const { IST_CUDA_CHECK(cudaStreamSynchronize(stream_.handle)); }

  // The plan of a convolution shape, built at its first use. The workspace grows to fit it then.
  const ConvPlan& conv_plan(const ConvShape& s) {
    const std::array<int, 8> key{s.n, s.c, s.h, s.w, s.k, s.r, s.stride, s.pad};
    auto it = conv_plans_.find(key);
    if (it == conv_plans_.end()) {
      auto plan = std::make_unique<ConvPlan>();
      make_conv_plan(*plan, cudnn_.handle, s, options_);
      workspace(plan->workspace_bytes());
      it = conv_plans_.emplace(key, std::move(plan)).first;
    }
    return *it->second;
  }
  std::size_t conv_plan_count() const noexcept { return conv_plans_.size(); }

  // Descriptors of a batch-norm shape, built at its first use.
  const BnPlan& bn_plan(const BatchNormShape& s) {
    const std::array<int, 3> key{s.n, s.c, s.hw};
    auto it = bn_plans_.find(key);
    if (it == bn_plans_.end()) {
      auto plan = std::make_unique<BnPlan>();
      plan->x.set_nchw(s.n, s.c, s.hw, 1);
      IST_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(plan->param, plan->x, CUDNN_BATCHNORM_SPATIAL));
      it = bn_plans_.emplace(key, std::move(plan)).first;
    }
    return *it->second;
  }

  // cuDNN workspace of at least `bytes` (grows, synchronizing the device, only past its largest size).
  void* workspace(std::size_t bytes) {
    if (workspace_.size() < bytes) workspace_.resize(bytes);
    return workspace_.data();
  }

  // Device scratch of at least `count` elements of T in slot `slot` (0 <= slot < num_scratch_slots).
  // Each op documents the slots it uses; contents do not survive across ops.
  template <class T>
  T* scratch(int slot, std::size_t count) {
    IST_CHECK(slot >= 0 && slot < num_scratch_slots, "ist::cuda::CudaContext::scratch: expected a slot in [0, ",
              num_scratch_slots, "), found ", slot);
    auto& buf = scratch_[std::size_t(slot)];
    const std::size_t bytes = count * sizeof(T);
    if (buf.size() < bytes) buf.resize(bytes);
    return reinterpret_cast<T*>(buf.data());
  }

  // A device copy of `count` host elements of T (a step's images or labels) in input slot `slot`
  // (0 <= slot < num_input_slots), ordered on the stream after the ops already queued, so the previous
  // step's reads of the slot come first. The host memory may be reused when this returns. The copy stays
  // until the next upload to the same slot.
  static constexpr int num_input_slots = 2;
  // The host data is first copied into page-locked memory, so the transfer itself is asynchronous.
  template <class T>
  const T* upload_input(int slot, const T* host, std::size_t count) {
    IST_CHECK(slot >= 0 && slot < num_input_slots, "ist::cuda::CudaContext::upload_input: expected a slot in [0, ",
              num_input_slots, "), found ", slot);
    auto& st = inputs_[std::size_t(slot)];
    const std::size_t bytes = count * sizeof(T);
    if (st.device.size() < bytes) st.device.resize(bytes);
    if (bytes == 0) return reinterpret_cast<const T*>(st.device.data());
    const std::size_t k = std::size_t(st.next);
    st.next ^= 1;
    auto& pinned = st.host[k];
    auto& copied = st.copied[k];
    if (copied.handle) IST_CUDA_CHECK(cudaEventSynchronize(copied.handle));  // its previous copy is done
    else IST_CUDA_CHECK(cudaEventCreateWithFlags(&copied.handle, cudaEventDisableTiming));
    if (pinned.bytes < bytes) {
      if (pinned.ptr) cudaFreeHost(pinned.ptr);
      pinned.ptr = nullptr;
      pinned.bytes = 0;
      IST_CUDA_CHECK(cudaMallocHost(&pinned.ptr, bytes));
      pinned.bytes = bytes;
    }
    std::memcpy(pinned.ptr, host, bytes);
    IST_CUDA_CHECK(cudaMemcpyAsync(st.device.data(), pinned.ptr, bytes, cudaMemcpyHostToDevice, stream_.handle));
    IST_CUDA_CHECK(cudaEventRecord(copied.handle, stream_.handle));
    return reinterpret_cast<const T*>(st.device.data());
  }

  // Device memory for `count` values of T that keeps its contents until the next call (the deferred loss
  // readouts of a worker's local steps: written by L steps, read back once).
  template <class T>
  T* step_readouts(std::size_t count) {
    const std::size_t bytes = count * sizeof(T);
    if (readouts_.size() < bytes) readouts_.resize(bytes);
    return reinterpret_cast<T*>(readouts_.data());
  }

  // Page-locked host memory of at least `bytes` for small results copied back from the device.
  void* pinned_host(std::size_t bytes) {
    if (pinned_.bytes < bytes) {
      synchronize();
      cudaFreeHost(pinned_.ptr);
      pinned_.ptr = nullptr;
      pinned_.bytes = 0;
      IST_CUDA_CHECK(cudaMallocHost(&pinned_.ptr, bytes));
      pinned_.bytes = bytes;
    }
    return pinned_.ptr;
  }

  // Device memory held by the context (workspace and scratch), for memory reports.
  std::size_t memory_bytes() const noexcept {
    std::size_t b = workspace_.size();
    for (const auto& s : scratch_) b += s.size();
    for (const auto& s : inputs_) b += s.device.size();
    b += readouts_.size();
    return b;
  }

 private:
  void apply_math_mode() {
    IST_CUBLAS_CHECK(
        cublasSetMathMode(cublas_.handle, options_.allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  }

  int device_ = 0;
  CudaOptions options_;
  // Declared in construction order; destroyed in reverse (caches and memory before the handles and stream).
  detail::StreamOwner stream_;
  detail::CublasOwner cublas_;
  detail::CudnnOwner cudnn_;
  detail::CusparseOwner cusparse_;
  detail::PinnedOwner pinned_;
  DeviceBuffer<std::byte> workspace_;
  std::array<DeviceBuffer<std::byte>, num_scratch_slots> scratch_;
  std::array<detail::InputStage, num_input_slots> inputs_;
  DeviceBuffer<std::byte> readouts_;
  std::map<std::array<int, 8>, std::unique_ptr<ConvPlan>> conv_plans_;
  std::map<std::array<int, 3>, std::unique_ptr<BnPlan>> bn_plans_;
};

}  // namespace ist::cuda
