// CPU kernels of Focus-dLLM's sparse layers: attention mass per key (sinks, recall), block
// representative keys, block scores, and attention over a sparse key set. Plain parameter
// structs (pointers, shapes, page tables) so that CUDA twins can take the same ones.
#pragma once

#include <cstdint>

#include "kernels/tensor_view.h"

namespace dllm::kernels::cpu {

// Softmax-normalised attention mass per key, averaged over the query rows and heads:
//   out[j] = 1 / (num_q · num_heads) · Σ_r Σ_h softmax_j(q_{r,h} · k_j · scale),  j < num_keys
// The softmax runs over every visible key of [0, num_keys) (key_mask 0 = invisible, mass 0).
// Sinks are the top prompt keys of out; the mass recall of a selection is Σ_{j kept} out[j].
struct AttentionMassParams {
  const float* q = nullptr;  // [num_q, num_heads, head_dim] float32, post-RoPE
  KvView kv;
  int num_q = 0;
  int num_keys = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;
  const uint8_t* key_mask = nullptr;  // optional, num_keys bytes
  float* out = nullptr;               // [num_keys], overwritten
};
void attention_mass_per_key(const AttentionMassParams& p);

// Representative key of each block of `block_size` slots over [0, num_slots) (the last block may
// be shorter): out[b, kvh, :] = mean over the block's slots of K[slot, kvh, :] (post-RoPE).
struct BlockKeyParams {
  KvView kv;
  int num_slots = 0;
  int block_size = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float* out = nullptr;  // [ceil(num_slots / block_size), num_kv_heads, head_dim]
};
void block_representative_keys(const BlockKeyParams& p);

// Block scores against focus rows: out[b] = max_r mean_h (q_{rows[r], h} · rep[b, h / group] ·
// scale).
struct BlockScoreParams {
  const float* q = nullptr;       // [*, num_heads, head_dim]
  const int32_t* rows = nullptr;  // the focus rows of q
  int num_rows = 0;
  const float* block_keys = nullptr;  // [num_blocks, num_kv_heads, head_dim]
  int num_blocks = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;
  float* out = nullptr;  // [num_blocks]
};
void block_scores(const BlockScoreParams& p);

// Bidirectional attention of num_q rows over three key segments of one sequence's cache:
//   blocks:  slots [b · block_size, min((b + 1) · block_size, prompt_len)) for b in blocks,
//   tokens:  single slots (sinks outside the selected blocks),
//   response: slots [response_begin, response_end).
// Segments must be disjoint; blocks and tokens ascending. Keys are visited in ascending slot
// order with the arithmetic of the dense attention kernel, so a selection of every key gives
// the dense result bit for bit. Scratch memory of (sum of segment lengths) floats per task.
struct SparseAttentionParams {
  const float* q = nullptr;  // [num_q, num_heads, head_dim]
  KvView kv;
  float* out = nullptr;  // [num_q, num_heads, head_dim]
  int num_q = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;
  const int32_t* blocks = nullptr;
  int num_blocks = 0;
  int block_size = 0;
  int prompt_len = 0;
  const int32_t* tokens = nullptr;
  int num_tokens = 0;
  int response_begin = 0;
  int response_end = 0;
  const uint8_t* key_mask = nullptr;  // optional, indexed by slot
};
void sparse_attention(const SparseAttentionParams& p);

}  // namespace dllm::kernels::cpu
