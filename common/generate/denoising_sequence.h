// DenoisingSequence: one request's life — blocks, steps, forwards planned, tokens committed.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/generate/cache_plan.h"
#include "common/generate/generate.h"
#include "common/generate/token_sampling.h"
#include "common/model/language_model.h"

namespace dllm {

// A step is split in two so that many sequences can share one model forward:
// plan_step() says which rows it needs, apply_logits() commits tokens from their logits.
class DenoisingSequence {
 public:
  // `prompt_mask`: empty, or one byte per prompt id (0 = left padding).
  static absl::StatusOr<std::unique_ptr<DenoisingSequence>> create(
      LanguageModel& model, std::span<const int32_t> prompt, std::span<const uint8_t> prompt_mask,
      const GenerationOptions& options, BlockCallback on_block);
  // A prompt whose first frozen.frozen_len slots are already in frozen.cache (generate.h).
  static absl::StatusOr<std::unique_ptr<DenoisingSequence>> create_with_frozen_prompt(
      LanguageModel& model, std::span<const int32_t> prompt, const GenerationOptions& options,
      FrozenPromptCache frozen, BlockCallback on_block);

  // A sparse method choosing the rows of each cached step (Focus-dLLM); needs a block cache.
  void set_row_focus(std::unique_ptr<RowFocus> focus) { row_focus_ = std::move(focus); }
  RowFocus* row_focus() const { return row_focus_.get(); }

  // Resumes a request another run had started: `committed` are the ids of its first whole
  // blocks (what a client already received). Call before the first step. The result equals the
  // uninterrupted run's when the schedule draws no random numbers (resumable_schedule); the
  // blocks' steps are not replayed, so counters cover the resumed part only.
  absl::Status resume_after_blocks(std::span<const int32_t> committed);

  bool finished() const { return finished_; }
  // Ends the request now if its options' should_stop() says so (between steps).
  void stop_if_requested();
  // Runs the steps that need no forward (they commit nothing), then appends this step's
  // forwards to `batch` (one, or two with cfg). Appends nothing once finished. The spans stay
  // valid until apply_logits().
  void plan_step(std::vector<SequenceForward>* batch);
  // `logits`: the outputs of the forwards plan_step() appended, in order.
  absl::Status apply_logits(std::span<std::vector<float>> logits);
  // When this request's step is a pure greedy choice (temperature 0, no cfg, no top-p/top-k,
  // a confidence-ranked sampler), what it ranks by: the model may then reduce the logits where
  // they are and apply_greedy() takes the result. nullopt: apply_logits() is needed.
  std::optional<kernels::ConfidenceKind> greedy_kind() const;
  absl::Status apply_greedy(std::span<std::vector<GreedyChoice>> choices);
  GenerationResult take_result();

 private:
  DenoisingSequence(const GenerationOptions& options, const ModelConfig& config);
  int block_begin() const { return gen_start_ + block_ * block_length_; }
  int block_end() const { return block_begin() + block_length_; }
  std::vector<int> masked_in_block() const;
  // Masks this step commits when that is known before the forward; -1 when it is not.
  int planned_transfer_count() const;
  void start_block();
  void finish_step(int num_transferred);
  void finish_block();
  std::vector<int> choose_positions(std::span<const double> confidence);
  // Commits the chosen positions among the planned logit rows.
  void commit(std::span<const TokenChoice> choices);
  void apply_dream_origin(const float* logits);

  GenerationOptions options_;
  bool dream_;  // shifted logits, Dream's samplers
  int32_t mask_id_;
  int width_;  // logits per row
  std::vector<int32_t> stop_tokens_;
  BlockCallback on_block_;
  SamplingRng rng_;

  std::vector<int32_t> x_;          // the whole sequence
  std::vector<int32_t> positions_;  // RoPE position of each slot
  std::vector<uint8_t> key_mask_;   // empty, or 0 for padding slots
  int gen_start_ = 0;
  int block_length_ = 0;
  int num_blocks_ = 0;
  int steps_per_block_ = 0;        // 0 in threshold mode
  std::vector<int> block_counts_;  // LLaDA: masks to commit at each step of this block
  std::vector<float> timesteps_;   // Dream: linspace(1, eps, steps_per_block + 1)
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<KvCache> uncond_cache_;  // cfg's unconditional sequence
  int frozen_len_ = 0;                     // prompt slots whose K/V never change (reuse mode)

  int block_ = 0;
  int step_ = 0;                // within the block
  bool entry_pending_ = false;  // with a cache: no forward has run in this block yet
  bool finished_ = false;

  // The planned step.
  ForwardRows rows_;
  std::vector<int> logit_positions_;  // masked positions of the block, ascending
  std::vector<int32_t> logit_rows_;   // their rows within rows_
  std::vector<int32_t> uncond_ids_;
  int planned_forwards_ = 0;
  std::unique_ptr<RowFocus> row_focus_;
  std::vector<int32_t> focus_slots_;  // the rows a RowFocus chose (empty: rows_)
  std::vector<int32_t> focus_ids_, focus_positions_;

  GenerationResult result_;
};

// One denoising step of every unfinished sequence, sharing one model forward (the sequences may
// join and leave between calls: continuous batching). false once none had work left. A
// sequence's tokens do not depend on the others in the batch.
absl::StatusOr<bool> step_sequences(LanguageModel& model,
                                    std::span<DenoisingSequence* const> sequences);

// Whether a schedule is a pure function of the sequence state (no random draws: greedy tokens,
// confidence-ranked positions): only then does resume_after_blocks() reproduce a full run.
bool resumable_schedule(const GenerationOptions& options);

}  // namespace dllm
