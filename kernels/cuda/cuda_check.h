// Error checks for CUDA runtime and cuBLASLt calls: a failure becomes a CudaError naming the call.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/cuda_backend.h"

namespace dllm::kernels::cuda {

[[noreturn]] inline void throw_cuda_error(const std::string& what, const char* expr,
                                          const char* file, int line) {
  throw CudaError(std::string("CUDA error: ") + what + " in `" + expr + "` at " + file + ":" +
                  std::to_string(line));
}

inline void check_cuda(cudaError_t err, const char* expr, const char* file, int line) {
  if (err != cudaSuccess)
    throw_cuda_error(std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ")",
                     expr, file, line);
}

inline void check_cublas(cublasStatus_t st, const char* expr, const char* file, int line) {
  if (st != CUBLAS_STATUS_SUCCESS)
    throw_cuda_error(
        std::string(cublasLtGetStatusName(st)) + " (" + cublasLtGetStatusString(st) + ")", expr,
        file, line);
}

}  // namespace dllm::kernels::cuda

#define DLLM_CUDA_CHECK(expr) ::dllm::kernels::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
#define DLLM_CUBLAS_CHECK(expr) \
  ::dllm::kernels::cuda::check_cublas((expr), #expr, __FILE__, __LINE__)
// After a kernel launch: catches bad configurations without waiting for the GPU.
#define DLLM_CUDA_CHECK_LAUNCH() DLLM_CUDA_CHECK(cudaGetLastError())
