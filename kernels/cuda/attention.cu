// Attention entry point and its fp32 CUDA-core kernel: online softmax over key tiles (f32 K/V
// staged by cp.async, bf16 K/V widened on load), paged or contiguous, GQA heads of one KV head
// sharing each tile, split-KV with a log-sum-exp merge for decode. bf16 K/V with head_dim % 8 == 0
// goes to the tensor-core kernel (flash_attention_bf16.cu) instead. Focus-dLLM's sparse attention
// is the same kernels over keys mapped through block / token / response segments.
#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cuda/attention_internal.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/split_kv_plan.h"
#include "kernels/cuda/weight_access.cuh"

namespace dllm::kernels::cuda {
namespace {

constexpr int kThreads = 128;    // 8 row groups (ty) × 16 key/dim lanes (tx)
constexpr int kRowsPerCta = 32;  // query vectors (row, head) per CTA, 4 per thread
constexpr int kRowsPerThread = 4;
constexpr int kLanes = 16;

// Tile geometry for a head-dim tier HD (the call's head_dim is zero-padded up to HD).
template <int HD>
struct Tile {
  static constexpr int kKeys = HD >= 128 ? 32 : 64;  // keys per tile (BC)
  static constexpr int kLd = HD + 4;                 // smem row stride: 16-byte pad, no conflicts
  static constexpr int kPLd = kKeys + 4;
  static constexpr int kKeysPerThread = kKeys / kLanes;
  static constexpr int kVec = HD >= 64 ? 4 : HD / 16;  // dims per vector access in P·V
  static constexpr int kDimGroups = HD / (kLanes * kVec);
  static constexpr int kDimsPerThread = HD / kLanes;
  // Q tile, two stages of K and V tiles, and the probability tile.
  static constexpr size_t kSmemBytes =
      sizeof(float) * (kRowsPerCta * kLd + 4 * kKeys * kLd + kRowsPerCta * kPLd);
};

struct AttnArgs {
  const float* q;
  KvView kv;        // f32 or bf16, paged or contiguous
  float* out;       // final output when num_splits == 1
  float* part_o;    // [split][num_q][heads][head_dim], normalised per split
  float* part_lse;  // [split][num_q][heads]
  const uint8_t* key_mask;
  const int32_t* q_positions;
  int num_q, num_keys, num_heads, num_kv_heads, head_dim, group;
  float scale;
  int causal;
  int keys_per_split, num_splits;
  int vec_loads;             // head_dim % 4 == 0 and k, v aligned to 4 elements: 4-element copies
  SparseKeySegments sparse;  // active: logical keys mapped to slots (never causal)
};

__device__ __forceinline__ void cp_async16(float* smem, const float* gmem, int src_bytes) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
__device__ __forceinline__ void cp_async_wait_all_but_one() {
  asm volatile("cp.async.wait_group 1;\n" ::: "memory");
}

// The slot of logical key `key`, or −1 when no query may see it (past the end, masked, padding).
__device__ __forceinline__ int visible_slot(const AttnArgs& a, const SparseKeyMap& km, int key,
                                            int key_end) {
  if (key >= key_end) return -1;
  const int slot = a.sparse.active ? km.slot(key) : key;
  return slot >= 0 && (a.key_mask == nullptr || a.key_mask[slot] != 0) ? slot : -1;
}

// Stages K and V rows [t0, t0 + kKeys) of KV head kvh as fp32; rows that no query may see (past
// the end, masked) are zero-filled so that stale or NaN cache contents never reach the sums.
// f32 rows go through cp.async; bf16 rows are widened (exactly) by ordinary loads and stores.
template <int HD, DType KD>
__device__ __forceinline__ void load_kv_tile(const AttnArgs& a, const SparseKeyMap& km, int kvh,
                                             int t0, int key_end, float* ks, float* vs) {
  using T = Tile<HD>;
  constexpr int kChunks = HD / 4;
  const int64_t kv_row = static_cast<int64_t>(a.num_kv_heads) * a.head_dim;
  for (int idx = threadIdx.x; idx < T::kKeys * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = (idx % kChunks) * 4;
    const int slot = visible_slot(a, km, t0 + r, key_end);
    const bool ok = slot >= 0;
    const int64_t off =
        ok ? a.kv.row_offset(slot, kv_row) + static_cast<int64_t>(kvh) * a.head_dim + c : 0;
    float* kd = ks + r * T::kLd + c;
    float* vd = vs + r * T::kLd + c;
    if constexpr (KD == DType::kF32) {
      if (a.vec_loads) {
        const bool in = ok && c < a.head_dim;
        const auto* k = static_cast<const float*>(a.kv.k);
        const auto* v = static_cast<const float*>(a.kv.v);
        cp_async16(kd, in ? k + off : k, in ? 16 : 0);
        cp_async16(vd, in ? v + off : v, in ? 16 : 0);
        continue;
      }
    } else {
      if (a.vec_loads) {
        const bool in = ok && c < a.head_dim;
        const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        *reinterpret_cast<float4*>(kd) = in ? load_weight4<KD>(a.kv.k, off) : zero;
        *reinterpret_cast<float4*>(vd) = in ? load_weight4<KD>(a.kv.v, off) : zero;
        continue;
      }
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const bool in = ok && c + e < a.head_dim;
      kd[e] = in ? load_weight<KD>(a.kv.k, off + e) : 0.0f;
      vd[e] = in ? load_weight<KD>(a.kv.v, off + e) : 0.0f;
    }
  }
}

// Grid: (query tiles, KV heads, key splits). Query vector qv of a KV head is query row qv / group,
// head kvh * group + qv % group.
template <int HD, DType KD>
__global__ void __launch_bounds__(kThreads) flash_attention_kernel(const AttnArgs a) {
  using T = Tile<HD>;
  extern __shared__ float4 smem4[];
  float* qs = reinterpret_cast<float*>(smem4);
  float* ks = qs + kRowsPerCta * T::kLd;  // [2][kKeys][kLd]
  float* vs = ks + 2 * T::kKeys * T::kLd;
  float* ps = vs + 2 * T::kKeys * T::kLd;  // [kRowsPerCta][kPLd]
  __shared__ int furthest_pos;

  const int tid = threadIdx.x, tx = tid % kLanes, ty = tid / kLanes;
  const int kvh = blockIdx.y, split = blockIdx.z;
  const int qv0 = blockIdx.x * kRowsPerCta;
  const int num_qv = a.num_q * a.group;
  const int64_t q_stride = static_cast<int64_t>(a.num_heads) * a.head_dim;

  for (int idx = tid; idx < kRowsPerCta * HD; idx += kThreads) {
    const int r = idx / HD, d = idx % HD, qv = qv0 + r;
    float val = 0.0f;
    if (qv < num_qv && d < a.head_dim)
      val = a.q[(qv / a.group) * q_stride +
                static_cast<int64_t>(kvh * a.group + qv % a.group) * a.head_dim + d];
    qs[r * T::kLd + d] = val;
  }
  if (tid < 32) {  // causal: the CTA's furthest-seeing row bounds the keys it must read
    int pos = -1;
    if (a.causal) {
      const int qv = qv0 + tid;
      if (qv < num_qv) pos = a.q_positions[qv / a.group];
    }
    pos = __reduce_max_sync(0xffffffffu, pos);
    if (tid == 0) furthest_pos = pos;
  }
  int limit[kRowsPerThread];  // last visible key per row; -1 for padding rows
#pragma unroll
  for (int r = 0; r < kRowsPerThread; ++r) {
    const int qv = qv0 + ty * kRowsPerThread + r;
    limit[r] = qv >= num_qv ? -1 : a.causal ? a.q_positions[qv / a.group] : INT_MAX;
  }
  __syncthreads();

  const int key_begin = split * a.keys_per_split;
  int key_end = min(a.num_keys, key_begin + a.keys_per_split);
  SparseKeyMap km{};
  if (a.sparse.active) {
    km = resolve_sparse_keys(a.sparse);
    key_end = min(key_end, km.total);
  }
  if (a.causal) key_end = min(key_end, furthest_pos + 1);
  const int num_tiles = key_end > key_begin ? (key_end - key_begin + T::kKeys - 1) / T::kKeys : 0;

  float m[kRowsPerThread], l[kRowsPerThread], o[kRowsPerThread][T::kDimsPerThread];
#pragma unroll
  for (int r = 0; r < kRowsPerThread; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int d = 0; d < T::kDimsPerThread; ++d) o[r][d] = 0.0f;
  }

