// CUDA RMSNorm (one block per row) and rotate-half RoPE, rounding like the CPU twin.
#include <algorithm>
#include <cmath>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/weight_access.cuh"

namespace dllm::kernels::cuda {
namespace {

// Sum over the block, returned to every thread (blockDim.x a multiple of 32, at most 1024).
__device__ float block_sum(float v) {
  __shared__ float partial[32];
  __shared__ float total;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) total = v;
  }
  __syncthreads();
  return total;
}

// x may equal out: each element is read and written by the same thread.
template <DType D, bool kVec>
__global__ void rms_norm_kernel(const float* x, int dim, const void* w, float eps, float* out) {
  const int64_t row = blockIdx.x;
  const float* xr = x + row * dim;
  float* orow = out + row * dim;
  float ss = 0.0f;
  if constexpr (kVec) {
    for (int c = threadIdx.x * 4; c < dim; c += blockDim.x * 4) {
      const float4 v = *reinterpret_cast<const float4*>(xr + c);
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
  } else {
    for (int c = threadIdx.x; c < dim; c += blockDim.x) ss += xr[c] * xr[c];
  }
  ss = block_sum(ss);
  const float r =
      __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(ss, static_cast<float>(dim)), eps)));
  if constexpr (kVec) {
    for (int c = threadIdx.x * 4; c < dim; c += blockDim.x * 4) {
      const float4 v = *reinterpret_cast<const float4*>(xr + c);
      const float4 g = load_weight4<D>(w, c);
      *reinterpret_cast<float4*>(orow + c) =
          make_float4(g.x * (v.x * r), g.y * (v.y * r), g.z * (v.z * r), g.w * (v.w * r));
    }
  } else {
    for (int c = threadIdx.x; c < dim; c += blockDim.x)
      orow[c] = load_weight<D>(w, c) * (xr[c] * r);
  }
}

// One block per row: cos/sin of the row's angles once in shared memory, then every head.
__global__ void rope_kernel(float* x, int heads, int head_dim, const int32_t* positions,
                            const float* inv_freq) {
  extern __shared__ float cos_sin[];  // [half] cos, then [half] sin
  const int half = head_dim / 2;
  const int64_t row = blockIdx.x;
  const float pos = static_cast<float>(positions[row]);
  for (int j = threadIdx.x; j < half; j += blockDim.x) {
    // The angle is rounded to float32 first (as the reference does); sin/cos in double, then
    // rounded, exactly as the CPU twin.
    const double angle = static_cast<double>(__fmul_rn(pos, inv_freq[j]));
    double s, c;
    sincos(angle, &s, &c);
    cos_sin[j] = static_cast<float>(c);
    cos_sin[half + j] = static_cast<float>(s);
  }
  __syncthreads();
  float* xr = x + row * heads * head_dim;
  for (int idx = threadIdx.x; idx < heads * half; idx += blockDim.x) {
    const int h = idx / half, j = idx - h * half;
    float* v = xr + static_cast<int64_t>(h) * head_dim;
    const float a = v[j], b = v[j + half], c = cos_sin[j], s = cos_sin[half + j];
    v[j] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    v[j + half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
  }
}

int threads_for(int items) { return std::clamp((items + 31) / 32 * 32, 32, 256); }

}  // namespace

void launch_rms_norm(const float* x, int n, int dim, const WeightView& weight, float eps,
                     float* out, cudaStream_t stream) {
  if (n <= 0 || dim <= 0) return;
  const bool vec = dim % 4 == 0 && aligned_to(x, 16) && aligned_to(out, 16) &&
                   aligned_to(weight.data, 4 * dtype_size(weight.dtype));
  const int block = threads_for(vec ? dim / 4 : dim);
  dispatch_dtype(weight.dtype, [&](auto tag) {
    constexpr DType D = decltype(tag)::value;
    if (vec)
      rms_norm_kernel<D, true><<<n, block, 0, stream>>>(x, dim, weight.data, eps, out);
    else
      rms_norm_kernel<D, false><<<n, block, 0, stream>>>(x, dim, weight.data, eps, out);
  });
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_rope(float* x, int n, int heads, int head_dim, const int32_t* positions,
                 const float* inv_freq, cudaStream_t stream) {
  const int half = head_dim / 2;
  if (n <= 0 || heads <= 0 || half <= 0) return;
  const size_t smem = 2 * sizeof(float) * half;
  rope_kernel<<<n, threads_for(heads * half), smem, stream>>>(x, heads, head_dim, positions,
                                                              inv_freq);
  DLLM_CUDA_CHECK_LAUNCH();
}

}  // namespace dllm::kernels::cuda
