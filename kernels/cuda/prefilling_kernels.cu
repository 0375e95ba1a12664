// Prefilling-dLLM kernels beyond the forward on the GPU (CPU twins: kernels/cpu/kv_rerotate.cc,
// key_attention_scores.cc, token_select.cc): K/V rows re-rotated into a stitched cache, the
// attention mass probe rows pay each cached key, and per-chunk token selection. The arithmetic
// follows the CPU twins operation for operation (float64 where they use it, no contraction where
// it would change a rounding), so both backends pick the same tokens.
#include <cuda_runtime.h>

#include <cfloat>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/weight_access.cuh"

namespace dllm::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// Round to nearest even, as kernels/cpu f32_to_bf16 (NaN kept quiet).
__device__ __forceinline__ uint16_t to_bf16(float f) {
  const uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>(((bits >> 16) | 0x40u));
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

template <DType D>
__device__ __forceinline__ void store_kv(void* base, int64_t i, float x) {
  if constexpr (D == DType::kF32)
    static_cast<float*>(base)[i] = x;
  else
    static_cast<uint16_t*>(base)[i] = to_bf16(x);
}

// ---- rerotate_kv_rows: one block per row; the row's sin/cos table in shared memory ----

template <DType S, DType T>
__global__ void rerotate_kernel(const KvRerotateParams p) {
  extern __shared__ double trig[];  // cos[half], sin[half]
  const int i = blockIdx.x, hd = p.head_dim, half = hd / 2;
  const int64_t row_elems = static_cast<int64_t>(p.num_kv_heads) * hd;
  const int h0 = p.heads != nullptr ? p.heads[i] : 0;
  const int nh = p.heads != nullptr ? 1 : p.num_kv_heads;
  const int64_t src = p.src.row_offset(p.src_slots[i], row_elems) + static_cast<int64_t>(h0) * hd;
  const int64_t dst = p.dst.row_offset(p.dst_slots[i], row_elems) + static_cast<int64_t>(h0) * hd;
  const bool rotate = p.from_positions[i] != p.to_positions[i];
  if (rotate) {
    const float from = static_cast<float>(p.from_positions[i]);
    const float to = static_cast<float>(p.to_positions[i]);
    for (int j = threadIdx.x; j < half; j += blockDim.x) {
      const double delta = static_cast<double>(__fmul_rn(to, p.inv_freq[j])) -
                           static_cast<double>(__fmul_rn(from, p.inv_freq[j]));
      sincos(delta, &trig[half + j], &trig[j]);
    }
  }
  __syncthreads();
  // Each thread owns whole (j, j + half) pairs, so rotating in place is safe.
  for (int e = threadIdx.x; e < nh * half; e += blockDim.x) {
    const int64_t o = static_cast<int64_t>(e / half) * hd + e % half;
    const int j = e % half;
    float x = load_weight<S>(p.src.k, src + o), y = load_weight<S>(p.src.k, src + o + half);
    if (rotate) {
      const double a = x, b = y, c = trig[j], s = trig[half + j];
      x = __double2float_rn(__dsub_rn(__dmul_rn(a, c), __dmul_rn(b, s)));
      y = __double2float_rn(__dadd_rn(__dmul_rn(b, c), __dmul_rn(a, s)));
    }
    store_kv<T>(p.dst.k, dst + o, x);
    store_kv<T>(p.dst.k, dst + o + half, y);
  }
  for (int e = threadIdx.x; e < nh * hd; e += blockDim.x)
    store_kv<T>(p.dst.v, dst + e, load_weight<S>(p.src.v, src + e));
}

// ---- accumulate_key_attention_scores: softmax statistics per (row, head), then mass per key ----

template <typename T>
__device__ T block_reduce(T v, bool is_max) {
  __shared__ T part[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) {
    const T o = __shfl_down_sync(0xffffffffu, v, off);
    v = is_max ? (o > v ? o : v) : v + o;
  }
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = v;
  __syncthreads();
  T total = part[0];
  for (int w = 1; w < kThreads / 32; ++w)
    total = is_max ? (part[w] > total ? part[w] : total) : total + part[w];
  __syncthreads();
  return total;
}

template <DType D>
__device__ __forceinline__ double key_logit(const KeyAttentionScoreParams& p, const float* q,
                                            int kvh, int j) {
  const int64_t row_elems = static_cast<int64_t>(p.num_kv_heads) * p.head_dim;
  const int64_t k = p.kv.row_offset(j, row_elems) + static_cast<int64_t>(kvh) * p.head_dim;
  double dot = 0.0;  // float × float products are exact in float64: FMA or not, same sums
  for (int d = 0; d < p.head_dim; ++d)
    dot += static_cast<double>(q[d]) * static_cast<double>(load_weight<D>(p.kv.k, k + d));
  return dot * static_cast<double>(p.scale);
}

__device__ __forceinline__ bool key_visible(const KeyAttentionScoreParams& p, int r, int j) {
  return (p.key_mask == nullptr || p.key_mask[j] != 0) && (!p.causal || j <= p.q_slots[r]);
}

// One block per (row, head): max and Σ exp(s − max) over the visible keys (online per thread).
template <DType D>
__global__ void key_softmax_stats_kernel(const KeyAttentionScoreParams p, double* stats) {
  const int r = blockIdx.x / p.num_heads, h = blockIdx.x % p.num_heads;
  const int kvh = h / (p.num_heads / p.num_kv_heads);
  const float* q = p.q + (static_cast<int64_t>(r) * p.num_heads + h) * p.head_dim;
  double m = -INFINITY, l = 0.0;
  for (int j = threadIdx.x; j < p.num_keys; j += blockDim.x) {
    if (!key_visible(p, r, j)) continue;
    const double s = key_logit<D>(p, q, kvh, j);
    if (s > m) l = l * exp(m - s), m = s;
    l += exp(s - m);
  }
  const double mx = block_reduce(m, true);
  const double sum = block_reduce(m == -INFINITY ? 0.0 : l * exp(m - mx), false);
  if (threadIdx.x == 0) {
    stats[2 * blockIdx.x] = mx;
    stats[2 * blockIdx.x + 1] = sum;
  }
}

// One thread per (KV head, key): Σ over rows and the KV head's query heads, as the CPU twin.
template <DType D>
__global__ void key_mass_kernel(const KeyAttentionScoreParams p, const double* stats) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x, kvh = blockIdx.y;
  if (j >= p.num_keys) return;
  const int group = p.num_heads / p.num_kv_heads;
  double mass = 0.0;
  for (int r = 0; r < p.num_q; ++r) {
    if (!key_visible(p, r, j)) continue;
    for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
      const double mx = stats[2 * (r * p.num_heads + h)],
                   sum = stats[2 * (r * p.num_heads + h) + 1];
      if (mx == -INFINITY) continue;  // no visible key
      const float* q = p.q + (static_cast<int64_t>(r) * p.num_heads + h) * p.head_dim;
      mass += exp(key_logit<D>(p, q, kvh, j) - mx) / sum;
    }
  }
  p.out[static_cast<int64_t>(kvh) * p.num_keys + j] += static_cast<float>(mass);
}

