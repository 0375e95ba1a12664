// Diffusion-LM generation: LLaDA / Dream denoising schedules over a LanguageModel, one or many
// requests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/generate/generation_options.h"
#include "common/model/language_model.h"

namespace dllm {

// The state after one denoising step (GenerationOptions::record_trace).
struct TraceStep {
  int block = 0;
  int step = 0;                // within the block
  int num_transferred = 0;     // masks committed by this step
  int64_t forward_passes = 0;  // this request's sequence forwards so far
  std::vector<int32_t> sequence;
};

// For benchmarks: what a request cost.
struct GenerationCounters {
  int64_t forward_passes = 0;  // sequence forwards (a cfg step runs two)
  int64_t rows_computed = 0;   // rows run through the model
  int64_t logit_rows = 0;      // rows whose logits were asked for
  int64_t steps = 0;           // denoising steps, including those that committed nothing
};

struct GenerationResult {
  std::vector<int32_t>
      sequence;  // prompt (padding included) ++ generated region, as the reference returns
  std::vector<int32_t>
      generated;  // the generated region; cut before the first stop token with truncate_at_stop
  bool stopped_early = false;  // stop_after_stop_block ended the run before the last block
  bool cancelled = false;      // GenerationOptions::should_stop ended the run
  GenerationCounters counters;
  std::vector<TraceStep> trace;
};

// Streaming: called when block `block` is complete, with its ids (valid during the call).
using BlockCallback = std::function<void(int block, std::span<const int32_t> ids)>;

struct GenerationRequest {
  std::span<const int32_t> prompt;
  GenerationOptions options;
  BlockCallback on_block;  // optional
};

absl::StatusOr<GenerationResult> generate(LanguageModel& model, std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const BlockCallback& on_block = {});

// A prompt whose first `frozen_len` slots already hold their K/V in `cache` (a cache of the same
// model, at least prompt + gen_length slots, slot = RoPE position). Those rows never run again
// and every forward attends to them as they are (Prefilling-dLLM's reuse mode stitches them from
// cached chunks). Rows [frozen_len, end) run as options.cache says; with KvCacheMode::kNone every
// step re-runs them all through the cache. frozen_len < prompt length; no cfg.
struct FrozenPromptCache {
  std::unique_ptr<KvCache> cache;
  int frozen_len = 0;
};
absl::StatusOr<GenerationResult> generate_with_frozen_prompt(LanguageModel& model,
                                                             std::span<const int32_t> prompt,
                                                             const GenerationOptions& options,
                                                             FrozenPromptCache frozen,
                                                             const BlockCallback& on_block = {});

// Ragged batch: each request is its own sequence (own length, options, seed, cache) and all of
// them share each model forward. A request's tokens do not depend on its batch neighbours.
absl::StatusOr<std::vector<GenerationResult>> generate_batch(
    LanguageModel& model, std::span<const GenerationRequest> requests);

// The reference's batch layout: prompts left-padded to one length with an attention mask.
// Padding becomes a key mask; LLaDA keeps positions 0..L-1 (as its reference model does), Dream
// takes positions from the mask's cumulative sum (the reference's tok_idx). Row r uses seed +
// r. Dream with a padded row and a K/V cache is refused (cache slots are positions, and tok_idx
// repeats positions): pass ragged requests instead, which is the same computation without pads.
struct PaddedPromptBatch {
  std::span<const int32_t> ids;             // [batch, prompt_len], row-major
  std::span<const uint8_t> attention_mask;  // [batch, prompt_len]; 0 = padding
  int batch = 0;
  int prompt_len = 0;
};
absl::StatusOr<std::vector<GenerationResult>> generate_padded_batch(
    LanguageModel& model, const PaddedPromptBatch& prompts, const GenerationOptions& options);

}  // namespace dllm