  if (num_tiles > 0) load_kv_tile<HD, KD>(a, km, kvh, key_begin, key_end, ks, vs);
  cp_async_commit();
  for (int t = 0; t < num_tiles; ++t) {
    const int stage = t & 1, t0 = key_begin + t * T::kKeys;
    if (t + 1 < num_tiles)
      load_kv_tile<HD, KD>(a, km, kvh, t0 + T::kKeys, key_end, ks + (stage ^ 1) * T::kKeys * T::kLd,
                           vs + (stage ^ 1) * T::kKeys * T::kLd);
    cp_async_commit();
    cp_async_wait_all_but_one();
    __syncthreads();  // tile t (and, first time round, Q) visible to every thread

    // Scores for rows ty*4.. and keys tx + 16j.
    const float* kt = ks + stage * T::kKeys * T::kLd;
    float s[kRowsPerThread][T::kKeysPerThread] = {};
#pragma unroll 4
    for (int d = 0; d < HD; d += 4) {
      float4 qv[kRowsPerThread], kv[T::kKeysPerThread];
#pragma unroll
      for (int r = 0; r < kRowsPerThread; ++r)
        qv[r] = *reinterpret_cast<const float4*>(qs + (ty * kRowsPerThread + r) * T::kLd + d);
#pragma unroll
      for (int j = 0; j < T::kKeysPerThread; ++j)
        kv[j] = *reinterpret_cast<const float4*>(kt + (tx + kLanes * j) * T::kLd + d);
#pragma unroll
      for (int r = 0; r < kRowsPerThread; ++r)
#pragma unroll
        for (int j = 0; j < T::kKeysPerThread; ++j)
          s[r][j] += qv[r].x * kv[j].x + qv[r].y * kv[j].y + qv[r].z * kv[j].z + qv[r].w * kv[j].w;
    }

    // Online softmax; the 16 lanes of a row are one half-warp, reduced with xor shuffles.
#pragma unroll
    for (int j = 0; j < T::kKeysPerThread; ++j) {
      const int key = t0 + tx + kLanes * j;
      const bool ok = visible_slot(a, km, key, key_end) >= 0;
#pragma unroll
      for (int r = 0; r < kRowsPerThread; ++r)
        s[r][j] = ok && key <= limit[r] ? s[r][j] * a.scale : -INFINITY;
    }
#pragma unroll
    for (int r = 0; r < kRowsPerThread; ++r) {
      float mx = s[r][0];
#pragma unroll
      for (int j = 1; j < T::kKeysPerThread; ++j) mx = fmaxf(mx, s[r][j]);
#pragma unroll
      for (int off = kLanes / 2; off > 0; off >>= 1)
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_new = fmaxf(m[r], mx);
      const float base = m_new == -INFINITY ? 0.0f : m_new;  // all masked so far: keep zeros
      const float corr = expf(m[r] - base);
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < T::kKeysPerThread; ++j) {
        const float p = expf(s[r][j] - base);
        sum += p;
        ps[(ty * kRowsPerThread + r) * T::kPLd + tx + kLanes * j] = p;
      }
#pragma unroll
      for (int off = kLanes / 2; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      l[r] = l[r] * corr + sum;
      m[r] = m_new;
#pragma unroll
      for (int d = 0; d < T::kDimsPerThread; ++d) o[r][d] *= corr;
    }
    __syncwarp();  // a row's P is written and read by the same half-warp

    // O[rows, dims] += P · V; thread dims: group g covers tx*kVec + g*16*kVec .. +kVec.
    const float* vt = vs + stage * T::kKeys * T::kLd;
#pragma unroll 2
    for (int c = 0; c < T::kKeys; c += 4) {
      float p[kRowsPerThread][4];
#pragma unroll
      for (int r = 0; r < kRowsPerThread; ++r) {
        const float4 p4 =
            *reinterpret_cast<const float4*>(ps + (ty * kRowsPerThread + r) * T::kPLd + c);
        p[r][0] = p4.x, p[r][1] = p4.y, p[r][2] = p4.z, p[r][3] = p4.w;
      }
#pragma unroll
      for (int cc = 0; cc < 4; ++cc) {
        const float* vrow = vt + (c + cc) * T::kLd;
#pragma unroll
        for (int g = 0; g < T::kDimGroups; ++g) {
          float v[T::kVec];
          const int d0 = g * kLanes * T::kVec + tx * T::kVec;
          if constexpr (T::kVec == 4) {
            const float4 v4 = *reinterpret_cast<const float4*>(vrow + d0);
            v[0] = v4.x, v[1] = v4.y, v[2] = v4.z, v[3] = v4.w;
          } else if constexpr (T::kVec == 2) {
            const float2 v2 = *reinterpret_cast<const float2*>(vrow + d0);
            v[0] = v2.x, v[1] = v2.y;
          } else {
            v[0] = vrow[d0];
          }
#pragma unroll
          for (int r = 0; r < kRowsPerThread; ++r)
#pragma unroll
            for (int e = 0; e < T::kVec; ++e) o[r][g * T::kVec + e] += p[r][cc] * v[e];
        }
      }
    }
    __syncthreads();  // this stage's K/V and P may be overwritten
  }

#pragma unroll
  for (int r = 0; r < kRowsPerThread; ++r) {
    const int qv = qv0 + ty * kRowsPerThread + r;
    if (qv >= num_qv) continue;
    const int64_t i = qv / a.group, h = kvh * a.group + qv % a.group;
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;  // no visible key: zeros, as the CPU twin
    float* dst = a.num_splits == 1
                     ? a.out + i * q_stride + h * a.head_dim
                     : a.part_o + ((static_cast<int64_t>(split) * a.num_q + i) * a.num_heads + h) *
                                      a.head_dim;
#pragma unroll
    for (int g = 0; g < T::kDimGroups; ++g)
#pragma unroll
      for (int e = 0; e < T::kVec; ++e) {
        const int d = g * kLanes * T::kVec + tx * T::kVec + e;
        if (d < a.head_dim) dst[d] = o[r][g * T::kVec + e] * inv;
      }
    if (a.num_splits > 1 && tx == 0)
      a.part_lse[(static_cast<int64_t>(split) * a.num_q + i) * a.num_heads + h] =
          l[r] > 0.0f ? m[r] + logf(l[r]) : -INFINITY;
  }
}

// One block per (row, head): out = Σ_s e^{lse_s − M} · O_s / Σ_s e^{lse_s − M}.
__global__ void merge_splits_kernel(const float* part_o, const float* part_lse, int num_splits,
                                    int64_t rows, int head_dim, float* out) {
  const int64_t row = blockIdx.x;
  float mx = -INFINITY;
  for (int s = 0; s < num_splits; ++s) mx = fmaxf(mx, part_lse[s * rows + row]);
  float* dst = out + row * head_dim;
  if (mx == -INFINITY) {
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) dst[d] = 0.0f;
    return;
  }
  float wsum = 0.0f;
  for (int s = 0; s < num_splits; ++s) wsum += expf(part_lse[s * rows + row] - mx);
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < num_splits; ++s) {
      const float w = expf(part_lse[s * rows + row] - mx);
      if (w > 0.0f) acc += w * part_o[(s * rows + row) * head_dim + d];
    }
    dst[d] = acc / wsum;
  }
}

