// Device-side reads of f32/bf16/f16 weights as float32, and the host-side dtype dispatch.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "kernels/tensor_view.h"

namespace dllm::kernels::cuda {

template <DType D>
__device__ __forceinline__ float load_weight(const void* base, int64_t i) {
  if constexpr (D == DType::kF32) {
    return static_cast<const float*>(base)[i];
  } else if constexpr (D == DType::kBF16) {
    // bf16 is the top half of a float32: widening is exact.
    return __uint_as_float(static_cast<uint32_t>(static_cast<const uint16_t*>(base)[i]) << 16);
  } else {
    return __half2float(__ushort_as_half(static_cast<const uint16_t*>(base)[i]));
  }
}

// Four consecutive elements starting at i (i a multiple of 4, base aligned to 4 elements).
template <DType D>
__device__ __forceinline__ float4 load_weight4(const void* base, int64_t i) {
  if constexpr (D == DType::kF32) {
    return *reinterpret_cast<const float4*>(static_cast<const float*>(base) + i);
  } else {
    const uint2 raw = *reinterpret_cast<const uint2*>(static_cast<const uint16_t*>(base) + i);
    const uint16_t h[4] = {
        static_cast<uint16_t>(raw.x & 0xffffu), static_cast<uint16_t>(raw.x >> 16),
        static_cast<uint16_t>(raw.y & 0xffffu), static_cast<uint16_t>(raw.y >> 16)};
    return make_float4(load_weight<D>(h, 0), load_weight<D>(h, 1), load_weight<D>(h, 2),
                       load_weight<D>(h, 3));
  }
}

inline bool aligned_to(const void* p, uintptr_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

// Calls f(std::integral_constant<DType, D>{}) for the runtime dtype.
template <typename F>
void dispatch_dtype(DType t, F&& f) {
  switch (t) {
    case DType::kF32:
      f(std::integral_constant<DType, DType::kF32>{});
      return;
    case DType::kBF16:
      f(std::integral_constant<DType, DType::kBF16>{});
      return;
    case DType::kF16:
      f(std::integral_constant<DType, DType::kF16>{});
      return;
  }
}

}  // namespace dllm::kernels::cuda
