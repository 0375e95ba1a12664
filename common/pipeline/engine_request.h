// One request as the engine runs it, split at the line that disaggregated serving cuts along:
// prepare_prompt() (a prefill node: chunk selection, the compressed prompt, reuse-mode K/V) and
// decode_prompt() (a decode node: the denoising loop). run_engine_request() is both in one
// process and equals `dllm generate` token for token.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/generate/denoising_sequence.h"
#include "common/generate/generate.h"
#include "common/model/transformer.h"
#include "common/sparse/chunk_kv_cache.h"
#include "common/sparse/focus_options.h"
#include "common/sparse/focus_pcgi.h"
#include "common/sparse/prefilling.h"
#include "common/sparse/sparse_policy.h"

namespace dllm {

struct EngineRequestSpec {
  SparsePolicy policy = SparsePolicy::kDense;
  // A prefilling policy chunks `context`; every other policy runs prefix ++ context ++ query.
  std::vector<int32_t> prefix, context, query;
  GenerationOptions generation;
  PrefillingOptions prefilling;  // read by prefilling policies
  FocusOptions focus;            // read by focus policies
  std::string model_id = "model";

  std::vector<int32_t> full_prompt() const;
};

// The longest sequence (prompt + gen_length) and the most steps a request may ask for.
inline constexpr int64_t kMaxSequenceTokens = int64_t{1} << 20;

// Refuses what would fail later (bad knobs, ids out of range, a prefilling policy with no
// context or query, a sequence or step count past kMaxSequenceTokens) before any model work.
absl::Status validate_engine_request(const EngineRequestSpec& spec, const ModelConfig& config);

struct PreparedPromptState {
  std::vector<int32_t> prompt;            // what the denoising loop runs over
  std::optional<FrozenPromptCache> frozen;  // its first frozen_len slots' K/V, when precomputed
  PrefillingReport report;                // prefilling policies
};

absl::StatusOr<PreparedPromptState> prepare_prompt(Transformer& model,
                                                   const EngineRequestSpec& spec,
                                                   ChunkKvCache* chunk_cache);

// The denoising sequence of a prepared prompt, for a caller that steps it together with others
// (continuous batching); `frozen` may be null. decode_prompt() is this stepped to the end.
absl::StatusOr<std::unique_ptr<DenoisingSequence>> make_decode_sequence(
    Transformer& model, const EngineRequestSpec& spec, std::span<const int32_t> prompt,
    FrozenPromptCache* frozen, const BlockCallback& on_block);
// Whether the sequences of this spec may share a forward with other requests' sequences (a
// Focus-dLLM step carries its own sparse attention plan, so it runs alone).
bool shares_forwards(const EngineRequestSpec& spec);

// The denoising loop over a prepared prompt (`frozen` may be null). `counters` (optional) gets
// focus's counters.
absl::StatusOr<GenerationResult> decode_prompt(Transformer& model, const EngineRequestSpec& spec,
                                               std::span<const int32_t> prompt,
                                               FrozenPromptCache* frozen,
                                               const BlockCallback& on_block,
                                               FocusCounters* counters = nullptr);

struct EngineResult {
  GenerationResult generation;
  PrefillingReport report;
  std::vector<int32_t> prompt;  // what the denoising loop ran over
};
absl::StatusOr<EngineResult> run_engine_request(Transformer& model, const EngineRequestSpec& spec,
                                                ChunkKvCache* chunk_cache,
                                                const BlockCallback& on_block,
                                                FocusCounters* counters = nullptr);

}  // namespace dllm