int tier_of(int head_dim) {
  return head_dim <= 16 ? 0 : head_dim <= 32 ? 1 : head_dim <= 64 ? 2 : 3;
}

template <typename F>
void dispatch_tier(int tier, F&& f) {
  switch (tier) {
    case 0:
      f(std::integral_constant<int, 16>{});
      return;
    case 1:
      f(std::integral_constant<int, 32>{});
      return;
    case 2:
      f(std::integral_constant<int, 64>{});
      return;
    default:
      f(std::integral_constant<int, 128>{});
      return;
  }
}

}  // namespace

SplitKvPlan plan_split_kv(int num_q, int group, int num_kv_heads, int num_keys, int rows_per_cta,
                          int keys_per_tile, int ctas_per_wave) {
  SplitKvPlan plan;
  const int64_t q_vectors = static_cast<int64_t>(num_q) * group;
  plan.q_tiles = static_cast<int>((q_vectors + rows_per_cta - 1) / rows_per_cta);
  const int64_t tiles = std::max<int64_t>(1, (num_keys + keys_per_tile - 1) / keys_per_tile);
  plan.num_splits = 1;
  plan.keys_per_split = static_cast<int>(tiles * keys_per_tile);
  const int64_t base = static_cast<int64_t>(plan.q_tiles) * num_kv_heads;
  const int64_t max_splits =
      std::min<int64_t>(kMaxSplits, std::max<int64_t>(1, tiles / kMinTilesPerSplit));
  if (base <= 0 || ctas_per_wave <= 0 || base * 5 >= static_cast<int64_t>(ctas_per_wave) * 4 ||
      max_splits <= 1)
    return plan;  // the query tiles already fill (80% of) a wave, or too few keys to split
  // Efficiency of s splits: busy CTA slots over slots held (last wave counts whole).
  auto efficiency = [&](int64_t s) {
    const int64_t ctas = base * s;
    const int64_t waves = (ctas + ctas_per_wave - 1) / ctas_per_wave;
    return static_cast<double>(ctas) / static_cast<double>(waves * ctas_per_wave);
  };
  double best = 0.0;
  for (int64_t s = 1; s <= max_splits; ++s) best = std::max(best, efficiency(s));
  int64_t splits = 1;
  while (splits < max_splits && efficiency(splits) < 0.85 * best) ++splits;
  const int64_t tiles_per_split = (tiles + splits - 1) / splits;
  plan.keys_per_split = static_cast<int>(tiles_per_split * keys_per_tile);
  plan.num_splits = static_cast<int>((tiles + tiles_per_split - 1) / tiles_per_split);
  return plan;
}

