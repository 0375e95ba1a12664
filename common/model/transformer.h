// Transformer: the LLaDA / Dream (Qwen2-shaped) bidirectional decoder stack on a Backend.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kv/kv_pool.h"
#include "common/model/device_buffer.h"
#include "common/model/language_model.h"
#include "common/model/model_config.h"
#include "common/model/weights.h"
#include "kernels/backend.h"

namespace dllm {

struct TransformerOptions {
  // K/V pool: page size, budget, and dtype (default: f32 for f32 weights, else bf16).
  KvPoolOptions kv_pool;
  bool kv_dtype_from_weights = true;
  // The weights are already in backend memory (synthetic benchmark weights made on the GPU).
  bool weights_on_device = false;
};

class Transformer final : public LanguageModel {
 public:
  // `host_weights` must outlive the Transformer (the CPU backend reads the mmap directly).
  static absl::StatusOr<std::unique_ptr<Transformer>> create(
      const ModelConfig& config, const ModelWeights& host_weights, kernels::Backend* backend,
      const TransformerOptions& options = {});

  const ModelConfig& config() const override { return config_; }
  absl::StatusOr<std::unique_ptr<KvCache>> new_kv_cache(int capacity) override;
  // The pool all caches of this model draw from (created on first use).
  absl::StatusOr<KvPool*> kv_pool();
  absl::Status forward(std::span<const SequenceForward> batch,
                       std::vector<std::vector<float>>* logits) override;
  absl::Status forward_greedy(std::span<const SequenceForward> batch, kernels::ConfidenceKind kind,
                              std::vector<std::vector<GreedyChoice>>* choices) override;

  // ---- Paged-cache access for sparse policies (Prefilling-dLLM's shared chunk pages) ----
  // A cache whose first pages are `shared_pages` (retained, so they outlive their first owner)
  // followed by fresh pages up to `capacity` slots. The shared slots are read-only: a forward
  // that writes a row there is refused.
  absl::StatusOr<std::unique_ptr<KvCache>> new_kv_cache_with_pages(
      std::span<const int32_t> shared_pages, int capacity);
  // The pages of a cache made by this model, slot s in pages[s / page_size].
  std::span<const int32_t> kv_cache_pages(const KvCache& cache) const;
  // Layer `layer` of a cache made by this model (backend memory).
  kernels::KvView kv_cache_layer(const KvCache& cache, int layer) const;
  kernels::Backend* backend() const { return backend_; }

  // The post-RoPE queries of some rows at every layer, captured by forward_capturing_queries
  // (intra-chunk token scoring reads them against cached keys).
  struct QueryCapture {
    int sequence = 0;           // index into the batch
    std::vector<int32_t> rows;  // row indices within that sequence
    std::vector<float> q;       // out: [num_layers][rows][num_heads * head_dim]
  };
  absl::Status forward_capturing_queries(std::span<const SequenceForward> batch,
                                         std::span<QueryCapture> captures,
                                         std::vector<std::vector<float>>* logits);
  // The same queries in backend memory, valid until the next forward:
  // [num_layers][captured rows of every capture, in capture order][num_heads * head_dim].
  const float* captured_queries() const { return captured_q_.data(); }

  // Per sequence, log softmax(logits of logit row r)[tokens[b][r]] in float64, reduced where the
  // logits are (chunk scoring: 8 bytes a row reach the host instead of the vocabulary).
  absl::Status forward_log_probs(std::span<const SequenceForward> batch,
                                 std::span<const std::vector<int32_t>> tokens,
                                 std::vector<std::vector<double>>* log_probs);

  // One sequence without a cache, also returning the hidden states in the Hugging Face
  // convention: [embeddings, input of layer 1, ..., input of layer L-1, final-norm output],
  // each [T, hidden] (used by conformance tests and `dllm forward`).
  absl::Status forward_with_hidden_states(std::span<const int32_t> ids,
                                          std::vector<float>* logits,
                                          std::vector<std::vector<float>>* hidden_states);

  // Keeps the checkpoint (its mmap) alive as long as this model.
  void hold_checkpoint(std::unique_ptr<CheckpointWeights> checkpoint) {
    checkpoint_ = std::move(checkpoint);
  }

 private:
  Transformer(const ModelConfig& config, kernels::Backend* backend)
      : config_(config), backend_(backend) {}
  absl::Status validate(std::span<const SequenceForward> batch) const;
  // What one forward hands back (each optional).
  struct ForwardOutputs {
    std::vector<std::vector<float>>* logits = nullptr;
    std::vector<std::vector<GreedyChoice>>* greedy = nullptr;
    kernels::ConfidenceKind greedy_kind = kernels::ConfidenceKind::kMaxProb;
    std::vector<std::vector<float>>* hidden_states = nullptr;
    std::span<QueryCapture> captures;
    std::span<const std::vector<int32_t>> log_prob_tokens;  // with log_probs
    std::vector<std::vector<double>>* log_probs = nullptr;
  };
  absl::Status run_guarded(std::span<const SequenceForward> batch, const ForwardOutputs& out);
  absl::Status run(std::span<const SequenceForward> batch, const ForwardOutputs& out);

  ModelConfig config_;
  kernels::Backend* backend_;
  std::unique_ptr<CheckpointWeights> checkpoint_;
  TransformerOptions options_;
  std::unique_ptr<KvPool> pool_;
  ModelWeights weights_;  // views in backend memory
  DeviceBuffer<float> inv_freq_;
  // Activations, grown on demand and reused across forwards.
  DeviceBuffer<float> h_, xn_, q_, k_, v_, attn_, gate_, up_, logits_rows_, logits_;
  DeviceBuffer<int32_t> ids_, positions_, slots_, logit_index_, capture_index_;
  DeviceBuffer<float> captured_q_;
  DeviceBuffer<int32_t> greedy_ids_;
  DeviceBuffer<double> greedy_conf_;
  DeviceBuffer<int32_t> log_prob_tokens_;
  DeviceBuffer<double> log_probs_;
};

}  // namespace dllm
