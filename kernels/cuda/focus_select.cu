// Focus-dLLM's selections on the GPU (CPU twins: kernels/cpu/focus_select.cc), one CTA each so
// that their results and counts stay on the device: the top sinks by attention mass (radix select
// of the count-th largest, then an in-order compaction that gives ties to the lower index) and
// the prompt blocks within the token budget (bitonic sort of the scores with the block index as
// tie-break, a prefix sum of the tokens each block adds, then in-order compactions).
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace dllm::kernels::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;

// Order-preserving map of a float to unsigned (larger float, larger key); −0 counts as +0, as the
// CPU's comparisons do.
__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t b = __float_as_uint(f == 0.0f ? 0.0f : f);
  return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}

// Exclusive prefix sum of one int per thread in thread order; *total gets the CTA's sum. Every
// thread of the CTA must call it.
__device__ int cta_exclusive_scan(int v, int* total) {
  __shared__ int warp_sums[kWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int x = v;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const int o = __shfl_up_sync(0xffffffffu, x, off);
    if (lane >= off) x += o;
  }
  if (lane == 31) warp_sums[warp] = x;
  __syncthreads();
  if (warp == 0) {
    int w = warp_sums[lane];
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const int o = __shfl_up_sync(0xffffffffu, w, off);
      if (lane >= off) w += o;
    }
    warp_sums[lane] = w;  // inclusive over warps
  }
  __syncthreads();
  const int before = (warp > 0 ? warp_sums[warp - 1] : 0) + x - v;
  *total = warp_sums[kWarps - 1];
  __syncthreads();  // warp_sums may be rewritten by the next call
  return before;
}

__global__ void __launch_bounds__(kThreads) select_sinks_kernel(const SinkSelectParams p) {
  __shared__ int hist[256];
  __shared__ uint32_t s_prefix;
  __shared__ int s_remaining;
  const int n = p.len, k = max(0, min(p.count, n));
  if (k == 0) {
    if (threadIdx.x == 0) *p.num_sinks = 0;
    return;
  }
  // Radix select, 8 bits a pass from the top: after the passes, prefix is the k-th largest key T
  // and `remaining` how many keys equal to T are kept (those greater are all kept).
  uint32_t prefix = 0, mask = 0;
  if (threadIdx.x == 0) s_remaining = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += kThreads) hist[i] = 0;
    __syncthreads();
    for (int j = threadIdx.x; j < n; j += kThreads) {
      const uint32_t key = order_key(p.scores[j]);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int remaining = s_remaining, d = 255;
      for (; d > 0 && remaining > hist[d]; --d) remaining -= hist[d];
      s_remaining = remaining;
      s_prefix = prefix | (static_cast<uint32_t>(d) << shift);
    }
    __syncthreads();
    prefix = s_prefix;
    mask |= 255u << shift;
  }
  const uint32_t threshold = prefix;
  const int ties = s_remaining;
  int kept = 0, equal_seen = 0;
  for (int base = 0; base < n; base += kThreads) {
    const int j = base + threadIdx.x;
    const uint32_t key = j < n ? order_key(p.scores[j]) : 0u;
    const bool equal = j < n && key == threshold;
    int equal_total = 0, take_total = 0;
    const int equal_before = equal_seen + cta_exclusive_scan(equal ? 1 : 0, &equal_total);
    const bool take = j < n && (key > threshold || (equal && equal_before < ties));
    const int pos = kept + cta_exclusive_scan(take ? 1 : 0, &take_total);
    if (take) p.sinks[pos] = j;
    kept += take_total;
    equal_seen += equal_total;
  }
  if (threadIdx.x == 0) *p.num_sinks = k;
}

