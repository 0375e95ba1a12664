// prefilling+focus: chunk selection, then the Focus-dLLM denoising loop over the compressed prompt.
#include "common/sparse/focus_on_prefilling.h"

#include <memory>
#include <utility>
#include <vector>

#include "common/generate/denoising_sequence.h"
#include "common/sparse/focus_generate.h"

namespace dllm {

absl::StatusOr<GenerationResult> generate_focus_with_frozen_prompt(
    LanguageModel& model, std::span<const int32_t> prompt, const GenerationOptions& options,
    const FocusOptions& focus, FrozenPromptCache frozen, FocusCounters* counters,
    const BlockCallback& on_block) {
  if (absl::Status s = validate_focus_options(focus, model.config()); !s.ok()) return s;
  if (absl::Status s = validate_focus_generation(options); !s.ok()) return s;
  GenerationOptions dual = options;
  dual.cache = KvCacheMode::kDual;
  auto seq =
      DenoisingSequence::create_with_frozen_prompt(model, prompt, dual, std::move(frozen), on_block);
  if (!seq.ok()) return seq.status();
  const int prompt_len = static_cast<int>(prompt.size());
  auto selector = std::make_unique<FocusRowSelector>(focus, model.config(), dual, prompt_len,
                                                     prompt_len + dual.gen_length);
  FocusRowSelector* focus_rows = selector.get();
  (*seq)->set_row_focus(std::move(selector));

  std::vector<SequenceForward> batch;
  std::vector<std::vector<float>> logits;
  std::vector<std::vector<GreedyChoice>> choices;
  while (true) {
    batch.clear();
    (*seq)->plan_step(&batch);
    if (batch.empty()) break;
    if (const auto kind = (*seq)->greedy_kind()) {
      if (absl::Status s = model.forward_greedy(batch, *kind, &choices); !s.ok()) return s;
      if (absl::Status s = (*seq)->apply_greedy(choices); !s.ok()) return s;
    } else {
      if (absl::Status s = model.forward(batch, &logits); !s.ok()) return s;
      if (absl::Status s = (*seq)->apply_logits(logits); !s.ok()) return s;
    }
  }
  if (counters != nullptr) *counters = focus_rows->counters();
  return (*seq)->take_result();
}

absl::StatusOr<PrefillingResult> generate_prefilling_focus(Transformer& model,
                                                           const PrefillingRequest& r,
                                                           const FocusOptions& focus,
                                                           FocusCounters* counters,
                                                           ChunkKvCache* chunk_cache) {
  // Refuse a bad focus configuration before the (costly) chunk selection.
  if (absl::Status s = validate_focus_options(focus, model.config()); !s.ok()) return s;
  if (absl::Status s = validate_focus_generation(r.generation); !s.ok()) return s;
  return generate_prefilling_with(
      model, r, chunk_cache,
      [&](std::span<const int32_t> prompt,
          FrozenPromptCache* frozen) -> absl::StatusOr<GenerationResult> {
        if (frozen == nullptr)
          return generate_focus(model, prompt, r.generation, focus, counters, r.on_block);
        return generate_focus_with_frozen_prompt(model, prompt, r.generation, focus,
                                                 std::move(*frozen), counters, r.on_block);
      });
}

}  // namespace dllm
