#pragma once
// One checking macro per GPU library. A failed call throws ist::Error naming the call, the file and line,
// the current device and the library's own error string:
//   "ist::cuda: cudnnConvolutionForward(...) failed at conv2d.cuh:57 on device 0: CUDNN_STATUS_BAD_PARAM (...)"
// Nothing here aborts; destructors that release resources ignore status codes instead of throwing.
//
//   IST_CUDA_CHECK(cudaMemcpyAsync(...));      // cudaError_t
//   IST_CUDA_CHECK_LAUNCH("relu_kernel");      // a kernel launch (cudaGetLastError)
//   IST_CUBLAS_CHECK(cublasSgemm(...));        // cublasStatus_t
//   IST_CUDNN_CHECK(cudnnConvolutionForward(...));  // cudnnStatus_t
//   IST_CUSPARSE_CHECK(cusparseSpMM(...));     // cusparseStatus_t
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <cusparse.h>

#include <string>

#include "ist/core/error.hpp"

namespace ist::cuda::detail {

inline std::string error_text(cudaError_t e) {
  return ::ist::detail::concat(cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

inline std::string error_text(cublasStatus_t s) {
  return ::ist::detail::concat(cublasGetStatusName(s), " (", cublasGetStatusString(s), ")");
}

inline std::string error_text(cusparseStatus_t s) {
  return ::ist::detail::concat(cusparseGetErrorName(s), " (", cusparseGetErrorString(s), ")");
}

inline std::string error_text(cudnnStatus_t s) {
  std::string text = cudnnGetErrorString(s);
#if CUDNN_MAJOR >= 9
  char detail[512] = {};
  cudnnGetLastErrorString(detail, sizeof(detail));  // cuDNN's description of its last failure, if any
  if (detail[0] != '\0') text += ::ist::detail::concat(" (", detail, ")");
#endif
  return text;
}

// Strips the directories from __FILE__ so messages stay short.
inline const char* file_name(const char* path) {
  const char* name = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/' || *p == '\\') name = p + 1;
  return name;
}

[[noreturn]] inline void throw_api_error(const char* call, const char* file, int line, const std::string& what) {
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) {
    device = -1;
    cudaGetLastError();  // do not leave this lookup's failure for the next launch check to find
  }
  if (device >= 0)
    ::ist::fail("ist::cuda: ", call, " failed at ", file_name(file), ":", line, " on device ", device, ": ", what);
  ::ist::fail("ist::cuda: ", call, " failed at ", file_name(file), ":", line, ": ", what);
}

}  // namespace ist::cuda::detail

#define IST_DETAIL_GPU_CHECK(call, ok)                                                                  \
  do {                                                                                                  \
    const auto ist_gpu_status_ = (call);                                                                \
    if (ist_gpu_status_ != (ok))                                                                        \
      ::ist::cuda::detail::throw_api_error(#call, __FILE__, __LINE__,                                   \
                                           ::ist::cuda::detail::error_text(ist_gpu_status_));           \
  } while (0)

// cudaError_t-returning calls.
#define IST_CUDA_CHECK(call) IST_DETAIL_GPU_CHECK(call, cudaSuccess)
// After a kernel launch: reports a bad launch configuration at once (execution errors surface at the
// next synchronizing call).
#define IST_CUDA_CHECK_LAUNCH(kernel_name)                                                              \
  do {                                                                                                  \
    const cudaError_t ist_gpu_status_ = cudaGetLastError();                                             \
    if (ist_gpu_status_ != cudaSuccess)                                                                 \
      ::ist::cuda::detail::throw_api_error("launch of " kernel_name, __FILE__, __LINE__,                \
                                           ::ist::cuda::detail::error_text(ist_gpu_status_));           \
  } while (0)
// cusparseStatus_t-returning calls.
#define IST_CUSPARSE_CHECK(call) IST_DETAIL_GPU_CHECK(call, CUSPARSE_STATUS_SUCCESS)
// cublasStatus_t-returning calls.
#define IST_CUBLAS_CHECK(call) IST_DETAIL_GPU_CHECK(call, CUBLAS_STATUS_SUCCESS)
// cudnnStatus_t-returning calls.
#define IST_CUDNN_CHECK(call) IST_DETAIL_GPU_CHECK(call, CUDNN_STATUS_SUCCESS)
