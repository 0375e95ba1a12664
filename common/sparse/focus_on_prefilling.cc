// prefilling+focus: chunk selection, then the Focus-dLLM denoising loop over the compressed prompt.
#include "common/sparse/focus_on_prefilling.h"

#include <memory>
#include <utility>
#include <vector>

#include "common/generate/denoising_sequence.h"
#include "common/sparse/focus_generate.h"

namespace dllm {

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
