// fill_random_bf16: a counter-based hash per element, so the fill is one pass at full bandwidth.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels/cuda/random_fill.h"

namespace dllm::kernels::cuda {
namespace {

__device__ uint32_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return static_cast<uint32_t>(x);
}

__global__ void fill_kernel(__nv_bfloat16* dst, size_t n, float scale, float offset, uint64_t seed) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float u = (mix(seed * 0x9e3779b97f4a7c15ULL + i) >> 8) * (1.0f / 16777216.0f);  // [0,1)
    dst[i] = __float2bfloat16(offset + scale * 1.7320508f * (2.0f * u - 1.0f));
  }
}

}  // namespace

void fill_random_bf16(void* dst, size_t n, float scale, float offset, uint64_t seed) {
  if (n == 0) return;
  fill_kernel<<<1024, 256>>>(static_cast<__nv_bfloat16*>(dst), n, scale, offset, seed);
  const cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("fill_random_bf16: ") + cudaGetErrorString(err));
}

}  // namespace dllm::kernels::cuda
