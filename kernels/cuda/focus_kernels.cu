// Focus-dLLM's scoring kernels on the GPU (CPU twins: kernels/cpu/focus_kernels.cc): attention
// mass per key, block representative keys, block scores against the focus rows, and the
// instrumentation sums. Block keys and scores run in float64 in the twins' order, so that both
// backends rank blocks alike; the attention mass (every key of the context, every step) runs in
// float32 on K tiles staged in shared memory, two passes over K: softmax statistics per query
// vector, then the normalised mass per key (the CPU twin's float64 differs by ~1e-6 relative).
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/weight_access.cuh"

namespace dllm::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// ---- attention mass per key: CTAs of kMassKeys keys × one KV head; its query vectors (rows ×
// the KV head's query heads) are staged kMassRows at a time; thread t owns key t % kMassKeys and
// query vectors t / kMassKeys + kMassGroups · i of each staged chunk.
constexpr int kMassKeys = 64;
constexpr int kMassRows = 16;
constexpr int kMassThreads = 256;
constexpr int kMassGroups = kMassThreads / kMassKeys;
constexpr int kMassRowsPerThread = kMassRows / kMassGroups;

size_t mass_smem_bytes(int head_dim) {
  return sizeof(float) * (static_cast<size_t>(kMassKeys) * (head_dim + 1) +
                          static_cast<size_t>(kMassRows) * head_dim);
}

// K rows [key0, key0 + kMassKeys) of KV head kvh as fp32 (stride head_dim + 1: the dot loops read
// one column across 32 keys without bank conflicts); invisible keys are zeros.
template <DType D>
__device__ void stage_mass_keys(const AttentionMassParams& p, int kvh, int key0, float* ks) {
  const int hd = p.head_dim;
  const int64_t kv_row = static_cast<int64_t>(p.num_kv_heads) * hd;
  for (int idx = threadIdx.x; idx < kMassKeys * hd; idx += kMassThreads) {
    const int r = idx / hd, e = idx % hd, key = key0 + r;
    const bool ok = key < p.num_keys && (p.key_mask == nullptr || p.key_mask[key] != 0);
    ks[r * (hd + 1) + e] = ok ? load_weight<D>(p.kv.k, p.kv.row_offset(key, kv_row) +
                                                           static_cast<int64_t>(kvh) * hd + e)
                              : 0.0f;
  }
}

// Query vectors [v0, v0 + kMassRows) of KV head kvh, times scale (zeros past the last).
__device__ void stage_mass_queries(const AttentionMassParams& p, int kvh, int v0, float* qs) {
  const int hd = p.head_dim, group = p.num_heads / p.num_kv_heads, nv = p.num_q * group;
  for (int idx = threadIdx.x; idx < kMassRows * hd; idx += kMassThreads) {
    const int r = idx / hd, e = idx % hd, v = v0 + r;
    qs[idx] =
        v < nv
            ? p.q[(static_cast<int64_t>(v / group) * p.num_heads + kvh * group + v % group) * hd +
                  e] *
                  p.scale
            : 0.0f;
  }
}

__device__ __forceinline__ float mass_dot(const float* q, const float* k, int hd) {
  float d = 0.0f;
  for (int e = 0; e < hd; ++e) d = fmaf(q[e], k[e], d);
  return d;
}

