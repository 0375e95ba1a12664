// Greedy token choice + confidence per logits row on the GPU, so a denoising step copies back
// 12 bytes per row instead of the whole [rows × vocab] logits (CPU twin: kernels/cpu/greedy_confidence.cc).
#include <cuda_runtime.h>

#include <cfloat>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace dllm::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// Block-wide (value, index) max; ties keep the lowest index (torch.argmax / the host sampler).
__device__ void block_argmax(float* value, int* index) {
  __shared__ float sv[kThreads / 32];
  __shared__ int si[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_down_sync(0xffffffffu, *value, off);
    const int oi = __shfl_down_sync(0xffffffffu, *index, off);
    if (ov > *value || (ov == *value && oi < *index)) *value = ov, *index = oi;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) sv[warp] = *value, si[warp] = *index;
  __syncthreads();
  if (warp == 0) {
    *value = lane < kThreads / 32 ? sv[lane] : -FLT_MAX;
    *index = lane < kThreads / 32 ? si[lane] : 0x7fffffff;
    for (int off = 16; off > 0; off >>= 1) {
      const float ov = __shfl_down_sync(0xffffffffu, *value, off);
      const int oi = __shfl_down_sync(0xffffffffu, *index, off);
      if (ov > *value || (ov == *value && oi < *index)) *value = ov, *index = oi;
    }
    if (lane == 0) sv[0] = *value, si[0] = *index;
  }
  __syncthreads();
  *value = sv[0];
  *index = si[0];
  __syncthreads();
}

__device__ double block_sum(double v) {
  __shared__ double s[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) s[warp] = v;
  __syncthreads();
  double total = 0.0;
  for (int w = 0; w < kThreads / 32; ++w) total += s[w];
  __syncthreads();
  return total;
}

__global__ void greedy_confidence_kernel(const float* logits, int vocab, ConfidenceKind kind,
                                         int32_t* ids, double* conf) {
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  float best = -FLT_MAX;
  int best_i = 0x7fffffff;
  for (int i = threadIdx.x; i < vocab; i += kThreads) {
    const float v = row[i];
    if (v > best || (v == best && i < best_i)) best = v, best_i = i;
  }
  block_argmax(&best, &best_i);
  const double max = best;
  double sum = 0.0;
  float second = -FLT_MAX;
  int second_i = 0x7fffffff;
  for (int i = threadIdx.x; i < vocab; i += kThreads) {
    const float v = row[i];
    sum += exp(static_cast<double>(v) - max);
    if (i != best_i && (v > second || (v == second && i < second_i))) second = v, second_i = i;
  }
  sum = block_sum(sum);
  double result = 1.0 / sum;
  if (kind == ConfidenceKind::kMargin) {
    block_argmax(&second, &second_i);
    result = vocab > 1 ? (1.0 - exp(static_cast<double>(second) - max)) / sum : 1.0 / sum;
  } else if (kind == ConfidenceKind::kNegEntropy) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < vocab; i += kThreads) {
      const double p = exp(static_cast<double>(row[i]) - max) / sum;
      acc += p * log(p + 1e-10);
    }
    result = block_sum(acc);
  }
  if (threadIdx.x == 0) {
    ids[blockIdx.x] = best_i == 0x7fffffff ? 0 : best_i;  // an all-NaN row: token 0, as the CPU
    conf[blockIdx.x] = result;
  }
}

}  // namespace

void launch_greedy_confidence(const float* logits, int n, int vocab, ConfidenceKind kind,
                              int32_t* ids, double* conf, cudaStream_t stream) {
  if (n <= 0) return;
  greedy_confidence_kernel<<<n, kThreads, 0, stream>>>(logits, vocab, kind, ids, conf);
  DLLM_CUDA_CHECK(cudaGetLastError());
}

}  // namespace dllm::kernels::cuda
