// Flash attention on tensor cores for bf16 K/V (paged or contiguous): mma.sync m16n8k16 with fp32
// accumulators, Q rounded to bf16 in-kernel, online softmax in fp32, cp.async multi-stage K/V
// tiles of 32 or 64 keys, GQA query heads packed along M, and split-KV with a log-sum-exp merge
// when the query tiles alone cannot fill the GPU (decode). Every K/V row is addressed through the
// page table key by key, so any page size works, and a sparse call (Focus-dLLM) maps its logical
// keys to slots through block / token / response segments on the way (sparse_keys.cuh).
#include <cuda_bf16.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>

#include "kernels/cuda/attention_internal.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/sparse_keys.cuh"
#include "kernels/cuda/split_kv_plan.h"
#include "kernels/cuda/weight_access.cuh"

namespace dllm::kernels::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
// Score of a key a row must not see: the accumulator starts there, so adding the (moderate) dot
// product leaves it near −1e30; exp2 of it minus any real row max is 0. Finite, so the tensor
// cores never see an infinity.
constexpr float kHiddenScore = -1e30f;
constexpr float kNoVisibleKey = -5e29f;  // a running max below this has seen no visible key

// HD: head-dim tier (64 or 128; smaller head dims are zero-padded up to it). Each warp owns
// kMTiles × 16 query vectors; a K/V tile holds kKeys keys; kStages tiles are in flight or
// resident at once.
template <int HD, int MTiles, int Keys, int Stages>
struct Config {
  static_assert(HD == 64 || HD == 128, "head-dim tiers are 64 and 128");
  static_assert(Keys == 32 || Keys == 64, "one or two warps publish a tile's keys");
  static_assert(Stages >= 2, "the main loop refills a stage while computing another");
  static constexpr int kHd = HD;
  static constexpr int kMTiles = MTiles;
  static constexpr int kKeys = Keys;
  static constexpr int kStages = Stages;
  static constexpr int kRows = 16 * kMTiles * kWarps;  // query vectors per CTA
  static constexpr int kChunks = HD / 8;               // 16-byte chunks per bf16 row
  static constexpr int kRowBytes = HD * 2;
  static constexpr int kKvTileBytes = kKeys * kRowBytes;
  static constexpr int kMetaSlots = kStages + 1;  // see the main loop for the reuse distance
  static constexpr int kRowsPerPass = kThreads / kChunks;
  static constexpr int kLoadRows = kKeys / kRowsPerPass;  // K (and V) rows each thread copies
  static constexpr size_t kQBytes = static_cast<size_t>(kRows) * kRowBytes;
  static constexpr size_t kSmemBytes = kQBytes + 2 * kStages * static_cast<size_t>(kKvTileBytes) +
                                       kMetaSlots * (kKeys * sizeof(int64_t) + 8);
};

// The shapes launched. Decode (few query vectors, memory-bound): M = 64 and a deep pipeline,
// 2-3 tiles (48-64 KB) in flight per CTA while two CTAs share an SM (at head dim 128, 4 stages of
// 32 keys fit two CTAs' shared memory where 3 stages of 64 do not). Prefill: M = 128, so that
// each K/V fragment feeds two MMAs and the L2 traffic per flop halves; at head dim 128 the key
// tile is 32 so that the accumulators (128 O + 32 S registers) fit without spilling.
using DecodeHd64 = Config<64, 1, 64, 3>;
using PrefillHd64 = Config<64, 2, 64, 2>;
using DecodeHd128 = Config<128, 1, 32, 4>;
using PrefillHd128 = Config<128, 2, 32, 2>;
constexpr int kDecodeMaxRows = 64;  // query vectors per KV head up to which the decode shape runs

struct MmaArgs {
  const float* q;
  const uint16_t* k;  // bf16 bits
  const uint16_t* v;
  const int32_t* page_table;  // null: contiguous
  int page_size;
  float* out;
  float* part_o;    // [split][num_q][heads][head_dim] when num_splits > 1
  float* part_lse;  // [split][num_q][heads], natural log
  const uint8_t* key_mask;
  const int32_t* q_positions;
  int num_q, num_keys, num_heads, num_kv_heads, head_dim, group;
  float scale_log2;  // scale · log2(e), folded into Q: scores live in the base-2 domain
  int causal;
  int keys_per_split, num_splits;
  int q_vec;                 // q is 16-byte aligned: float4 loads
  SparseKeySegments sparse;  // active: logical keys mapped to slots (never causal)
};

