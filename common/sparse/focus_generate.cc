// One Focus-dLLM request: a DenoisingSequence with a FocusRowSelector, stepped to the end.
#include "common/sparse/focus_generate.h"

#include <memory>
#include <optional>
#include <utility>

#include "common/generate/denoising_sequence.h"

namespace dllm {

absl::StatusOr<std::unique_ptr<DenoisingSequence>> make_focus_sequence(
    LanguageModel& model, std::span<const int32_t> prompt, const GenerationOptions& options,
    const FocusOptions& focus, std::optional<FrozenPromptCache> frozen,
    const BlockCallback& on_block) {
  if (absl::Status s = validate_focus_options(focus, model.config()); !s.ok()) return s;
  if (absl::Status s = validate_focus_generation(options); !s.ok()) return s;
  GenerationOptions dual = options;
  dual.cache = KvCacheMode::kDual;
  auto seq = frozen.has_value() ? DenoisingSequence::create_with_frozen_prompt(
                                     model, prompt, dual, std::move(*frozen), on_block)
                               : DenoisingSequence::create(model, prompt, {}, dual, on_block);
  if (!seq.ok()) return seq.status();
  const int prompt_len = static_cast<int>(prompt.size());
  (*seq)->set_row_focus(std::make_unique<FocusRowSelector>(focus, model.config(), dual, prompt_len,
                                                          prompt_len + dual.gen_length));
  return seq;
}

FocusCounters focus_counters_of(const DenoisingSequence& sequence) {
  const auto* selector = dynamic_cast<const FocusRowSelector*>(sequence.row_focus());
  return selector != nullptr ? selector->counters() : FocusCounters{};
}

namespace {

// The Focus-dLLM step loop over one sequence, with an optional frozen prompt cache (reuse mode).
absl::StatusOr<GenerationResult> run_focus(LanguageModel& model, std::span<const int32_t> prompt,
                                           const GenerationOptions& options,
                                           const FocusOptions& focus,
                                           std::optional<FrozenPromptCache> frozen,
                                           FocusCounters* counters, const BlockCallback& on_block) {
  auto seq = make_focus_sequence(model, prompt, options, focus, std::move(frozen), on_block);
  if (!seq.ok()) return seq.status();
  DenoisingSequence* one[] = {seq->get()};
  while (true) {
    absl::StatusOr<bool> stepped = step_sequences(model, one);
    if (!stepped.ok()) return stepped.status();
    if (!*stepped) break;
  }
  if (counters != nullptr) *counters = focus_counters_of(**seq);
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