// ---- select_top_tokens: sum, max-pool, radix-select the capacity-th best, compact in order ----

// Exclusive prefix sum of one int per thread (thread order); *total gets the block's sum.
__device__ int block_exclusive_scan(int v, int* total) {
  __shared__ int warp_sums[kThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int x = v;
  for (int off = 1; off < 32; off <<= 1) {
    const int o = __shfl_up_sync(0xffffffffu, x, off);
    if (lane >= off) x += o;
  }
  if (lane == 31) warp_sums[warp] = x;
  __syncthreads();
  int before = 0, all = 0;
  for (int w = 0; w < kThreads / 32; ++w) {
    if (w < warp) before += warp_sums[w];
    all += warp_sums[w];
  }
  __syncthreads();
  *total = all;
  return before + x - v;
}

// Order-preserving map of a float to unsigned (larger float, larger key).
__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t b = __float_as_uint(f);
  return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}

__global__ void select_top_tokens_kernel(const TokenSelectParams p) {
  extern __shared__ float smem[];
  float* total = smem;                                        // [len]
  uint32_t* key = reinterpret_cast<uint32_t*>(smem + p.len);  // [len], pooled as order keys
  __shared__ int hist[256];
  __shared__ uint32_t s_prefix;
  __shared__ int s_need;
  const int n = p.len, o = blockIdx.x, half = p.pool_width / 2;
  const int keep = min(p.capacity, n);
  for (int t = threadIdx.x; t < n; t += blockDim.x) {
    float acc = 0.0f;
    for (int g = 0; g < p.group; ++g)
      acc = __fadd_rn(acc, p.scores[(static_cast<int64_t>(o) * p.group + g) * p.row_stride + t]);
    total[t] = acc;
  }
  __syncthreads();
  for (int t = threadIdx.x; t < n; t += blockDim.x) {
    float m = total[t];
    for (int u = max(0, t - half); u <= min(n - 1, t + half); ++u) m = fmaxf(m, total[u]);
    key[t] = order_key(m);
  }
  // Candidates: every token but the anchor when it is kept anyway; need = how many to pick.
  const int first = p.keep_first ? 1 : 0;
  if (threadIdx.x == 0) {
    s_prefix = 0;
    s_need = keep - (p.keep_first && keep > 0 ? 1 : 0);
  }
  __syncthreads();
  uint32_t mask = 0;
  for (int shift = 24; shift >= 0 && keep < n; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
    __syncthreads();
    const uint32_t prefix = s_prefix;
    for (int t = first + threadIdx.x; t < n; t += blockDim.x)
      if ((key[t] & mask) == prefix) atomicAdd(&hist[(key[t] >> shift) & 0xffu], 1);
    __syncthreads();
    if (threadIdx.x == 0 && s_need > 0) {
      int need = s_need, b = 255;
      while (b > 0 && hist[b] < need) need -= hist[b--];
      s_prefix = prefix | (static_cast<uint32_t>(b) << shift);
      s_need = need;  // still to take among keys equal to the prefix so far
    }
    mask |= 0xffu << shift;
    __syncthreads();
  }
  // Threshold key and how many equal keys (lowest indices first) are taken.
  const uint32_t thr = s_prefix;
  const int take_equal = s_need;
  const bool none = keep < n && take_equal == 0 && keep == first;  // only the anchor
  const int per = (n + blockDim.x - 1) / blockDim.x;
  const int t0 = min(n, static_cast<int>(threadIdx.x) * per), t1 = min(n, t0 + per);
  auto candidate = [&](int t) { return t >= first; };
  int equal = 0;
  for (int t = t0; t < t1; ++t) equal += keep < n && candidate(t) && key[t] == thr ? 1 : 0;
  int total_equal = 0;
  int equal_before = block_exclusive_scan(equal, &total_equal);
  auto is_kept = [&](int t, int* eq_seen) {
    if (keep >= n) return true;
    if (!candidate(t)) return keep > 0;  // the anchor
    if (none) return false;
    if (key[t] > thr) return true;
    if (key[t] == thr) return (*eq_seen)++ < take_equal;
    return false;
  };
  int count = 0, seen = equal_before;
  for (int t = t0; t < t1; ++t) count += is_kept(t, &seen) ? 1 : 0;
  int kept_total = 0;
  int pos = block_exclusive_scan(count, &kept_total);
  seen = equal_before;
  int32_t* out = p.kept + static_cast<int64_t>(o) * keep;
  for (int t = t0; t < t1; ++t)
    if (is_kept(t, &seen)) out[pos++] = t;
}