// Byte offset of 16-byte chunk `chunk` of row `row` in a [rows][HD] bf16 tile. The chunk index is
// XOR-swizzled with the row's low 3 bits so that ldmatrix's 8 rows at one logical column (and the
// cp.async writes) fall in 8 different bank groups.
template <int kRowBytes>
__device__ __forceinline__ uint32_t swizzle(int row, int chunk) {
  return static_cast<uint32_t>(row * kRowBytes + ((chunk ^ (row & 7)) << 4));
}

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// d += a · b for a 16×16 bf16 A (row-major fragment), 16×8 bf16 B (column-major), fp32 C/D.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats as packed bf16 (round to nearest even), `lo` in the low half.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

__device__ __forceinline__ float fast_exp2(float x) {  // exp2(-inf) = 0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Where a key's K/V row of this KV head starts, fetched one tile ahead by threads 0..kKeys-1 (one
// key each) so that the page-table and mask loads are in flight while a tile is computed.
struct KeyFetch {
  int slot = 0;  // the cache slot of the key
  int page = 0;  // page_table[slot / page_size] (unused when contiguous)
  int ok = 0;    // key < key_end and not masked
};

__device__ __forceinline__ KeyFetch fetch_key(const MmaArgs& a, const SparseKeyMap& km, int key,
                                              int key_end) {
  KeyFetch f;
  if (key < key_end) {
    f.slot = a.sparse.active ? km.slot(key) : key;
    f.ok = f.slot >= 0 && (a.key_mask == nullptr || a.key_mask[f.slot] != 0);
    if (f.ok && a.page_table != nullptr) f.page = a.page_table[f.slot / a.page_size];
  }
  return f;
}

// Publishes a fetched key into meta slot `slot`: its element offset (−1 when invisible) and the
// tile's visibility bits (warp 0: keys 0..31, warp 1: keys 32..63). Threads 0..kKeys-1 only.
template <typename C>
__device__ __forceinline__ void publish_key(const MmaArgs& a, const KeyFetch& f, int kvh,
                                            int64_t* meta, uint32_t* vis, int slot) {
  int64_t off = -1;
  if (f.ok) {
    const int64_t phys = a.page_table == nullptr
                             ? f.slot
                             : static_cast<int64_t>(f.page) * a.page_size + f.slot % a.page_size;
    off = phys * a.num_kv_heads * a.head_dim + static_cast<int64_t>(kvh) * a.head_dim;
  }
  const int tid = threadIdx.x;
  meta[slot * C::kKeys + tid] = off;
  const uint32_t bits = __ballot_sync(0xffffffffu, f.ok != 0);
  if ((tid & 31) == 0) vis[slot * 2 + (tid >> 5)] = bits;
}

// Queues K and V rows of one tile into a stage; invisible rows and the padding dims past
// head_dim are zero-filled, so stale or NaN cache contents never reach the MMAs.
template <typename C>
__device__ __forceinline__ void issue_tile(const MmaArgs& a, const int64_t* meta, uint32_t k_dst,
                                           uint32_t v_dst) {
  const int chunk = threadIdx.x % C::kChunks;
  const bool dim_ok = chunk * 8 < a.head_dim;
#pragma unroll
  for (int i = 0; i < C::kLoadRows; ++i) {
    const int row = threadIdx.x / C::kChunks + i * C::kRowsPerPass;
    const int64_t off = meta[row];
    const bool in = dim_ok && off >= 0;
    const int64_t src = in ? off + chunk * 8 : 0;
    const uint32_t dst = swizzle<C::kRowBytes>(row, chunk);
    cp_async16(k_dst + dst, a.k + src, in ? 16 : 0);
    cp_async16(v_dst + dst, a.v + src, in ? 16 : 0);
  }
}

// Q rows of the CTA, times scale·log2(e), as bf16 into shared memory (zeros past num_qv and
// head_dim).
template <typename C>
__device__ __forceinline__ void load_q(const MmaArgs& a, int kvh, int qv0, unsigned char* qs) {
  constexpr int kPerThread = C::kRows * C::kChunks / kThreads;
  const int num_qv = a.num_q * a.group;
  const int64_t q_stride = static_cast<int64_t>(a.num_heads) * a.head_dim;
#pragma unroll 4
  for (int i = 0; i < kPerThread; ++i) {
    const int idx = threadIdx.x + i * kThreads;
    const int row = idx / C::kChunks, chunk = idx % C::kChunks;
    const int qv = qv0 + row;
    float f[8] = {};
    if (qv < num_qv && chunk * 8 < a.head_dim) {
      const float* src = a.q + (qv / a.group) * q_stride +
                         static_cast<int64_t>(kvh * a.group + qv % a.group) * a.head_dim +
                         chunk * 8;
      if (a.q_vec) {
        const float4 lo = *reinterpret_cast<const float4*>(src);
        const float4 hi = *reinterpret_cast<const float4*>(src + 4);
        f[0] = lo.x, f[1] = lo.y, f[2] = lo.z, f[3] = lo.w;
        f[4] = hi.x, f[5] = hi.y, f[6] = hi.z, f[7] = hi.w;
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) f[e] = src[e];
      }
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) f[e] *= a.scale_log2;  // scores come out in the base-2 domain
    const uint4 packed = make_uint4(pack_bf16(f[0], f[1]), pack_bf16(f[2], f[3]),
                                    pack_bf16(f[4], f[5]), pack_bf16(f[6], f[7]));
    *reinterpret_cast<uint4*>(qs + swizzle<C::kRowBytes>(row, chunk)) = packed;
  }
}