// Dynamic shared memory: keys [pow2], sink count per block [num_blocks], chosen [num_blocks].
__global__ void __launch_bounds__(kThreads)
    select_blocks_kernel(const BlockSelectParams p, int pow2) {
  extern __shared__ __align__(16) unsigned char smem[];
  auto* keys = reinterpret_cast<unsigned long long*>(smem);
  auto* sinks_in = reinterpret_cast<int*>(keys + pow2);
  auto* chosen = reinterpret_cast<unsigned char*>(sinks_in + p.num_blocks);
  const int nb = p.num_blocks, bs = p.block_size;
  const int num_sinks = min(*p.num_sinks, max(p.budget, 0));

  // Score (descending), then block index (ascending) as one unique 64-bit key; padding sorts last.
  for (int i = threadIdx.x; i < pow2; i += kThreads)
    keys[i] = i < nb ? (static_cast<unsigned long long>(order_key(p.scores[i])) << 32) |
                           (0xffffffffu - static_cast<uint32_t>(i))
                     : 0ull;
  for (int b = threadIdx.x; b < nb; b += kThreads) sinks_in[b] = 0, chosen[b] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < num_sinks; i += kThreads) {
    const int b = p.sinks[i] / bs;
    if (b >= 0 && b < nb) atomicAdd(&sinks_in[b], 1);
  }
  for (int size = 2; size <= pow2; size <<= 1)
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = threadIdx.x; i < pow2; i += kThreads) {
        const int j = i ^ stride;
        if (j > i) {
          const unsigned long long a = keys[i], b = keys[j];
          const bool descending = (i & size) == 0;
          if (descending ? a < b : a > b) keys[i] = b, keys[j] = a;
        }
      }
      __syncthreads();
    }
  // Walk the ranks: a block is kept while the tokens so far (sinks first) fit the budget. Tokens
  // added only grow, so "fits" holds for a prefix of the ranks: the walk's break.
  int added_before = 0;
  for (int base = 0; base < nb; base += kThreads) {
    const int r = base + threadIdx.x;
    int added = 0, b = 0;
    if (r < nb) {
      b = static_cast<int>(0xffffffffu - static_cast<uint32_t>(keys[r] & 0xffffffffull));
      added = (min(p.prompt_len, (b + 1) * bs) - b * bs) - sinks_in[b];
    }
    int total = 0;
    const int before = added_before + cta_exclusive_scan(added, &total);
    if (r < nb && num_sinks + before + added <= p.budget) chosen[b] = 1;
    added_before += total;
  }
  __syncthreads();
  int count = 0;
  for (int base = 0; base < nb; base += kThreads) {
    const int b = base + threadIdx.x;
    const bool take = b < nb && chosen[b] != 0;
    int total = 0;
    const int pos = count + cta_exclusive_scan(take ? 1 : 0, &total);
    if (take) p.blocks[pos] = b;
    count += total;
  }
  if (threadIdx.x == 0) p.counts[0] = count;
  count = 0;
  for (int base = 0; base < num_sinks; base += kThreads) {
    const int i = base + threadIdx.x;
    int slot = 0;
    bool take = false;
    if (i < num_sinks) {
      slot = p.sinks[i];
      const int b = slot / bs;
      take = b < 0 || b >= nb || chosen[b] == 0;
    }
    int total = 0;
    const int pos = count + cta_exclusive_scan(take ? 1 : 0, &total);
    if (take) p.tokens[pos] = slot;
    count += total;
  }
  if (threadIdx.x == 0) p.counts[1] = count;
}

size_t select_blocks_smem(int num_blocks, int pow2) {
  return sizeof(unsigned long long) * pow2 + (sizeof(int) + 1) * static_cast<size_t>(num_blocks);
}

}  // namespace

void launch_select_sinks(const SinkSelectParams& p, cudaStream_t stream) {
  select_sinks_kernel<<<1, kThreads, 0, stream>>>(p);
  DLLM_CUDA_CHECK_LAUNCH();
}

void launch_select_blocks(const BlockSelectParams& p, cudaStream_t stream) {
  if (p.num_blocks < 0 || p.num_blocks > kMaxFocusBlocks)
    throw std::invalid_argument("select_blocks: " + std::to_string(p.num_blocks) +
                                " blocks (at most " + std::to_string(kMaxFocusBlocks) + ")");
  if (p.block_size <= 0) throw std::invalid_argument("select_blocks: block_size must be > 0");
  int pow2 = 1;
  while (pow2 < p.num_blocks) pow2 <<= 1;
  const size_t smem = select_blocks_smem(p.num_blocks, pow2);
  if (smem > 48 * 1024)  // kMaxFocusBlocks needs 208 KB: Hopper allows 227 KB a CTA
    DLLM_CUDA_CHECK(cudaFuncSetAttribute(
        select_blocks_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  select_blocks_kernel<<<1, kThreads, smem, stream>>>(p, pow2);
  DLLM_CUDA_CHECK_LAUNCH();
}

}  // namespace dllm::kernels::cuda