void launch_merge_splits(const float* part_o, const float* part_lse, int num_splits, int64_t rows,
                         int head_dim, float* out, cudaStream_t stream) {
  const int threads = std::min(128, (head_dim + 31) / 32 * 32);
  merge_splits_kernel<<<static_cast<unsigned>(rows), threads, 0, stream>>>(
      part_o, part_lse, num_splits, rows, head_dim, out);
  DLLM_CUDA_CHECK_LAUNCH();
}

AttentionLimits prepare_attention(int device) {
  AttentionLimits limits;
  DLLM_CUDA_CHECK(cudaDeviceGetAttribute(&limits.sm_count, cudaDevAttrMultiProcessorCount, device));
  for (int tier = 0; tier < 4; ++tier) {
    dispatch_tier(tier, [&](auto hd) {
      constexpr int HD = decltype(hd)::value;
      for (const auto kernel :
           {flash_attention_kernel<HD, DType::kF32>, flash_attention_kernel<HD, DType::kBF16>})
        DLLM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(Tile<HD>::kSmemBytes)));
      // Both K/V types share the shared-memory footprint; the f32 one sets the plan.
      DLLM_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
          &limits.ctas_per_sm[tier], flash_attention_kernel<HD, DType::kF32>, kThreads,
          Tile<HD>::kSmemBytes));
      limits.ctas_per_sm[tier] = std::max(1, limits.ctas_per_sm[tier]);
    });
  }
  prepare_flash_attention_bf16(&limits);
  return limits;
}