// Grid: (query tiles, KV heads, key splits). Query vector qv of a KV head is query row qv / group,
// head kvh * group + qv % group. Warp w owns CTA rows [w·16·kMTiles, (w+1)·16·kMTiles); in MMA
// fragments lane holds rows g = lane / 4 and g + 8 of each 16-row tile, key/dim columns
// 2·(lane % 4) + {0, 1} of each 8-column tile.
template <typename C>
__global__ void __launch_bounds__(kThreads, 2) flash_attention_bf16_kernel(const MmaArgs a) {
  constexpr int HD = C::kHd, kMTiles = C::kMTiles, kKeys = C::kKeys, kStages = C::kStages;
  constexpr int kNTiles = kKeys / 8;  // 8-key MMA column tiles per K/V tile
  extern __shared__ __align__(128) unsigned char smem[];
  unsigned char* qs = smem;
  unsigned char* ks = qs + C::kQBytes;                                      // [kStages][kKeys][HD]
  unsigned char* vs = ks + kStages * C::kKvTileBytes;                       // [kStages][kKeys][HD]
  auto* meta = reinterpret_cast<int64_t*>(vs + kStages * C::kKvTileBytes);  // [kMetaSlots][kKeys]
  auto* vis = reinterpret_cast<uint32_t*>(meta + C::kMetaSlots * kKeys);    // [kMetaSlots][2]
  __shared__ int warp_furthest[kWarps];
  __shared__ SparseKeyMap km;  // in shared memory: registers are scarce at head dim 128

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, tig = lane & 3;
  const int kvh = blockIdx.y, split = blockIdx.z;
  const int qv0 = blockIdx.x * C::kRows;
  const int num_qv = a.num_q * a.group;

  // Causal: the CTA's furthest-seeing row bounds the keys it must read.
  {
    int pos = -1;
    for (int r = tid; r < C::kRows; r += kThreads) {
      const int qv = qv0 + r;
      if (a.causal && qv < num_qv) pos = max(pos, a.q_positions[qv / a.group]);
    }
    pos = __reduce_max_sync(0xffffffffu, pos);
    if (lane == 0) warp_furthest[warp] = pos;
  }
  if (a.sparse.active && tid == 0) km = resolve_sparse_keys(a.sparse);
  __syncthreads();
  const int key_begin = split * a.keys_per_split;
  int key_end = min(a.num_keys, key_begin + a.keys_per_split);
  if (a.sparse.active) key_end = min(key_end, km.total);
  if (a.causal) {
    int furthest = warp_furthest[0];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) furthest = max(furthest, warp_furthest[w]);
    key_end = min(key_end, furthest + 1);
  }
  const int num_tiles = key_end > key_begin ? (key_end - key_begin + kKeys - 1) / kKeys : 0;

  // Key metadata of tiles 0..kStages-1, then the first kStages-1 tiles in flight.
  KeyFetch next;  // threads < kKeys: the key of the tile published next (one iteration ahead)
  if (tid < kKeys) {
#pragma unroll
    for (int u = 0; u < kStages; ++u) {
      const int key = key_begin + u * kKeys + tid;
      publish_key<C>(a, fetch_key(a, km, key, key_end), kvh, meta, vis, u);
    }
    next = fetch_key(a, km, key_begin + kStages * kKeys + tid, key_end);
  }
  __syncthreads();
  const uint32_t ks_u32 = smem_u32(ks), vs_u32 = smem_u32(vs), qs_u32 = smem_u32(qs);
