// prefilling+focus (issue 4 item 6): Prefilling-dLLM chooses the top-K chunks and builds the
// compressed prompt (methods.md §2 steps 1-6), then Focus-dLLM (§3) runs the denoising loop over
// it instead of the dense block-cache loop. Both modes: reprefill (focus over the compressed
// prompt, the dual block cache's refresh included) and reuse (the stitched chunk K/V are frozen;
// block entries refresh [frozen_len, end) and focus steps run the active rows only).
#pragma once

#include <span>

#include "absl/status/statusor.h"
#include "common/generate/generate.h"
#include "common/sparse/focus_options.h"
#include "common/sparse/focus_pcgi.h"
#include "common/sparse/prefilling.h"

namespace dllm {

// The whole request: selection as generate_prefilling(), decode by Focus-dLLM. A dense fallback
// (a context of one chunk) runs focus over the whole prompt. `counters` gets focus's counters.
absl::StatusOr<PrefillingResult> generate_prefilling_focus(Transformer& model,
                                                           const PrefillingRequest& request,
                                                           const FocusOptions& focus,
                                                           FocusCounters* counters = nullptr,
                                                           ChunkKvCache* chunk_cache = nullptr);

}  // namespace dllm
