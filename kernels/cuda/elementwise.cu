// Memory-bound CUDA kernels: embedding gather, SwiGLU gate, residual add, row gather/scatter,
// dtype conversions, bias add, and the CUDA-core GEMM used when cuBLASLt has no algorithm.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/weight_access.cuh"

namespace dllm::kernels::cuda {
namespace {

constexpr int kBlock = 256;

// Blocks for a grid-stride loop over `work` items: enough to fill the GPU, no more.
unsigned grid_for(int64_t work, int block = kBlock) {
  const int64_t blocks = (work + block - 1) / block;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, 65536));
}

// Threads for a one-block-per-row kernel over `items` per row.
int row_block(int64_t items) {
  return static_cast<int>(std::clamp<int64_t>((items + 31) / 32 * 32, 32, kBlock));
}

template <DType D, bool kVec>
__global__ void embedding_kernel(const int32_t* ids, const void* table, int64_t cols, float* out) {
  const int64_t row = blockIdx.x;
  const int64_t src = static_cast<int64_t>(ids[row]) * cols;
  float* dst = out + row * cols;
  if constexpr (kVec) {
    for (int64_t c = threadIdx.x * 4; c < cols; c += blockDim.x * 4)
      *reinterpret_cast<float4*>(dst + c) = load_weight4<D>(table, src + c);
  } else {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
      dst[c] = load_weight<D>(table, src + c);
  }
}

__device__ __forceinline__ float silu_mul1(float g, float u) {
  // Same operation order as the CPU twin: g / (1 + exp(-g)) * u, no contraction.
  return __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), u);
}

__global__ void silu_mul_kernel(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = silu_mul1(gate[i], up[i]);
}

__global__ void silu_mul4_kernel(const float4* gate, const float4* up, float4* out, int64_t n4) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n4;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float4 g = gate[i], u = up[i];
    out[i] = make_float4(silu_mul1(g.x, u.x), silu_mul1(g.y, u.y), silu_mul1(g.z, u.z),
                         silu_mul1(g.w, u.w));
  }
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] += y[i];
}

__global__ void add4_kernel(float4* x, const float4* y, int64_t n4) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n4;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float4 a = x[i];
    const float4 b = y[i];
    a.x += b.x, a.y += b.y, a.z += b.z, a.w += b.w;
    x[i] = a;
  }
}

template <bool kVec>
__global__ void copy_rows_kernel(const float* src, const int32_t* src_rows, float* dst,
                                 const int32_t* dst_rows, int dim) {
  const int64_t i = blockIdx.x;
  const float* s = src + (src_rows ? static_cast<int64_t>(src_rows[i]) : i) * dim;
  float* d = dst + (dst_rows ? static_cast<int64_t>(dst_rows[i]) : i) * dim;
  if constexpr (kVec) {
    for (int c = threadIdx.x * 4; c < dim; c += blockDim.x * 4)
      *reinterpret_cast<float4*>(d + c) = *reinterpret_cast<const float4*>(s + c);
  } else {
    for (int c = threadIdx.x; c < dim; c += blockDim.x) d[c] = s[c];
  }
}

template <DType D>
__device__ __forceinline__ uint16_t to_half_bits(float v) {
  if constexpr (D == DType::kBF16)
    return __bfloat16_as_ushort(__float2bfloat16_rn(v));
  else
    return __half_as_ushort(__float2half_rn(v));
}

template <DType D>
__global__ void f32_to_half_kernel(const float* x, int64_t n, uint16_t* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = to_half_bits<D>(x[i]);
}

// 4 floats in (16 bytes), 4 halves out (8 bytes) per thread and step.
template <DType D>
__global__ void f32_to_half4_kernel(const float4* x, int64_t n4, uint2* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n4;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float4 v = x[i];
    out[i] = make_uint2(to_half_bits<D>(v.x) | static_cast<uint32_t>(to_half_bits<D>(v.y)) << 16,
                        to_half_bits<D>(v.z) | static_cast<uint32_t>(to_half_bits<D>(v.w)) << 16);
  }
}

template <DType D>
__global__ void weight_to_f32_kernel(const void* w, int64_t n, float* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = load_weight<D>(w, i);
}

__global__ void add_bias_kernel(float* out, int64_t total, int64_t m, const float* bias) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] += bias[i % m];
}

constexpr int kFallbackTile = 16;

// out[r, c] = Σ_k x[r, k] · w[c, k]: 16×16 output tile per block, k staged through shared memory.
template <DType D>
__global__ void linear_fallback_kernel(const float* x, int64_t n, const void* w, int64_t m,
                                       int64_t k, const float* bias, float* out) {
  __shared__ float xs[kFallbackTile][kFallbackTile + 1];
  __shared__ float ws[kFallbackTile][kFallbackTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kFallbackTile;
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * kFallbackTile;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < k; k0 += kFallbackTile) {
    const int64_t kk = k0 + tx;
    xs[ty][tx] = (r0 + ty < n && kk < k) ? x[(r0 + ty) * k + kk] : 0.0f;
    ws[ty][tx] = (c0 + ty < m && kk < k) ? load_weight<D>(w, (c0 + ty) * k + kk) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int j = 0; j < kFallbackTile; ++j) acc += xs[ty][j] * ws[tx][j];
    __syncthreads();
  }
  if (r0 + ty < n && c0 + tx < m)
    out[(r0 + ty) * m + c0 + tx] = acc + (bias != nullptr ? bias[c0 + tx] : 0.0f);
}

}  // namespace