#pragma unroll
  for (int u = 0; u < kStages - 1; ++u) {
    if (u < num_tiles)
      issue_tile<C>(a, meta + u * kKeys, ks_u32 + u * C::kKvTileBytes,
                    vs_u32 + u * C::kKvTileBytes);
    cp_async_commit();
  }
  load_q<C>(a, kvh, qv0, qs);  // made visible by the first iteration's barrier

  // Last visible key of each of this thread's rows (−1: padding row).
  int limit[kMTiles][2];
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int qv = qv0 + (warp * kMTiles + mt) * 16 + g + 8 * h;
      limit[mt][h] = qv >= num_qv ? -1 : a.causal ? a.q_positions[qv / a.group] : INT_MAX;
    }
  const bool warp_has_rows = qv0 + warp * kMTiles * 16 < num_qv;

  float o[kMTiles][HD / 8][4];
  float m[kMTiles][2], l[kMTiles][2];
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) m[mt][h] = -INFINITY, l[mt][h] = 0.0f;
#pragma unroll
    for (int n = 0; n < HD / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[mt][n][e] = 0.0f;
  }

  for (int t = 0; t < num_tiles; ++t) {
    // Tile t landed (groups committed so far: tiles 0..t+kStages-2), and every thread is done
    // with tile t-1: its stage and meta slot (t-1) % kMetaSlots may be refilled.
    cp_async_wait<kStages - 2>();
    __syncthreads();
    {
      const int u = t + kStages - 1;
      if (u < num_tiles)
        issue_tile<C>(a, meta + (u % C::kMetaSlots) * kKeys,
                      ks_u32 + (u % kStages) * C::kKvTileBytes,
                      vs_u32 + (u % kStages) * C::kKvTileBytes);
      cp_async_commit();
    }
    if (tid < kKeys) {
      // Tile t+kStages's metadata goes to slot (t+kStages) % (kStages+1) = (t-1) % (kStages+1),
      // last read during iteration t-1; this iteration reads slots t and t+kStages-1.
      const int u = t + kStages;
      publish_key<C>(a, next, kvh, meta, vis, u % C::kMetaSlots);
      next = fetch_key(a, km, key_begin + (u + 1) * kKeys + tid, key_end);
    }
    if (!warp_has_rows) continue;  // decode padding warps only copy

    const int stage = t % kStages;
    const uint32_t kt = ks_u32 + stage * C::kKvTileBytes;
    const uint32_t vt = vs_u32 + stage * C::kKvTileBytes;

    // S = Q · Kᵀ for this warp's rows and the tile's keys, accumulated onto 0 for visible keys
    // and kHiddenScore for the rest (masked, past the end, or causally hidden from the row), so
    // the mask costs no registers during the MMAs.
    float s[kMTiles][kNTiles][4];
    {
      const int slot = t % C::kMetaSlots;
      // Bit n*8+e of lane_vis: this lane's column n*8 + 2*tig + e holds a visible key.
      uint64_t lane_vis = vis[slot * 2];
      if constexpr (kKeys == 64) lane_vis |= static_cast<uint64_t>(vis[slot * 2 + 1]) << 32;
      lane_vis >>= tig * 2;
      const int lane_key0 = key_begin + t * kKeys + tig * 2;
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int last = limit[mt][h] - lane_key0;  // causal: last visible n*8+e of this lane
#pragma unroll
          for (int n = 0; n < kNTiles; ++n)
#pragma unroll
            for (int e = 0; e < 2; ++e)
              s[mt][n][2 * h + e] =
                  ((lane_vis >> (n * 8 + e)) & 1u) != 0 && n * 8 + e <= last ? 0.0f : kHiddenScore;
        }
    }
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
      uint32_t qf[kMTiles][4];
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt)
        ldmatrix_x4(qf[mt], qs_u32 + swizzle<C::kRowBytes>((warp * kMTiles + mt) * 16 + (lane & 15),
                                                           kk * 2 + (lane >> 4)));
