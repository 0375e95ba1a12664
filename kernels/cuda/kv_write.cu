// The K/V cache write of every forward: float32 K and V rows into their slots of a paged or
// contiguous cache, converted to the cache dtype (f32 copy, or bf16 rounded as the CPU backend).
#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/weight_access.cuh"

namespace dllm::kernels::cuda {
namespace {

// Round to nearest even; NaN keeps its top bits and is forced quiet. Same bits as
// kernels/cpu f32_to_bf16, so that both backends hold identical caches.
__device__ __forceinline__ uint32_t bf16_bits(float f) {
  const uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return ((bits >> 16) | 0x40u) & 0xffffu;
  return ((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16) & 0xffffu;
}

// One block per row i: K and V of row i go to slot slots[i].
template <DType D, bool kVec>
__global__ void write_kv_kernel(const float* k_rows, const float* v_rows, int row_elems,
                                const int32_t* slots, const KvView kv) {
  const int64_t i = blockIdx.x;
  const int64_t dst = kv.row_offset(slots[i], row_elems);
  const float* k = k_rows + i * row_elems;
  const float* v = v_rows + i * row_elems;
  if constexpr (kVec) {  // 4 elements per thread and step
    for (int c = threadIdx.x * 4; c < row_elems; c += blockDim.x * 4) {
      const float4 kf = *reinterpret_cast<const float4*>(k + c);
      const float4 vf = *reinterpret_cast<const float4*>(v + c);
      if constexpr (D == DType::kF32) {
        *reinterpret_cast<float4*>(static_cast<float*>(kv.k) + dst + c) = kf;
        *reinterpret_cast<float4*>(static_cast<float*>(kv.v) + dst + c) = vf;
      } else {
        *reinterpret_cast<uint2*>(static_cast<uint16_t*>(kv.k) + dst + c) = make_uint2(
            bf16_bits(kf.x) | bf16_bits(kf.y) << 16, bf16_bits(kf.z) | bf16_bits(kf.w) << 16);
        *reinterpret_cast<uint2*>(static_cast<uint16_t*>(kv.v) + dst + c) = make_uint2(
            bf16_bits(vf.x) | bf16_bits(vf.y) << 16, bf16_bits(vf.z) | bf16_bits(vf.w) << 16);
      }
    }
  } else {
    for (int c = threadIdx.x; c < row_elems; c += blockDim.x) {
      if constexpr (D == DType::kF32) {
        static_cast<float*>(kv.k)[dst + c] = k[c];
        static_cast<float*>(kv.v)[dst + c] = v[c];
      } else {
        static_cast<uint16_t*>(kv.k)[dst + c] = static_cast<uint16_t>(bf16_bits(k[c]));
        static_cast<uint16_t*>(kv.v)[dst + c] = static_cast<uint16_t>(bf16_bits(v[c]));
      }
    }
  }
}

}  // namespace

void launch_write_kv(const float* k_rows, const float* v_rows, int n, int row_elems,
                     const int32_t* slots, const KvView& kv, cudaStream_t stream) {
  if (n <= 0 || row_elems <= 0) return;
  if (kv.dtype != DType::kF32 && kv.dtype != DType::kBF16)
    throw std::invalid_argument("write_kv: the K/V cache must be f32 or bf16");
  if (kv.page_table != nullptr && kv.page_size <= 0)
    throw std::invalid_argument("write_kv: a paged K/V view needs page_size > 0");
  // Every cache row starts at a multiple of row_elems, so aligned bases keep rows aligned.
  const uintptr_t cache_align = 4 * dtype_size(kv.dtype);
  const bool vec = row_elems % 4 == 0 && aligned_to(k_rows, 16) && aligned_to(v_rows, 16) &&
                   aligned_to(kv.k, cache_align) && aligned_to(kv.v, cache_align);
  const int per_thread = vec ? 4 : 1;
  const int threads = std::clamp((row_elems / per_thread + 31) / 32 * 32, 32, 256);
  const unsigned blocks = static_cast<unsigned>(n);
  dispatch_dtype(kv.dtype, [&](auto tag) {
    constexpr DType D = decltype(tag)::value;
    if constexpr (D != DType::kF16) {
      if (vec)
        write_kv_kernel<D, true>
            <<<blocks, threads, 0, stream>>>(k_rows, v_rows, row_elems, slots, kv);
      else
        write_kv_kernel<D, false>
            <<<blocks, threads, 0, stream>>>(k_rows, v_rows, row_elems, slots, kv);
    }
  });
  DLLM_CUDA_CHECK_LAUNCH();
}

}  // namespace dllm::kernels::cuda
