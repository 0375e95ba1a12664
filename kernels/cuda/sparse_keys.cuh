// Focus-dLLM's three key segments as the attention kernels see them: logical key i of a sparse
// call is a slot of the cache found through the chosen blocks, then the sink tokens, then the
// contiguous response. The segment sizes are read on the device (the selection kernel wrote
// them), so a sparse step never waits for its selection.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dllm::kernels::cuda {

// Host-side description (plain data, passed inside the kernels' argument structs).
struct SparseKeySegments {
  int active = 0;                   // 0: dense call, logical key = slot
  const int32_t* blocks = nullptr;  // ascending block indices
  const int32_t* tokens = nullptr;  // ascending slots
  const int32_t* counts = nullptr;  // optional device [2]: blocks, tokens (else the fixed sizes)
  int num_blocks = 0;               // fixed size, or upper bound of counts[0]
  int num_tokens = 0;               // fixed size, or upper bound of counts[1]
  int block_size = 1;
  int prompt_len = 0;
  int response_begin = 0;
  int response_end = 0;

  // Logical keys a launch must cover (with counts: an upper bound).
  int max_keys() const {
    return num_blocks * block_size + num_tokens + (response_end - response_begin);
  }
};

// The segments with their sizes resolved, one per thread at kernel start.
struct SparseKeyMap {
  const int32_t* blocks;
  const int32_t* tokens;
  int block_keys;  // logical keys of the block segment (short last block padded)
  int token_end;   // block_keys + tokens
  int total;       // token_end + response length
  int block_size, prompt_len, response_begin;

  // The slot of logical key i < total, or −1 for padding past a short last prompt block.
  __device__ __forceinline__ int slot(int i) const {
    if (i < block_keys) {
      const int b = i / block_size;
      const int s = blocks[b] * block_size + (i - b * block_size);
      return s < prompt_len ? s : -1;
    }
    if (i < token_end) return tokens[i - block_keys];
    return response_begin + (i - token_end);
  }
};

__device__ __forceinline__ SparseKeyMap resolve_sparse_keys(const SparseKeySegments& s) {
  const int nb = s.counts != nullptr ? min(s.counts[0], s.num_blocks) : s.num_blocks;
  const int nt = s.counts != nullptr ? min(s.counts[1], s.num_tokens) : s.num_tokens;
  SparseKeyMap m;
  m.blocks = s.blocks;
  m.tokens = s.tokens;
  m.block_keys = nb * s.block_size;
  m.token_end = m.block_keys + nt;
  m.total = m.token_end + (s.response_end - s.response_begin);
  m.block_size = s.block_size;
  m.prompt_len = s.prompt_len;
  m.response_begin = s.response_begin;
  return m;
}

}  // namespace dllm::kernels::cuda