#pragma unroll
      for (int jp = 0; jp < kNTiles / 2; ++jp) {
        uint32_t kf[4];  // b0, b1 of key tiles 2jp and 2jp+1
        ldmatrix_x4(kf, kt + swizzle<C::kRowBytes>(jp * 16 + (lane >> 4) * 8 + (lane & 7),
                                                   kk * 2 + ((lane >> 3) & 1)));
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
          mma_bf16(s[mt][2 * jp], qf[mt], kf[0], kf[1]);
          mma_bf16(s[mt][2 * jp + 1], qf[mt], kf[2], kf[3]);
        }
      }
    }

    // Online softmax in the base-2 domain; a row's 4 lanes (one quad) share its max.
    uint32_t pa[kMTiles][kNTiles / 2][4];  // P as bf16 A fragments, one per 16-key step
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
      float corr[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float mx = -INFINITY;
#pragma unroll
        for (int n = 0; n < kNTiles; ++n)
#pragma unroll
          for (int e = 0; e < 2; ++e) mx = fmaxf(mx, s[mt][n][2 * h + e]);
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m[mt][h], mx);
        // Nothing visible yet: base 0 turns every hidden score into exp2(−1e30) = 0.
        const float base = m_new < kNoVisibleKey ? 0.0f : m_new;
        corr[h] = fast_exp2(m[mt][h] - base);
        m[mt][h] = m_new;
        float sum = 0.0f;
#pragma unroll
        for (int n = 0; n < kNTiles; ++n)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            float& x = s[mt][n][2 * h + e];
            x = fast_exp2(x - base);
            sum += x;
          }
        l[mt][h] = l[mt][h] * corr[h] + sum;  // this lane's share; the quad is summed at the end
      }
      // Rescale O only when some row's max moved (after the first tiles it rarely does).
      if (__any_sync(0xffffffffu, corr[0] != 1.0f || corr[1] != 1.0f)) {
#pragma unroll
        for (int n = 0; n < HD / 8; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) o[mt][n][e] *= corr[e / 2];
      }
#pragma unroll
      for (int kk = 0; kk < kNTiles / 2; ++kk) {
        pa[mt][kk][0] = pack_bf16(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        pa[mt][kk][1] = pack_bf16(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        pa[mt][kk][2] = pack_bf16(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        pa[mt][kk][3] = pack_bf16(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
    }

    // O += P · V (V read transposed by ldmatrix: keys are the reduction dimension).
#pragma unroll
    for (int kk = 0; kk < kNTiles / 2; ++kk)
#pragma unroll
      for (int dp = 0; dp < HD / 16; ++dp) {
        uint32_t vf[4];  // b0, b1 of dim tiles 2dp and 2dp+1
        ldmatrix_x4_trans(vf,
                          vt + swizzle<C::kRowBytes>(kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7),
                                                     dp * 2 + (lane >> 4)));
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
          mma_bf16(o[mt][2 * dp], pa[mt][kk], vf[0], vf[1]);
          mma_bf16(o[mt][2 * dp + 1], pa[mt][kk], vf[2], vf[3]);
        }
      }
  }

  // Normalise and write fp32 rows (or this split's partial row and log-sum-exp).
  const int64_t q_stride = static_cast<int64_t>(a.num_heads) * a.head_dim;
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float sum = l[mt][h];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const int qv = qv0 + (warp * kMTiles + mt) * 16 + g + 8 * h;
      if (qv >= num_qv) continue;
      const int64_t i = qv / a.group, head = kvh * a.group + qv % a.group;
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;  // no visible key: zeros, as the CPU twin
      float* dst =
          a.num_splits == 1
              ? a.out + i * q_stride + head * a.head_dim
              : a.part_o +
                    ((static_cast<int64_t>(split) * a.num_q + i) * a.num_heads + head) * a.head_dim;
#pragma unroll
      for (int n = 0; n < HD / 8; ++n) {
        const int d = n * 8 + tig * 2;
        if (d < a.head_dim) {  // head_dim is a multiple of 8: both columns or neither
          dst[d] = o[mt][n][2 * h] * inv;
          dst[d + 1] = o[mt][n][2 * h + 1] * inv;
        }
      }
      if (a.num_splits > 1 && tig == 0)
        a.part_lse[(static_cast<int64_t>(split) * a.num_q + i) * a.num_heads + head] =
            sum > 0.0f ? (m[mt][h] + log2f(sum)) * kLn2 : -INFINITY;
    }
}

