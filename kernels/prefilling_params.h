// Parameters of the Prefilling-dLLM kernels beyond the forward (both backends take the same
// structs; every pointer is in the backend's memory): moving cached chunk K/V to new RoPE
// positions, the attention mass query rows pay each cached key, and intra-chunk token selection.
#pragma once

#include <cstdint>

#include "kernels/tensor_view.h"

namespace dllm::kernels {

// Copies K/V of one layer from `src` slots to `dst` slots (src and dst may be the same sequence
// and the same slots: then it rotates in place), turning post-RoPE K encoded at
// from_positions[i] into K at to_positions[i]: per frequency j, K' = R(θ_to − θ_from)·K with
// θ = float32(position · inv_freq[j]) formed as the forward's RoPE forms it, the difference and
// its sin/cos in float64, so K' equals encoding at to_positions[i] up to one rounding.
// V is copied unchanged. `heads` (optional, one per row): only that KV head of the row moves
// (per-head token compaction); null = every KV head. No row may write a slot that another row
// reads (the CUDA kernel moves rows in parallel).
struct KvRerotateParams {
  KvView src;
  KvView dst;  // dtype f32 or bf16, like src (they may differ)
  int num_rows = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  const int32_t* src_slots = nullptr;
  const int32_t* dst_slots = nullptr;
  const int32_t* from_positions = nullptr;
  const int32_t* to_positions = nullptr;
  const int32_t* heads = nullptr;
  const float* inv_freq = nullptr;  // head_dim / 2, as the forward's RoPE uses
};

// The softmax attention probabilities that `num_q` query rows pay each key of one layer, summed
// over the rows and over the query heads of each KV head:
//   out[kvh * num_keys + j] += Σ_rows Σ_{h: h / group == kvh} softmax_j(q_h · k_j · scale)
// with the masking of the forward's attention (key_mask, causal on q_slots). q: post-RoPE,
// [num_q, num_heads, head_dim] float32. Dots, softmax and the sum run in float64; the sum is
// rounded to float once and added to `out`. Intra-chunk token scoring sums it over layers/heads.
struct KeyAttentionScoreParams {
  const float* q = nullptr;
  KvView kv;
  int num_q = 0;
  int num_keys = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;
  const uint8_t* key_mask = nullptr;  // optional, num_keys bytes; 0 = ignored
  const int32_t* q_slots = nullptr;   // needed only when causal
  bool causal = false;
  float* out = nullptr;  // [num_kv_heads, num_keys], accumulated
};

// Intra-chunk token selection, for each of `num_outputs` outputs o:
//   total[t]  = Σ_{g < group} scores[(o · group + g) · row_stride + t]   (float32, g ascending)
//   pooled[t] = max(total[t − pool_width/2 .. t + pool_width/2] within [0, len))
//   kept[o, :] = the min(capacity, len) best t (pooled descending, lower t on ties; t = 0 first
//                when keep_first, the BOS anchor), ascending.
// Global selection: one output summing every (layer, KV head) row; per-head: one output per row.
struct TokenSelectParams {
  const float* scores = nullptr;  // row r at scores + r * row_stride, `len` tokens
  int64_t row_stride = 0;
  int num_outputs = 0;
  int group = 1;  // rows summed into one output
  int len = 0;
  int pool_width = 1;  // odd
  int capacity = 0;    // >= 1
  bool keep_first = false;
  int32_t* kept = nullptr;  // [num_outputs, min(capacity, len)]
};

// out[i] = log softmax(logits[i, :])[tokens[i]] in float64 (chunk scoring reads only this).
struct TargetLogProbParams {
  const float* logits = nullptr;  // [num_rows, vocab]
  int num_rows = 0;
  int vocab = 0;
  const int32_t* tokens = nullptr;  // [num_rows]
  double* out = nullptr;            // [num_rows]
};

}  // namespace dllm::kernels
