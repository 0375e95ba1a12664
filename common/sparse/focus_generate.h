// Focus-dLLM generation: the dual block cache schedule where each step runs only the rows
// around the positions PCGI focuses on, attending sparsely to the prompt beyond the sink layer.
#pragma once

#include <span>

#include "absl/status/statusor.h"
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

}  // namespace dllm
