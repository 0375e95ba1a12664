// CPU kernels of Prefilling-dLLM beyond the forward: moving cached chunk K/V to new RoPE
// positions, and the attention mass query rows pay each cached key. Plain parameter structs
// (pointers, shapes, page tables) so that CUDA twins can take the same ones.
#pragma once

#include <cstdint>

#include "kernels/tensor_view.h"

namespace dllm::kernels::cpu {

// Copies K/V of one layer from `src` slots to `dst` slots (src and dst may be the same sequence
// and the same slots: then it rotates in place), turning post-RoPE K encoded at
// from_positions[i] into K at to_positions[i]: per frequency j, K' = R(θ_to − θ_from)·K with
// θ = float32(position · inv_freq[j]) formed as the forward's RoPE forms it, the difference and
// its sin/cos in float64, so K' equals encoding at to_positions[i] up to one rounding.
// V is copied unchanged. `heads` (optional, one per row): only that KV head of the row moves
// (per-head token compaction); null = every KV head.
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
void rerotate_kv_rows(const KvRerotateParams& p);

// The softmax attention probabilities that `num_q` query rows pay each key of one layer, summed
// over the rows and over the query heads of each KV head:
//   out[kvh * num_keys + j] += Σ_rows Σ_{h: h / group == kvh} softmax_j(q_h · k_j · scale)
// with the masking of the forward's attention (key_mask, causal on q_slots). q: post-RoPE,
// [num_q, num_heads, head_dim] float32. Intra-chunk token scoring sums it over layers/heads.
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
void accumulate_key_attention_scores(const KeyAttentionScoreParams& p);

}  // namespace dllm::kernels::cpu
