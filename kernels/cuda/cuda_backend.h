// The CUDA backend: every Backend op on one CUDA stream of one device (plain C++ header).
#pragma once

#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "kernels/backend.h"

namespace dllm::kernels {

// Thrown by CudaBackend::allocate (and upload_weight) when the device cannot hold the request.
// It is a std::bad_alloc, so a caller that refuses a request on bad_alloc needs nothing else;
// what() names the device, the request and the free memory at the time.
class DeviceOutOfMemory : public std::bad_alloc {
 public:
  explicit DeviceOutOfMemory(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// Thrown for any other CUDA / cuBLASLt failure (bad launch, illegal address, missing device):
// the backend's stream is unusable after most of these, so callers treat them as fatal.
class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A backend bound to `device` (cudaSetDevice is applied around each call, so several backends on
// several GPUs may share a thread). Ops are queued on one non-blocking stream and never wait for
// the GPU; copy_to_host and synchronize do. copy_from_host returns once `src` may be reused.
// Memory is stream-ordered (cudaMallocAsync / cudaFreeAsync on that stream): release() of a
// buffer still read by queued ops is safe. Uploaded weights live until the backend is destroyed.
// Not thread-safe: one thread drives one backend at a time.
// Throws CudaError when the device cannot be opened (no driver, no such device).
std::unique_ptr<Backend> make_cuda_backend(int device);

}  // namespace dllm::kernels