// Pass 1: per (key tile, query vector) the max score and Σ exp(s − max) over the tile's visible
// keys: part[(tile · kv_heads + kvh) · nv + v] = {max, sum} (max −inf: nothing visible).
template <DType D>
__global__ void __launch_bounds__(kMassThreads)
    mass_tile_stats_kernel(const AttentionMassParams p, float2* part) {
  extern __shared__ float mass_smem[];
  float* ks = mass_smem;
  float* qs = ks + kMassKeys * (p.head_dim + 1);
  __shared__ float2 halves[kMassRows][2];
  const int tile = blockIdx.x, kvh = blockIdx.y, hd = p.head_dim;
  const int nv = p.num_q * (p.num_heads / p.num_kv_heads);
  const int key = tile * kMassKeys + threadIdx.x % kMassKeys, rg = threadIdx.x / kMassKeys;
  const int lane = threadIdx.x % 32, half = (threadIdx.x % kMassKeys) / 32;
  stage_mass_keys<D>(p, kvh, tile * kMassKeys, ks);
  const bool visible = key < p.num_keys && (p.key_mask == nullptr || p.key_mask[key] != 0);
  for (int v0 = 0; v0 < nv; v0 += kMassRows) {
    stage_mass_queries(p, kvh, v0, qs);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kMassRowsPerThread; ++i) {
      const int r = rg + kMassGroups * i;
      const float s = visible ? mass_dot(qs + r * hd, ks + (threadIdx.x % kMassKeys) * (hd + 1), hd)
                              : -INFINITY;
      float m = s;
      for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
      float l = m == -INFINITY ? 0.0f : expf(s - m);
      for (int off = 16; off > 0; off >>= 1) l += __shfl_xor_sync(0xffffffffu, l, off);
      if (lane == 0) halves[r][half] = make_float2(m, l);
    }
    __syncthreads();
    if (threadIdx.x < kMassRows && v0 + threadIdx.x < nv) {
      const float2 a = halves[threadIdx.x][0], b = halves[threadIdx.x][1];
      const float m = fmaxf(a.x, b.x);
      const float l = m == -INFINITY ? 0.0f : a.y * expf(a.x - m) + b.y * expf(b.x - m);
      part[(static_cast<int64_t>(tile) * p.num_kv_heads + kvh) * nv + v0 + threadIdx.x] =
          make_float2(m, l);
    }
    __syncthreads();  // qs and halves are refilled
  }
}

// Merges the tiles' statistics: stats[kvh · nv + v] = {max, Σ exp(s − max)} over every key.
__global__ void mass_merge_stats_kernel(const float2* part, int tiles, int count, float2* stats) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count) return;
  float m = -INFINITY;
  for (int t = 0; t < tiles; ++t) m = fmaxf(m, part[static_cast<int64_t>(t) * count + i].x);
  float l = 0.0f;
  if (m != -INFINITY)
    for (int t = 0; t < tiles; ++t) {
      const float2 x = part[static_cast<int64_t>(t) * count + i];
      if (x.x != -INFINITY) l += x.y * expf(x.x - m);
    }
  stats[i] = make_float2(m, l);
}

// Pass 2: per_kv[kvh, key] = Σ over the KV head's query vectors of exp(s − max) / sum.
template <DType D>
__global__ void __launch_bounds__(kMassThreads)
    mass_per_key_kernel(const AttentionMassParams p, const float2* stats, float* per_kv) {
  extern __shared__ float mass_smem[];
  float* ks = mass_smem;
  float* qs = ks + kMassKeys * (p.head_dim + 1);
  __shared__ float sums[kMassGroups][kMassKeys];
  const int tile = blockIdx.x, kvh = blockIdx.y, hd = p.head_dim;
  const int nv = p.num_q * (p.num_heads / p.num_kv_heads);
  const int k_local = threadIdx.x % kMassKeys, key = tile * kMassKeys + k_local;
  const int rg = threadIdx.x / kMassKeys;
  stage_mass_keys<D>(p, kvh, tile * kMassKeys, ks);
  const bool visible = key < p.num_keys && (p.key_mask == nullptr || p.key_mask[key] != 0);
  float acc = 0.0f;
  for (int v0 = 0; v0 < nv; v0 += kMassRows) {
    stage_mass_queries(p, kvh, v0, qs);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kMassRowsPerThread; ++i) {
      const int r = rg + kMassGroups * i, v = v0 + r;
      if (!visible || v >= nv) continue;
      const float2 st = stats[kvh * nv + v];
      if (st.y > 0.0f)
        acc += expf(mass_dot(qs + r * hd, ks + k_local * (hd + 1), hd) - st.x) / st.y;
    }
    __syncthreads();
  }
  sums[rg][k_local] = acc;
  __syncthreads();
  if (threadIdx.x < kMassKeys && key < p.num_keys) {
    float total = 0.0f;
    for (int g = 0; g < kMassGroups; ++g) total += sums[g][threadIdx.x];
    per_kv[static_cast<int64_t>(kvh) * p.num_keys + key] = total;
  }
}

// out[j] = float(Σ_kvh double(per_kv[kvh, j]) · norm), KV heads ascending as the CPU twin.
__global__ void mass_over_kv_heads_kernel(const float* per_kv, int num_keys, int num_kv_heads,
                                          double norm, float* out) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= num_keys) return;
  double mass = 0.0;
  for (int kvh = 0; kvh < num_kv_heads; ++kvh)
    mass += static_cast<double>(per_kv[static_cast<int64_t>(kvh) * num_keys + j]);
  out[j] = static_cast<float>(mass * norm);
}