namespace {

// Dense (sparse.active 0) or over the segments' keys; p.num_keys covers every logical key.
void launch_attention_over(const AttentionParams& p, const SparseKeySegments& sparse,
                           const AttentionLimits& limits, StreamScratch& scratch,
                           cudaStream_t stream) {
  if (p.num_q <= 0 || p.num_heads <= 0) return;
  if (p.num_kv_heads <= 0 || p.num_heads % p.num_kv_heads != 0)
    throw std::invalid_argument("attention: num_heads " + std::to_string(p.num_heads) +
                                " is not a multiple of num_kv_heads " +
                                std::to_string(p.num_kv_heads));
  if (p.head_dim <= 0 || p.head_dim > 128)
    throw std::invalid_argument("attention: the CUDA backend supports head_dim 1..128, got " +
                                std::to_string(p.head_dim));
  if (p.causal && p.q_positions == nullptr)
    throw std::invalid_argument("attention: causal needs q_positions");
  if (p.kv.dtype != DType::kF32 && p.kv.dtype != DType::kBF16)
    throw std::invalid_argument("attention: K/V must be f32 or bf16");
  if (p.kv.page_table != nullptr && p.kv.page_size <= 0)
    throw std::invalid_argument("attention: a paged K/V view needs page_size > 0");
  const int64_t out_floats = static_cast<int64_t>(p.num_q) * p.num_heads * p.head_dim;
  if (p.num_keys <= 0) {  // softmax over nothing: zeros, as the CPU twin
    DLLM_CUDA_CHECK(cudaMemsetAsync(p.out, 0, out_floats * sizeof(float), stream));
    return;
  }
  if (flash_attention_bf16_supports(p)) {
    launch_flash_attention_bf16(p, sparse, limits, scratch, stream);
    return;
  }
  const int tier = tier_of(p.head_dim);
  dispatch_tier(tier, [&](auto hd) {
    constexpr int HD = decltype(hd)::value;
    using T = Tile<HD>;
    const int group = p.num_heads / p.num_kv_heads;
    const SplitKvPlan plan = plan_split_kv(p.num_q, group, p.num_kv_heads, p.num_keys, kRowsPerCta,
                                           T::kKeys, limits.sm_count * limits.ctas_per_sm[tier]);
    AttnArgs a{};
    a.q = p.q, a.kv = p.kv, a.out = p.out;
    a.key_mask = p.key_mask, a.q_positions = p.q_positions;
    a.num_q = p.num_q, a.num_keys = p.num_keys, a.num_heads = p.num_heads;
    a.num_kv_heads = p.num_kv_heads, a.head_dim = p.head_dim, a.group = group;
    a.scale = p.scale, a.causal = p.causal ? 1 : 0;
    a.keys_per_split = plan.keys_per_split, a.num_splits = plan.num_splits;
    a.sparse = sparse;
    const uintptr_t vec_align = 4 * dtype_size(p.kv.dtype);  // 4 elements: 16 B f32, 8 B bf16
    a.vec_loads =
        p.head_dim % 4 == 0 && aligned_to(p.kv.k, vec_align) && aligned_to(p.kv.v, vec_align);
    const int64_t rows = static_cast<int64_t>(p.num_q) * p.num_heads;
    if (plan.num_splits > 1) {
      const size_t o_floats = static_cast<size_t>(plan.num_splits) * out_floats;
      const size_t lse_floats = static_cast<size_t>(plan.num_splits) * rows;
      auto* base =
          static_cast<float*>(scratch.get((o_floats + lse_floats) * sizeof(float), stream));
      a.part_o = base;
      a.part_lse = base + o_floats;
    }
    const dim3 grid(static_cast<unsigned>(plan.q_tiles), static_cast<unsigned>(p.num_kv_heads),
                    static_cast<unsigned>(plan.num_splits));
    if (p.kv.dtype == DType::kBF16)
      flash_attention_kernel<HD, DType::kBF16><<<grid, kThreads, T::kSmemBytes, stream>>>(a);
    else
      flash_attention_kernel<HD, DType::kF32><<<grid, kThreads, T::kSmemBytes, stream>>>(a);
    DLLM_CUDA_CHECK_LAUNCH();
    if (plan.num_splits > 1)
      launch_merge_splits(a.part_o, a.part_lse, plan.num_splits, rows, p.head_dim, p.out, stream);
  });
}

}  // namespace

