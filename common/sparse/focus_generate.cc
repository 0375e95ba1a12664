// One Focus-dLLM request: a DenoisingSequence with a FocusRowSelector, stepped to the end.
#include "common/sparse/focus_generate.h"

#include <memory>
#include <optional>
#include <utility>

#include "common/generate/denoising_sequence.h"

namespace dllm {

namespace {

// The Focus-dLLM step loop over one sequence, with an optional frozen prompt cache (reuse mode).
absl::StatusOr<GenerationResult> run_focus(LanguageModel& model, std::span<const int32_t> prompt,
                                           const GenerationOptions& options,
                                           const FocusOptions& focus,
                                           std::optional<FrozenPromptCache> frozen,
                                           FocusCounters* counters, const BlockCallback& on_block) {
  if (absl::Status s = validate_focus_options(focus, model.config()); !s.ok()) return s;
  if (absl::Status s = validate_focus_generation(options); !s.ok()) return s;
  GenerationOptions dual = options;
  dual.cache = KvCacheMode::kDual;
  auto seq = frozen.has_value() ? DenoisingSequence::create_with_frozen_prompt(
                                     model, prompt, dual, std::move(*frozen), on_block)
                               : DenoisingSequence::create(model, prompt, {}, dual, on_block);
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

}  // namespace

absl::StatusOr<GenerationResult> generate_focus(LanguageModel& model,
                                                std::span<const int32_t> prompt,
                                                const GenerationOptions& options,
                                                const FocusOptions& focus,
                                                FocusCounters* counters,
                                                const BlockCallback& on_block) {
  return run_focus(model, prompt, options, focus, std::nullopt, counters, on_block);
}

absl::StatusOr<GenerationResult> generate_focus_with_frozen_prompt(
    LanguageModel& model, std::span<const int32_t> prompt, const GenerationOptions& options,
    const FocusOptions& focus, FrozenPromptCache frozen, FocusCounters* counters,
    const BlockCallback& on_block) {
  return run_focus(model, prompt, options, focus, std::move(frozen), counters, on_block);
}

}  // namespace dllm
