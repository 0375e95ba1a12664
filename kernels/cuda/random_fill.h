// Device-side random fill of bf16 buffers: synthetic benchmark weights made on the GPU.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dllm::kernels::cuda {

// dst[i] = bf16(offset + scale * u), u uniform in [-√3, √3) (unit variance); synchronous.
void fill_random_bf16(void* dst, size_t n, float scale, float offset, uint64_t seed);

}  // namespace dllm::kernels::cuda