// Grid (blocks, KV heads); a thread per dimension sums the block's slots in float64, ascending.
template <DType D>
__global__ void block_keys_kernel(const BlockKeyParams p) {
  const int b = blockIdx.x, kvh = blockIdx.y;
  const int begin = b * p.block_size, end = min(p.num_slots, begin + p.block_size);
  const int64_t kv_row = static_cast<int64_t>(p.num_kv_heads) * p.head_dim;
  for (int e = threadIdx.x; e < p.head_dim; e += blockDim.x) {
    double sum = 0.0;
    for (int slot = begin; slot < end; ++slot)
      sum += static_cast<double>(load_weight<D>(
          p.kv.k, p.kv.row_offset(slot, kv_row) + static_cast<int64_t>(kvh) * p.head_dim + e));
    p.out[b * kv_row + static_cast<int64_t>(kvh) * p.head_dim + e] =
        static_cast<float>(sum / (end - begin));
  }
}

// One CTA per block: per focus row, a thread per head forms its dot product in float64 (dims
// ascending); thread 0 sums the heads in order and keeps the max over rows, as the CPU twin.
__global__ void block_scores_kernel(const BlockScoreParams p) {
  extern __shared__ double head_dot[];  // [num_heads]
  const int b = blockIdx.x, hd = p.head_dim, group = p.num_heads / p.num_kv_heads;
  const float* rep = p.block_keys + static_cast<int64_t>(b) * p.num_kv_heads * hd;
  double best = -INFINITY;
  for (int r = 0; r < p.num_rows; ++r) {
    for (int h = threadIdx.x; h < p.num_heads; h += blockDim.x) {
      const float* q = p.q + (static_cast<int64_t>(p.rows[r]) * p.num_heads + h) * hd;
      const float* k = rep + static_cast<int64_t>(h / group) * hd;
      double d = 0.0;
      for (int e = 0; e < hd; ++e)
        d = __dadd_rn(d, __dmul_rn(static_cast<double>(q[e]), static_cast<double>(k[e])));
      head_dot[h] = d;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      double mean = 0.0;
      for (int h = 0; h < p.num_heads; ++h) mean = __dadd_rn(mean, head_dot[h]);
      const double score = __ddiv_rn(__dmul_rn(mean, static_cast<double>(p.scale)),
                                     static_cast<double>(p.num_heads));
      best = best < score ? score : best;  // std::max(best, score)
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) p.out[b] = static_cast<float>(best);
}

template <typename T>
__device__ T cta_sum(T v) {
  __shared__ T part[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = v;
  __syncthreads();
  T total = 0;
  for (int w = 0; w < kThreads / 32; ++w) total += part[w];
  __syncthreads();
  return total;
}

__device__ bool contains(const int32_t* sorted, int n, int x) {
  int lo = 0, hi = n;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (sorted[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && sorted[lo] == x;
}

// One CTA: sink overlap with the previous forward, kept-mass fraction of this layer.
__global__ void __launch_bounds__(kThreads) focus_stats_kernel(const FocusStatsParams p) {
  if (p.sinks != nullptr) {
    const int n = *p.num_sinks, prev = *p.num_previous;
    if (n > 0 && prev > 0) {
      int common = 0;
      for (int i = threadIdx.x; i < n; i += kThreads)
        common += contains(p.previous, prev, p.sinks[i]) ? 1 : 0;
      common = cta_sum(common);
      if (threadIdx.x == 0) {
        p.stats[0] += static_cast<double>(common) / n;
        p.stats[1] += 1.0;
      }
    }
  }
  if (p.mass == nullptr) return;
  const int nb = p.counts[0], nt = p.counts[1];
  double kept = 0.0, total = 0.0;
  for (int j = threadIdx.x; j < p.num_keys; j += kThreads) {
    const double m = p.mass[j];
    total += m;
    if (j >= p.prompt_len || contains(p.blocks, nb, j / p.block_size) || contains(p.tokens, nt, j))
      kept += m;
  }
  kept = cta_sum(kept);
  total = cta_sum(total);
  if (threadIdx.x == 0 && total > 0.0) {
    p.stats[2] += kept / total;
    p.stats[3] += 1.0;
  }
}

}  // namespace

void launch_attention_mass_per_key(const AttentionMassParams& p, StreamScratch& sums,
                                   StreamScratch& stats, cudaStream_t stream) {
  if (p.num_keys <= 0) return;
  if (p.num_heads <= 0 || p.num_kv_heads <= 0 || p.num_heads % p.num_kv_heads != 0)
    throw std::invalid_argument("attention_mass_per_key: heads not a multiple of KV heads");
  if (p.head_dim <= 0 || p.head_dim > 128)
    throw std::invalid_argument("attention_mass_per_key: the CUDA backend takes head_dim 1..128");
  if (p.kv.dtype != DType::kF32 && p.kv.dtype != DType::kBF16)
    throw std::invalid_argument("attention_mass_per_key: K/V must be f32 or bf16");
  const double norm = 1.0 / (static_cast<double>(p.num_q > 1 ? p.num_q : 1) * p.num_heads);
  const size_t per_kv_floats = static_cast<size_t>(p.num_kv_heads) * p.num_keys;
  auto* per_kv = static_cast<float*>(sums.get(per_kv_floats * sizeof(float), stream));
  if (p.num_q <= 0) {  // no query: no mass
    DLLM_CUDA_CHECK(cudaMemsetAsync(per_kv, 0, per_kv_floats * sizeof(float), stream));
  } else {
    const int tiles = (p.num_keys + kMassKeys - 1) / kMassKeys;
    const int count = p.num_q * p.num_heads;  // query vectors over all KV heads
    auto* part = static_cast<float2*>(
        stats.get(sizeof(float2) * (static_cast<size_t>(tiles) + 1) * count, stream));
    float2* merged = part + static_cast<size_t>(tiles) * count;
    const dim3 grid(tiles, p.num_kv_heads);
    const size_t smem = mass_smem_bytes(p.head_dim);
    if (p.kv.dtype == DType::kF32)
      mass_tile_stats_kernel<DType::kF32><<<grid, kMassThreads, smem, stream>>>(p, part);
    else
      mass_tile_stats_kernel<DType::kBF16><<<grid, kMassThreads, smem, stream>>>(p, part);
    DLLM_CUDA_CHECK_LAUNCH();
    mass_merge_stats_kernel<<<(count + kThreads - 1) / kThreads, kThreads, 0, stream>>>(
        part, tiles, count, merged);
    DLLM_CUDA_CHECK_LAUNCH();
    if (p.kv.dtype == DType::kF32)
      mass_per_key_kernel<DType::kF32><<<grid, kMassThreads, smem, stream>>>(p, merged, per_kv);
    else
      mass_per_key_kernel<DType::kBF16><<<grid, kMassThreads, smem, stream>>>(p, merged, per_kv);
    DLLM_CUDA_CHECK_LAUNCH();
  }
  mass_over_kv_heads_kernel<<<(p.num_keys + kThreads - 1) / kThreads, kThreads, 0, stream>>>(
      per_kv, p.num_keys, p.num_kv_heads, norm, p.out);
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_block_representative_keys(const BlockKeyParams& p, cudaStream_t stream) {
  if (p.num_slots <= 0 || p.num_kv_heads <= 0 || p.head_dim <= 0) return;
  if (p.block_size <= 0) throw std::invalid_argument("block_representative_keys: block_size <= 0");
  const dim3 grid((p.num_slots + p.block_size - 1) / p.block_size, p.num_kv_heads);
  const int threads = p.head_dim >= 128 ? 128 : (p.head_dim + 31) / 32 * 32;
  if (p.kv.dtype == DType::kF32)
    block_keys_kernel<DType::kF32><<<grid, threads, 0, stream>>>(p);
  else if (p.kv.dtype == DType::kBF16)
    block_keys_kernel<DType::kBF16><<<grid, threads, 0, stream>>>(p);
  else
    throw std::invalid_argument("block_representative_keys: K/V must be f32 or bf16");
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_block_scores(const BlockScoreParams& p, cudaStream_t stream) {
  if (p.num_blocks <= 0) return;
  if (p.num_heads <= 0 || p.num_kv_heads <= 0 || p.num_heads % p.num_kv_heads != 0)
    throw std::invalid_argument("block_scores: heads not a multiple of KV heads");
  const size_t smem = sizeof(double) * p.num_heads;
  if (smem > 48 * 1024) throw std::invalid_argument("block_scores: too many heads");
  block_scores_kernel<<<p.num_blocks, 64, smem, stream>>>(p);
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_accumulate_focus_stats(const FocusStatsParams& p, cudaStream_t stream) {
  focus_stats_kernel<<<1, kThreads, 0, stream>>>(p);
  DLLM_CUDA_CHECK_LAUNCH();
}

}  // namespace dllm::kernels::cuda