void launch_embedding(const int32_t* ids, int n, const WeightView& table, float* out,
                      cudaStream_t stream) {
  if (n <= 0 || table.cols == 0) return;
  const bool vec = table.cols % 4 == 0 && aligned_to(table.data, 4 * dtype_size(table.dtype)) &&
                   aligned_to(out, 16);
  const int block = row_block(vec ? table.cols / 4 : table.cols);
  dispatch_dtype(table.dtype, [&](auto tag) {
    constexpr DType D = decltype(tag)::value;
    if (vec)
      embedding_kernel<D, true><<<n, block, 0, stream>>>(ids, table.data, table.cols, out);
    else
      embedding_kernel<D, false><<<n, block, 0, stream>>>(ids, table.data, table.cols, out);
  });
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_silu_mul(const float* gate, const float* up, float* out, int64_t n,
                     cudaStream_t stream) {
  if (n <= 0) return;
  if (n % 4 == 0 && aligned_to(gate, 16) && aligned_to(up, 16) && aligned_to(out, 16)) {
    silu_mul4_kernel<<<grid_for(n / 4), kBlock, 0, stream>>>(reinterpret_cast<const float4*>(gate),
                                                             reinterpret_cast<const float4*>(up),
                                                             reinterpret_cast<float4*>(out), n / 4);
  } else {
    silu_mul_kernel<<<grid_for(n), kBlock, 0, stream>>>(gate, up, out, n);
  }
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_add_inplace(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  if (n % 4 == 0 && aligned_to(x, 16) && aligned_to(y, 16)) {
    add4_kernel<<<grid_for(n / 4), kBlock, 0, stream>>>(reinterpret_cast<float4*>(x),
                                                        reinterpret_cast<const float4*>(y), n / 4);
  } else {
    add_kernel<<<grid_for(n), kBlock, 0, stream>>>(x, y, n);
  }
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_copy_rows(const float* src, const int32_t* src_rows, float* dst,
                      const int32_t* dst_rows, int n, int dim, cudaStream_t stream) {
  if (n <= 0 || dim <= 0) return;
  const bool vec = dim % 4 == 0 && aligned_to(src, 16) && aligned_to(dst, 16);
  const int block = row_block(vec ? dim / 4 : dim);
  if (vec)
    copy_rows_kernel<true><<<n, block, 0, stream>>>(src, src_rows, dst, dst_rows, dim);
  else
    copy_rows_kernel<false><<<n, block, 0, stream>>>(src, src_rows, dst, dst_rows, dim);
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_f32_to_half(const float* x, int64_t n, DType to, void* out, cudaStream_t stream) {
  if (n <= 0) return;
  const bool vec = n % 4 == 0 && aligned_to(x, 16) && aligned_to(out, 8);
  dispatch_dtype(to, [&](auto tag) {
    constexpr DType D = decltype(tag)::value;
    if constexpr (D != DType::kF32) {
      if (vec)
        f32_to_half4_kernel<D><<<grid_for(n / 4), kBlock, 0, stream>>>(
            reinterpret_cast<const float4*>(x), n / 4, static_cast<uint2*>(out));
      else
        f32_to_half_kernel<D>
            <<<grid_for(n), kBlock, 0, stream>>>(x, n, static_cast<uint16_t*>(out));
    }
  });
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_weight_to_f32(const WeightView& w, float* out, cudaStream_t stream) {
  const int64_t n = w.rows * w.cols;
  if (n <= 0) return;
  dispatch_dtype(w.dtype, [&](auto tag) {
    constexpr DType D = decltype(tag)::value;
    weight_to_f32_kernel<D><<<grid_for(n), kBlock, 0, stream>>>(w.data, n, out);
  });
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_add_bias(float* out, int64_t n, int64_t m, const float* bias, cudaStream_t stream) {
  if (n <= 0 || m <= 0) return;
  add_bias_kernel<<<grid_for(n * m), kBlock, 0, stream>>>(out, n * m, m, bias);
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_linear_fallback(const float* x, int64_t n, const WeightView& w, const float* bias,
                            float* out, cudaStream_t stream) {
  if (n <= 0 || w.rows <= 0) return;
  const dim3 block(kFallbackTile, kFallbackTile);
  const dim3 grid(static_cast<unsigned>((w.rows + kFallbackTile - 1) / kFallbackTile),
                  static_cast<unsigned>((n + kFallbackTile - 1) / kFallbackTile));
  dispatch_dtype(w.dtype, [&](auto tag) {
    constexpr DType D = decltype(tag)::value;
    linear_fallback_kernel<D><<<grid, block, 0, stream>>>(x, n, w.data, w.rows, w.cols, bias, out);
  });
  DLLM_CUDA_CHECK_LAUNCH();
}

}  // namespace dllm::kernels::cuda
