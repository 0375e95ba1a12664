// Stream-ordered device allocations: a throwing allocator and a grow-only scratch buffer.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace dllm::kernels::cuda {

// Freed blocks stay in the device's default pool instead of going back to the driver at each
// synchronisation (a serving process reallocates the same sizes every step).
void keep_freed_memory_in_pool(int device);

// cudaMallocAsync on `stream` (cudaMalloc on a device without memory pools); throws
// DeviceOutOfMemory (with sizes) when the device is full and CudaError on any other failure.
// Never returns null.
void* device_alloc(size_t bytes, cudaStream_t stream);
// cudaFreeAsync on `stream` (cudaFree without pools); errors are ignored (used from destructors).
void device_free(void* ptr, cudaStream_t stream) noexcept;

// A scratch buffer that only grows. Growing frees the old block in stream order, so work already
// queued on the stream keeps reading valid memory; contents are not kept across a growth.
class StreamScratch {
 public:
  StreamScratch() = default;
  ~StreamScratch() { release(); }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;

  void* get(size_t bytes, cudaStream_t stream);
  void release() noexcept;

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
  cudaStream_t stream_ = nullptr;
};

}  // namespace dllm::kernels::cuda