void launch_attention(const AttentionParams& p, const AttentionLimits& limits,
                      StreamScratch& scratch, cudaStream_t stream) {
  launch_attention_over(p, SparseKeySegments{}, limits, scratch, stream);
}

void launch_sparse_attention(const SparseAttentionParams& p, const AttentionLimits& limits,
                             StreamScratch& scratch, cudaStream_t stream) {
  if (p.block_size <= 0 || p.num_blocks < 0 || p.num_tokens < 0 ||
      p.response_end < p.response_begin || p.response_begin < p.prompt_len)
    throw std::invalid_argument("sparse attention: bad segments");
  SparseKeySegments sparse;
  sparse.active = 1;
  sparse.blocks = p.blocks, sparse.tokens = p.tokens, sparse.counts = p.counts;
  sparse.num_blocks = p.num_blocks, sparse.num_tokens = p.num_tokens;
  sparse.block_size = p.block_size, sparse.prompt_len = p.prompt_len;
  sparse.response_begin = p.response_begin, sparse.response_end = p.response_end;
  AttentionParams dense;
  dense.q = p.q, dense.kv = p.kv, dense.out = p.out;
  dense.num_q = p.num_q, dense.num_keys = sparse.max_keys();
  dense.num_heads = p.num_heads, dense.num_kv_heads = p.num_kv_heads, dense.head_dim = p.head_dim;
  dense.scale = p.scale, dense.key_mask = p.key_mask;
  launch_attention_over(dense, sparse, limits, scratch, stream);
}

}  // namespace dllm::kernels::cuda