// Calls f(Config{}) for shape `index` (the order of AttentionLimits::bf16_ctas_per_sm).
template <typename F>
void dispatch_shape(int index, F&& f) {
  switch (index) {
    case 0:
      f(DecodeHd64{});
      return;
    case 1:
      f(PrefillHd64{});
      return;
    case 2:
      f(DecodeHd128{});
      return;
    default:
      f(PrefillHd128{});
      return;
  }
}

}  // namespace

bool flash_attention_bf16_supports(const AttentionParams& p) {
  return p.kv.dtype == DType::kBF16 && p.head_dim % 8 == 0 && p.head_dim <= 128 &&
         aligned_to(p.kv.k, 16) && aligned_to(p.kv.v, 16);
}

void prepare_flash_attention_bf16(AttentionLimits* limits) {
  for (int index = 0; index < 4; ++index) {
    dispatch_shape(index, [&](auto config) {
      using C = decltype(config);
      const auto kernel = flash_attention_bf16_kernel<C>;
      DLLM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(C::kSmemBytes)));
      int ctas = 0;
      DLLM_CUDA_CHECK(
          cudaOccupancyMaxActiveBlocksPerMultiprocessor(&ctas, kernel, kThreads, C::kSmemBytes));
      limits->bf16_ctas_per_sm[index] = std::max(1, ctas);
    });
  }
}

void launch_flash_attention_bf16(const AttentionParams& p, const SparseKeySegments& sparse,
                                 const AttentionLimits& limits, StreamScratch& scratch,
                                 cudaStream_t stream) {
  const int group = p.num_heads / p.num_kv_heads;
  const bool decode = static_cast<int64_t>(p.num_q) * group <= kDecodeMaxRows;
  const int index = (p.head_dim > 64 ? 2 : 0) + (decode ? 0 : 1);
  dispatch_shape(index, [&](auto config) {
    using C = decltype(config);
    const SplitKvPlan plan =
        plan_split_kv(p.num_q, group, p.num_kv_heads, p.num_keys, C::kRows, C::kKeys,
                      limits.sm_count * limits.bf16_ctas_per_sm[index]);
    MmaArgs a{};
    a.q = p.q;
    a.k = static_cast<const uint16_t*>(p.kv.k);
    a.v = static_cast<const uint16_t*>(p.kv.v);
    a.page_table = p.kv.page_table;
    a.page_size = p.kv.page_size;
    a.out = p.out;
    a.key_mask = p.key_mask, a.q_positions = p.q_positions;
    a.num_q = p.num_q, a.num_keys = p.num_keys, a.num_heads = p.num_heads;
    a.num_kv_heads = p.num_kv_heads, a.head_dim = p.head_dim, a.group = group;
    a.scale_log2 = p.scale * kLog2e;
    a.causal = p.causal ? 1 : 0;
    a.keys_per_split = plan.keys_per_split, a.num_splits = plan.num_splits;
    a.q_vec = aligned_to(p.q, 16) ? 1 : 0;  // rows start at multiples of 8 floats
    a.sparse = sparse;
    const int64_t rows = static_cast<int64_t>(p.num_q) * p.num_heads;
    if (plan.num_splits > 1) {
      const size_t o_floats = static_cast<size_t>(plan.num_splits) * rows * p.head_dim;
      const size_t lse_floats = static_cast<size_t>(plan.num_splits) * rows;
      auto* base =
          static_cast<float*>(scratch.get((o_floats + lse_floats) * sizeof(float), stream));
      a.part_o = base;
      a.part_lse = base + o_floats;
    }
    const dim3 grid(static_cast<unsigned>(plan.q_tiles), static_cast<unsigned>(p.num_kv_heads),
                    static_cast<unsigned>(plan.num_splits));
    flash_attention_bf16_kernel<C><<<grid, kThreads, C::kSmemBytes, stream>>>(a);
    DLLM_CUDA_CHECK_LAUNCH();
    if (plan.num_splits > 1)
      launch_merge_splits(a.part_o, a.part_lse, plan.num_splits, rows, p.head_dim, p.out, stream);
  });
}

}  // namespace dllm::kernels::cuda
