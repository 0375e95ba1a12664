// The op set every compute backend (CPU reference, CUDA) implements. Pure: pointers and shapes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "kernels/focus_params.h"
#include "kernels/prefilling_params.h"
#include "kernels/tensor_view.h"

namespace dllm::kernels {

// All activation buffers are float32 in backend memory; weights may be f32/bf16/f16.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // Memory in this backend's address space (host memory for the CPU backend).
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* ptr) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  // dst and src both in this backend's memory (ordered with the backend's other work).
  virtual void copy_within(void* dst, const void* src, size_t bytes) = 0;
  virtual void synchronize() = 0;
  // Memory another process of this host may map (a transport exposes it: cuda_ipc needs plain
  // cudaMalloc memory, not the stream-ordered pool allocate() uses). Its writes are complete once
  // synchronize() returned. May be called from any thread.
  virtual void* allocate_shareable(size_t bytes) { return allocate(bytes); }
  virtual void release_shareable(void* ptr) { release(ptr); }
  // Makes a host weight usable by the kernels (the CPU backend returns it unchanged).
  virtual WeightView upload_weight(const WeightView& host) = 0;

  // out[i, :] = table[ids[i], :]
  virtual void embedding(const int32_t* ids, int n, const WeightView& table, float* out) = 0;
  // out[i, :] = x[i, :] / rms(x[i, :]) * weight
  virtual void rms_norm(const float* x, int n, int dim, const WeightView& weight, float eps,
                        float* out) = 0;
  // out[n, w.rows] = x[n, w.cols] · wᵀ (+ bias)
  virtual void linear(const float* x, int n, const WeightView& w, const WeightView* bias,
                      float* out) = 0;
  // Rotate-half RoPE in place on x[n, heads, head_dim] with per-row positions.
  // inv_freq: head_dim/2 floats in backend memory; position_scale divides positions (linear scaling).
  virtual void rope(float* x, int n, int heads, int head_dim, const int32_t* positions,
                    const float* inv_freq) = 0;
  virtual void attention(const AttentionParams& p) = 0;
  // out[i] = silu(gate[i]) * up[i]
  virtual void silu_mul(const float* gate, const float* up, float* out, int64_t n) = 0;
  // x[i] += y[i]
  virtual void add_inplace(float* x, const float* y, int64_t n) = 0;
  // out[i, :] = x[rows[i], :]  (row gather, e.g. rows that need logits)
  virtual void gather_rows(const float* x, int dim, const int32_t* rows, int n, float* out) = 0;
  // Writes K and V rows (float32 [n, row_elems]) at `slots` of a sequence's cache, converting
  // to kv.dtype (the K/V cache write of every forward).
  virtual void write_kv(const float* k_rows, const float* v_rows, int n, int row_elems,
                        const int32_t* slots, const KvView& kv) = 0;
  // Greedy token choice per row of logits [n, vocab]: ids[i] = first argmax, conf[i] as `kind`
  // says (accumulated in float64, as the host samplers do). ids and conf in backend memory.
  virtual void greedy_confidence(const float* logits, int n, int vocab, ConfidenceKind kind,
                                 int32_t* ids, double* conf) = 0;
  // Sets `bytes` bytes at dst to zero.
  virtual void fill_zero(void* dst, size_t bytes) = 0;

  // ---- Prefilling-dLLM (kernels/prefilling_params.h says what each computes) ----
  // Cached chunk K/V moved into a stitched cache at new RoPE positions (reuse mode).
  virtual void rerotate_kv_rows(const KvRerotateParams& p) = 0;
  // Attention mass the probe rows pay each key (intra-chunk token scoring).
  virtual void accumulate_key_attention_scores(const KeyAttentionScoreParams& p) = 0;
  // Summed, max-pooled scores → the kept tokens of each chunk (or each (layer, KV head)).
  virtual void select_top_tokens(const TokenSelectParams& p) = 0;
  // log softmax(row)[token] per row in float64 (chunk scoring: 8 bytes a row cross to the host).
  virtual void target_log_probs(const TargetLogProbParams& p) = 0;

  // ---- Focus-dLLM (kernels/focus_params.h says what each computes) ----
  // Sinks: attention mass per key, then the top keys by it (selected where the mass is).
  virtual void attention_mass_per_key(const AttentionMassParams& p) = 0;
  virtual void select_sinks(const SinkSelectParams& p) = 0;
  // Sparse layers: block keys (per prompt version), focus-row block scores, the blocks within the
  // budget, then attention over blocks ∪ sinks ∪ response with device-side segment sizes.
  virtual void block_representative_keys(const BlockKeyParams& p) = 0;
  virtual void block_scores(const BlockScoreParams& p) = 0;
  virtual void select_blocks(const BlockSelectParams& p) = 0;
  virtual void sparse_attention(const SparseAttentionParams& p) = 0;
  // Sink overlap and kept-mass recall, summed in backend memory.
  virtual void accumulate_focus_stats(const FocusStatsParams& p) = 0;

  // Bytes this backend can still allocate (the CPU backend reports available host memory).
  virtual size_t free_memory_bytes() = 0;
};

std::unique_ptr<Backend> make_cpu_backend(int num_threads);

}  // namespace dllm::kernels
