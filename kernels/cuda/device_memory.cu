// Stream-ordered device allocations with clear out-of-memory reports.
#include <cstdint>
#include <cstdio>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_memory.h"

namespace dllm::kernels::cuda {
namespace {

std::string gib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(bytes) / (1u << 30));
  return buf;
}

// Stream-ordered pools where the device has them (every recent GPU); plain cudaMalloc otherwise.
bool pools_supported() {
  int device = 0, supported = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return supported != 0;
}

}  // namespace

void keep_freed_memory_in_pool(int device) {
  int supported = 0;
  DLLM_CUDA_CHECK(cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device));
  if (supported == 0) return;
  cudaMemPool_t pool = nullptr;
  DLLM_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  uint64_t threshold = UINT64_MAX;
  DLLM_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
}

void* device_alloc(size_t bytes, cudaStream_t stream) {
  void* ptr = nullptr;
  if (bytes == 0) bytes = 1;
  const cudaError_t err =
      pools_supported() ? cudaMallocAsync(&ptr, bytes, stream) : cudaMalloc(&ptr, bytes);
  if (err == cudaSuccess) return ptr;
  cudaGetLastError();  // an allocation failure is not sticky: keep it out of later launch checks
  int device = -1;
  size_t free_b = 0, total_b = 0;
  cudaGetDevice(&device);
  const bool known = cudaMemGetInfo(&free_b, &total_b) == cudaSuccess;
  cudaGetLastError();
  if (err == cudaErrorMemoryAllocation || (known && bytes > free_b))
    throw DeviceOutOfMemory("CUDA device " + std::to_string(device) +
                            ": out of memory allocating " + gib(bytes) + " (" + gib(free_b) +
                            " free of " + gib(total_b) + ")");
  check_cuda(err, "cudaMallocAsync", __FILE__, __LINE__);
  return nullptr;  // not reached
}

void device_free(void* ptr, cudaStream_t stream) noexcept {
  if (ptr == nullptr) return;
  const cudaError_t err = pools_supported() ? cudaFreeAsync(ptr, stream) : cudaFree(ptr);
  if (err != cudaSuccess) cudaGetLastError();
}

void* StreamScratch::get(size_t bytes, cudaStream_t stream) {
  if (bytes <= size_ && stream == stream_) return ptr_;
  release();
  // Grow by half again and round to 2 MiB so that slowly rising sizes reallocate rarely.
  constexpr size_t kGranule = size_t{2} << 20;
  size_t want = bytes > size_ + size_ / 2 ? bytes : size_ + size_ / 2;
  want = (want + kGranule - 1) / kGranule * kGranule;
  try {
    ptr_ = device_alloc(want, stream);
  } catch (const DeviceOutOfMemory&) {
    if (want == bytes) throw;
    want = bytes;  // the headroom does not fit: take exactly what is asked
    ptr_ = device_alloc(want, stream);
  }
  size_ = want;
  stream_ = stream;
  return ptr_;
}

void StreamScratch::release() noexcept {
  device_free(ptr_, stream_);
  ptr_ = nullptr;
  size_ = 0;
}

}  // namespace dllm::kernels::cuda
