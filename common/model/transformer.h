// Transformer: the LLaDA / Dream (Qwen2-shaped) bidirectional decoder stack on a Backend.
#pragma once

#include <memory>
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
  absl::Status run_guarded(std::span<const SequenceForward> batch,
                           std::vector<std::vector<float>>* logits,
                           std::vector<std::vector<float>>* hidden_states);
  absl::Status run(std::span<const SequenceForward> batch, std::vector<std::vector<float>>* logits,
                   std::vector<std::vector<float>>* hidden_states);

  ModelConfig config_;
  kernels::Backend* backend_;
  std::unique_ptr<CheckpointWeights> checkpoint_;
  TransformerOptions options_;
  std::unique_ptr<KvPool> pool_;
  ModelWeights weights_;  // views in backend memory
  DeviceBuffer<float> inv_freq_;
  // Activations, grown on demand and reused across forwards.
  DeviceBuffer<float> h_, xn_, q_, k_, v_, attn_, gate_, up_, logits_rows_, logits_;
  DeviceBuffer<int32_t> ids_, positions_, slots_, logit_index_;
};

}  // namespace dllm
