// Focus-dLLM generation: the dual block cache schedule where each step runs only the rows
// around the positions PCGI focuses on, attending sparsely to the prompt beyond the sink layer.
#pragma once

#include <memory>
#include <optional>
#include <span>

#include "absl/status/statusor.h"
#include "common/generate/denoising_sequence.h"
#include "common/generate/generate.h"
#include "common/sparse/focus_options.h"
#include "common/sparse/focus_pcgi.h"

namespace dllm {

// options.cache kNone is run as kDual. `counters` (optional) gets focus's instrumentation.
absl::StatusOr<GenerationResult> generate_focus(LanguageModel& model,
                                                std::span<const int32_t> prompt,
                                                const GenerationOptions& options,
                                                const FocusOptions& focus,
                                                FocusCounters* counters = nullptr,
                                                const BlockCallback& on_block = {});

// Focus-dLLM over a prompt whose first frozen.frozen_len slots already sit in frozen.cache.
// options.cache kNone is run as kDual (as generate_focus does).
absl::StatusOr<GenerationResult> generate_focus_with_frozen_prompt(
    LanguageModel& model, std::span<const int32_t> prompt, const GenerationOptions& options,
    const FocusOptions& focus, FrozenPromptCache frozen, FocusCounters* counters = nullptr,
    const BlockCallback& on_block = {});

// The Focus-dLLM sequence alone, for a caller that steps it with others (a decode node's
// continuous batch); generate_focus() is this stepped to the end.
absl::StatusOr<std::unique_ptr<DenoisingSequence>> make_focus_sequence(
    LanguageModel& model, std::span<const int32_t> prompt, const GenerationOptions& options,
    const FocusOptions& focus, std::optional<FrozenPromptCache> frozen,
    const BlockCallback& on_block);
// The focus counters of a sequence made by make_focus_sequence (zeros for any other).
FocusCounters focus_counters_of(const DenoisingSequence& sequence);

}  // namespace dllm
