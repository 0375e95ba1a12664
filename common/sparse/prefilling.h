// Prefilling-dLLM end to end (methods.md §2): draft → chunk scoring → top-K chunks → compressed
// prompt (optionally token-sparse) → reprefill or reuse → the denoising loop of common/generate.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/generate/generate.h"
#include "common/model/transformer.h"
#include "common/sparse/chunk_kv_cache.h"
#include "common/sparse/chunk_plan.h"
#include "common/sparse/draft.h"
#include "common/sparse/prefilling_options.h"
#include "common/sparse/token_sparsity.h"

namespace dllm {

// A request = prefix | context | query: the context (the document) is what gets chunked; the
// query is everything after it (the question, the chat template's assistant header).
struct PrefillingRequest {
  std::span<const int32_t> prefix;
  std::span<const int32_t> context;
  std::span<const int32_t> query;
  PrefillingOptions prefilling;
  GenerationOptions generation;
  std::string model_id = "model";  // the chunk K/V cache key's model part
  BlockCallback on_block;
};

struct ChunkReport {
  int context_begin = 0;
  int context_end = 0;
  double score = 0.0;
  bool cache_hit = false;
  bool selected = false;
  int kept_tokens = 0;  // of a selected chunk (token sparsity), BOS included
};

struct PrefillingReport {
  bool dense_fallback = false;  // the prompt was too short to chunk: generated densely
  std::string note;             // why (a log line for the caller)
  std::vector<int32_t> draft;
  std::vector<ChunkReport> chunks;  // source order
  std::vector<int> selected;        // chunk indices, source order
  std::vector<int32_t> prompt;      // what generation ran over (compressed or dense)
  int frozen_len = 0;               // reuse: prompt slots stitched from chunk K/V
  int shared_pages = 0;             // reuse: leading pages shared with a chunk entry
  int num_targets = 0;
  int64_t draft_forwards = 0, encode_forwards = 0, chunks_encoded = 0, chunk_cache_hits = 0;
  int64_t score_forwards = 0, score_sequences = 0, score_rows = 0;
  double selection_seconds = 0.0;  // draft + scoring + token selection
  double prefill_seconds = 0.0;    // reuse: stitching
  double generate_seconds = 0.0;
};

struct PrefillingResult {
  GenerationResult generation;
  PrefillingReport report;
};

// The selection alone (everything before decode), for tests and benchmarks.
struct PrefillingSelection {
  std::vector<PlannedChunk> chunks;
  Draft draft;
  std::vector<int> selected;
  std::vector<std::shared_ptr<const ChunkKv>> selected_kv;  // with keep_kv, per selected chunk
  std::vector<ChunkTokenSelection> tokens;                  // with token_capacity > 0
  PrefillingReport report;
};
// keep_kv: hold the selected chunks' K/V (reuse mode needs it; also with token sparsity).
absl::StatusOr<PrefillingSelection> select_prefilling_chunks(Transformer& model,
                                                             const PrefillingRequest& request,
                                                             ChunkKvCache* chunk_cache,
                                                             bool keep_kv);

// The whole request. `chunk_cache` (optional) keeps chunk K/V across requests.
absl::StatusOr<PrefillingResult> generate_prefilling(Transformer& model,
                                                     const PrefillingRequest& request,
                                                     ChunkKvCache* chunk_cache = nullptr);

// The denoising loop run over what selection produced: `prompt` is the compressed prompt (or the
// whole prompt on a dense fallback); `frozen` is null, or (reuse) the stitched cache holding the
// prompt's first frozen->frozen_len slots. The default is generate() / generate_with_frozen_prompt().
using PrefillingDecoder = std::function<absl::StatusOr<GenerationResult>(
    std::span<const int32_t> prompt, FrozenPromptCache* frozen)>;
// Everything before the denoising loop: selection, then the compressed prompt and (reuse) the
// stitched cache holding its first frozen.frozen_len slots. What a prefill node hands a decode
// node; generate_prefilling_with() is prepare_prefilling() followed by the decoder.
struct PrefillingPrepared {
  PrefillingReport report;             // report.prompt is the prompt to decode
  std::optional<FrozenPromptCache> frozen;  // reuse mode (not on a dense fallback)
};
absl::StatusOr<PrefillingPrepared> prepare_prefilling(Transformer& model,
                                                      const PrefillingRequest& request,
                                                      ChunkKvCache* chunk_cache);

// generate_prefilling() with another denoising loop (prefilling+focus: common/sparse/
// focus_on_prefilling.h).
absl::StatusOr<PrefillingResult> generate_prefilling_with(Transformer& model,
                                                          const PrefillingRequest& request,
                                                          ChunkKvCache* chunk_cache,
                                                          const PrefillingDecoder& decode);

}  // namespace dllm
