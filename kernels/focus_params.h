// Parameters of the Focus-dLLM kernels (both backends take the same structs; every pointer is in
// the backend's memory): attention mass per key (sinks, kept-mass recall), block representative
// keys and scores, on-device selection of sinks and blocks, and attention over the kept keys.
// Selections stay where they were made: their sizes are device counts that later kernels read, so
// a sparse step queues its layers without waiting for the GPU.
#pragma once

#include <cstdint>

#include "kernels/tensor_view.h"

namespace dllm::kernels {

// Softmax-normalised attention mass per key, averaged over the query rows and heads:
//   out[j] = 1 / (num_q · num_heads) · Σ_r Σ_h softmax_j(q_{r,h} · k_j · scale),  j < num_keys
// The softmax runs over every visible key of [0, num_keys) (key_mask 0 = invisible, mass 0).
// Arithmetic: the per-KV-head sums of accumulate_key_attention_scores (float64, rounded to float
// once), summed over KV heads in float64 and scaled once.
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

// Representative key of each block of `block_size` slots over [0, num_slots) (the last block may
// be shorter): out[b, kvh, :] = float(Σ_slots double(K[slot, kvh, :]) / count), slots ascending.
struct BlockKeyParams {
  KvView kv;
  int num_slots = 0;
  int block_size = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float* out = nullptr;  // [ceil(num_slots / block_size), num_kv_heads, head_dim]
};

// Block scores against focus rows: out[b] = max_r mean_h (q_{rows[r], h} · rep[b, h / group] ·
// scale), dots and the head sum in float64 (e, then h ascending), rounded to float once.
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

// Sinks: the min(count, len) best of scores[0, len) (larger first, ties to the lower index),
// written ascending to sinks[]; *num_sinks gets how many.
struct SinkSelectParams {
  const float* scores = nullptr;  // [len]
  int len = 0;
  int count = 0;
  int32_t* sinks = nullptr;      // [min(count, len)]
  int32_t* num_sinks = nullptr;  // one int
};

// Blocks of prompt slots [0, prompt_len) in descending score (ties to the lower block), taken
// while the kept tokens (blocks ∪ sinks) stay within `budget`; the first block that does not fit
// ends the walk. Sinks: the first min(*num_sinks, budget) of sinks[] (ascending). Outputs,
// ascending: blocks[] (counts[0] of them) and tokens[] = the used sinks outside the chosen blocks
// (counts[1] of them).
struct BlockSelectParams {
  const float* scores = nullptr;  // [num_blocks]
  int num_blocks = 0;             // ceil(prompt_len / block_size)
  int block_size = 0;
  int prompt_len = 0;
  int budget = 0;
  const int32_t* sinks = nullptr;
  const int32_t* num_sinks = nullptr;  // one int
  int32_t* blocks = nullptr;           // [num_blocks]
  int32_t* tokens = nullptr;           // [min(max sinks, budget)]
  int32_t* counts = nullptr;           // [2]: blocks, tokens
};

// Bidirectional attention of num_q rows over three key segments of one sequence's cache:
//   blocks:  slots [b · block_size, min((b + 1) · block_size, prompt_len)) for b in blocks,
//   tokens:  single slots (sinks outside the selected blocks),
//   response: slots [response_begin, response_end).
// Segments must be disjoint; blocks and tokens ascending. With `counts` (backend memory, the
// output of select_blocks) the segment sizes are counts[0] and counts[1], and num_blocks /
// num_tokens are only their upper bounds; without it they are the sizes.
// The CPU twin visits keys in ascending slot order with the arithmetic of the dense CPU kernel,
// so a selection of every key gives the dense result bit for bit there; the CUDA kernels are the
// dense ones with keys mapped through the segments (split-KV, log-sum-exp merge).
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
  const int32_t* counts = nullptr;    // optional [2]: blocks, tokens
};

// Focus instrumentation accumulated where the selections are (stats: 4 doubles in backend
// memory, read once at the end of a request):
//   sink overlap (when sinks != null): if *num_sinks > 0 and *num_previous > 0,
//     stats[0] += |sinks ∩ previous| / *num_sinks and stats[1] += 1;
//   kept mass (when mass != null): with total = Σ_{j < num_keys} mass[j] > 0,
//     stats[2] += Σ_{j kept} mass[j] / total and stats[3] += 1, where kept = the prompt blocks
//     blocks[0, counts[0]), the tokens[0, counts[1]) and every slot >= prompt_len.
struct FocusStatsParams {
  const int32_t* sinks = nullptr;  // ascending
  const int32_t* num_sinks = nullptr;
  const int32_t* previous = nullptr;  // ascending
  const int32_t* num_previous = nullptr;
  const float* mass = nullptr;  // [num_keys]
  int num_keys = 0;
  int prompt_len = 0;
  int block_size = 0;
  const int32_t* blocks = nullptr;
  const int32_t* tokens = nullptr;
  const int32_t* counts = nullptr;
  double* stats = nullptr;  // [4]
};

}  // namespace dllm::kernels