// ---- target_log_probs: one block per row ----

__global__ void target_log_probs_kernel(const TargetLogProbParams p) {
  const float* row = p.logits + static_cast<int64_t>(blockIdx.x) * p.vocab;
  float mx = -INFINITY;
  for (int v = threadIdx.x; v < p.vocab; v += blockDim.x) mx = fmaxf(mx, row[v]);
  const double m = block_reduce(mx, true);
  double sum = 0.0;
  for (int v = threadIdx.x; v < p.vocab; v += blockDim.x)
    sum += exp(static_cast<double>(row[v]) - m);
  sum = block_reduce(sum, false);
  if (threadIdx.x == 0)
    p.out[blockIdx.x] = static_cast<double>(row[p.tokens[blockIdx.x]]) - m - log(sum);
}

void check_kv(const KvView& kv, const char* what) {
  if (kv.dtype != DType::kF32 && kv.dtype != DType::kBF16)
    throw std::invalid_argument(std::string(what) + ": K/V must be f32 or bf16");
  if (kv.page_table != nullptr && kv.page_size <= 0)
    throw std::invalid_argument(std::string(what) + ": a paged K/V view needs page_size > 0");
}

}  // namespace

void launch_rerotate_kv_rows(const KvRerotateParams& p, cudaStream_t stream) {
  if (p.num_rows <= 0) return;
  check_kv(p.src, "rerotate_kv_rows");
  check_kv(p.dst, "rerotate_kv_rows");
  if (p.head_dim % 2 != 0) throw std::invalid_argument("rerotate_kv_rows: odd head_dim");
  const size_t smem = sizeof(double) * p.head_dim;
  dispatch_dtype(p.src.dtype, [&](auto s) {
    dispatch_dtype(p.dst.dtype, [&](auto t) {
      constexpr DType S = decltype(s)::value, T = decltype(t)::value;
      if constexpr (S != DType::kF16 && T != DType::kF16)
        rerotate_kernel<S, T><<<p.num_rows, 128, smem, stream>>>(p);
    });
  });
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_accumulate_key_attention_scores(const KeyAttentionScoreParams& p,
                                            StreamScratch& scratch, cudaStream_t stream) {
  if (p.num_q <= 0 || p.num_keys <= 0 || p.num_heads <= 0) return;
  check_kv(p.kv, "accumulate_key_attention_scores");
  if (p.num_kv_heads <= 0 || p.num_heads % p.num_kv_heads != 0)
    throw std::invalid_argument(
        "accumulate_key_attention_scores: heads not a multiple of KV heads");
  const int pairs = p.num_q * p.num_heads;
  auto* stats = static_cast<double*>(scratch.get(sizeof(double) * 2 * pairs, stream));
  const dim3 mass_grid((p.num_keys + kThreads - 1) / kThreads, p.num_kv_heads);
  dispatch_dtype(p.kv.dtype, [&](auto tag) {
    constexpr DType D = decltype(tag)::value;
    if constexpr (D != DType::kF16) {
      key_softmax_stats_kernel<D><<<pairs, kThreads, 0, stream>>>(p, stats);
      DLLM_CUDA_CHECK_LAUNCH();
      key_mass_kernel<D><<<mass_grid, kThreads, 0, stream>>>(p, stats);
    }
  });
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_select_top_tokens(const TokenSelectParams& p, cudaStream_t stream) {
  if (p.num_outputs <= 0 || p.len <= 0) return;
  if (p.capacity < 1 || p.group < 1 || p.pool_width < 1)
    throw std::invalid_argument("select_top_tokens: capacity, group and pool_width must be >= 1");
  const size_t smem = sizeof(float) * 2 * static_cast<size_t>(p.len);
  int device = 0, limit = 0;
  DLLM_CUDA_CHECK(cudaGetDevice(&device));
  DLLM_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (smem + 2048 > static_cast<size_t>(limit))
    throw std::invalid_argument("select_top_tokens: chunk of " + std::to_string(p.len) +
                                " tokens does not fit in shared memory");
  if (smem > 48 * 1024)
    DLLM_CUDA_CHECK(cudaFuncSetAttribute(select_top_tokens_kernel,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem)));
  select_top_tokens_kernel<<<p.num_outputs, kThreads, smem, stream>>>(p);
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_target_log_probs(const TargetLogProbParams& p, cudaStream_t stream) {
  if (p.num_rows <= 0) return;
  target_log_probs_kernel<<<p.num_rows, kThreads, 0, stream>>>(p);
  DLLM_CUDA_CHECK_LAUNCH();
}

}  // namespace dllm::kernels::cuda
