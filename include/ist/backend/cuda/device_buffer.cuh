#pragma once
// DeviceBuffer<T>: an owning, move-only array in GPU memory (cudaMalloc), shaped like the part of
// std::vector that compute policies use: resize / size / data. It is the CUDA compute policy's Buffer.
//
//   ist::cuda::DeviceBuffer<float> x(host_span, ctx.stream());   // upload
//   std::vector<float> back = x.to_host(ctx.stream());          // download
//
// resize() grows the allocation only when needed (it never shrinks); like std::vector it keeps the
// old contents and zero-fills new elements. Growing reallocates and synchronizes the device, so size
// buffers once (ResNetNetwork::configure does) and not in a hot loop.
//
// Copies take a stream (default: the legacy default stream, which is ordered with the blocking stream
// of a CudaContext) and return when the copy is complete, so host memory may be reused at once.
// Memory lives on the device that is current when it is allocated.
#include <cuda_runtime.h>

#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "ist/backend/cuda/check.cuh"

namespace ist::cuda {

// Raw copies between host and device memory; both return when the copy is complete.
template <class T>
void copy_to_device(T* device_dst, const T* host_src, std::size_t count, cudaStream_t stream = nullptr) {
  if (count == 0) return;
  IST_CUDA_CHECK(cudaMemcpyAsync(device_dst, host_src, count * sizeof(T), cudaMemcpyHostToDevice, stream));
  IST_CUDA_CHECK(cudaStreamSynchronize(stream));
}

template <class T>
void copy_to_host(T* host_dst, const T* device_src, std::size_t count, cudaStream_t stream = nullptr) {
  if (count == 0) return;
  IST_CUDA_CHECK(cudaMemcpyAsync(host_dst, device_src, count * sizeof(T), cudaMemcpyDeviceToHost, stream));
  IST_CUDA_CHECK(cudaStreamSynchronize(stream));
}

// A host copy of `count` elements at device_src.
template <class T>
std::vector<T> to_host(const T* device_src, std::size_t count, cudaStream_t stream = nullptr) {
  std::vector<T> out(count);
  copy_to_host(out.data(), device_src, count, stream);
  return out;
}

template <class T>
class DeviceBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "ist::cuda::DeviceBuffer: T must be trivially copyable");

 public:
  using value_type = T;

  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) { resize(count); }
  // A device copy of host data.
  explicit DeviceBuffer(std::span<const T> host, cudaStream_t stream = nullptr) {
    resize(host.size());
    copy_from_host(host.data(), host.size(), stream);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)),
        capacity_(std::exchange(o.capacity_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      capacity_ = std::exchange(o.capacity_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { release(); }

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t bytes() const noexcept { return size_ * sizeof(T); }
  bool empty() const noexcept { return size_ == 0; }

  // Sets the size to `count`. Grows the allocation if needed (keeping the contents); new elements are 0.
  void resize(std::size_t count) {
    if (count > capacity_) {
      T* fresh = nullptr;
      IST_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&fresh), count * sizeof(T)));
      if (data_) {
        // Pending kernels may still use the old memory: finish them before copying and freeing.
        const cudaError_t synced = cudaDeviceSynchronize();
        if (synced == cudaSuccess && size_ > 0)
          IST_CUDA_CHECK(cudaMemcpy(fresh, data_, size_ * sizeof(T), cudaMemcpyDeviceToDevice));
        cudaFree(data_);
        data_ = nullptr;
        IST_CUDA_CHECK(synced);
      }
      data_ = fresh;
      capacity_ = count;
    }
    if (count > size_) IST_CUDA_CHECK(cudaMemset(data_ + size_, 0, (count - size_) * sizeof(T)));
    size_ = count;
  }

  // Sets every element to 0 (asynchronous on `stream`).
  void zero(cudaStream_t stream = nullptr) {
    if (size_ > 0) IST_CUDA_CHECK(cudaMemsetAsync(data_, 0, size_ * sizeof(T), stream));
  }

  // Copies `count` host elements into the buffer at element `offset`.
  void copy_from_host(const T* src, std::size_t count, cudaStream_t stream = nullptr, std::size_t offset = 0) {
    check_range(offset, count, "copy_from_host");
    copy_to_device(data_ + offset, src, count, stream);
  }
  void copy_from_host(std::span<const T> src, cudaStream_t stream = nullptr) {
    copy_from_host(src.data(), src.size(), stream);
  }

  // Copies `count` elements starting at element `offset` into host memory.
  void copy_to_host(T* dst, std::size_t count, cudaStream_t stream = nullptr, std::size_t offset = 0) const {
    check_range(offset, count, "copy_to_host");
    ::ist::cuda::copy_to_host(dst, data_ + offset, count, stream);
  }

  // The whole buffer as a host vector.
  std::vector<T> to_host(cudaStream_t stream = nullptr) const { return ::ist::cuda::to_host(data_, size_, stream); }

 private:
  void check_range(std::size_t offset, std::size_t count, const char* what) const {
    IST_CHECK(offset <= size_ && count <= size_ - offset, "ist::cuda::DeviceBuffer::", what, ": expected at most ",
              size_, " elements, found offset ", offset, " + count ", count);
  }
  void release() noexcept {
    if (data_) cudaFree(data_);  // errors ignored: a destructor must not throw
    data_ = nullptr;
    size_ = capacity_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0, capacity_ = 0;
};

}  // namespace ist::cuda
