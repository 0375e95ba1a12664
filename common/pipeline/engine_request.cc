#include "common/pipeline/engine_request.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/sparse/focus_generate.h"

namespace dllm {
namespace {

bool uses_prefilling(SparsePolicy p) {
  return p == SparsePolicy::kPrefilling || p == SparsePolicy::kPrefillingFocus;
}
bool uses_focus(SparsePolicy p) {
  return p == SparsePolicy::kFocus || p == SparsePolicy::kPrefillingFocus;
}

PrefillingRequest prefilling_request(const EngineRequestSpec& s) {
  return PrefillingRequest{.prefix = s.prefix,
                           .context = s.context,
                           .query = s.query,
                           .prefilling = s.prefilling,
                           .generation = s.generation,
                           .model_id = s.model_id};
}

}  // namespace

std::vector<int32_t> EngineRequestSpec::full_prompt() const {
  std::vector<int32_t> out = prefix;
  out.insert(out.end(), context.begin(), context.end());
  out.insert(out.end(), query.begin(), query.end());
  return out;
}

absl::Status validate_engine_request(const EngineRequestSpec& spec, const ModelConfig& config) {
  if (absl::Status s = validate_generation_options(spec.generation, config); !s.ok()) return s;
  const std::vector<int32_t> prompt = spec.full_prompt();
  if (prompt.empty()) return absl::InvalidArgumentError("empty prompt");
  // A node takes these from the wire: the sequence length (prompt + gen_length) is an int
  // throughout the engine and a step schedule holds an entry per step, so both are bounded far
  // above any model's context instead of overflowing or allocating gigabytes.
  if (static_cast<int64_t>(prompt.size()) + spec.generation.gen_length > kMaxSequenceTokens)
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt (", prompt.size(), " tokens) + gen_length (", spec.generation.gen_length,
        ") exceeds the engine's limit of ", kMaxSequenceTokens, " tokens"));
  if (spec.generation.steps > kMaxSequenceTokens)
    return absl::InvalidArgumentError(absl::StrCat(
        "steps ", spec.generation.steps, " exceeds the engine's limit of ", kMaxSequenceTokens));
  if (absl::Status s = validate_prompt(prompt, config); !s.ok()) return s;
  if (uses_prefilling(spec.policy)) {
    if (spec.context.empty())
      return absl::InvalidArgumentError(absl::StrCat("policy ", sparse_policy_name(spec.policy),
                                                     " needs a context (the document to chunk)"));
    if (spec.query.empty())
      return absl::InvalidArgumentError(
          absl::StrCat("policy ", sparse_policy_name(spec.policy),
                       " needs a question after the context (chunks are scored against it)"));
    if (absl::Status s = validate_prefilling_options(spec.prefilling, config); !s.ok()) return s;
  }
  if (uses_focus(spec.policy)) {
    if (absl::Status s = validate_focus_options(spec.focus, config); !s.ok()) return s;
    if (absl::Status s = validate_focus_generation(spec.generation); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<PreparedPromptState> prepare_prompt(Transformer& model,
                                                   const EngineRequestSpec& spec,
                                                   ChunkKvCache* chunk_cache) {
  if (absl::Status s = validate_engine_request(spec, model.config()); !s.ok()) return s;
  PreparedPromptState out;
  if (!uses_prefilling(spec.policy)) {
    out.prompt = spec.full_prompt();
    return out;
  }
  absl::StatusOr<PrefillingPrepared> p =
      prepare_prefilling(model, prefilling_request(spec), chunk_cache);
  if (!p.ok()) return p.status();
  out.report = std::move(p->report);
  out.prompt = out.report.prompt;
  out.frozen = std::move(p->frozen);
  return out;
}

absl::StatusOr<std::unique_ptr<DenoisingSequence>> make_decode_sequence(
    Transformer& model, const EngineRequestSpec& spec, std::span<const int32_t> prompt,
    FrozenPromptCache* frozen, const BlockCallback& on_block) {
  std::optional<FrozenPromptCache> taken;
  if (frozen != nullptr) taken = std::move(*frozen);
  if (uses_focus(spec.policy))
    return make_focus_sequence(model, prompt, spec.generation, spec.focus, std::move(taken),
                               on_block);
  if (taken) return DenoisingSequence::create_with_frozen_prompt(model, prompt, spec.generation,
                                                                 std::move(*taken), on_block);
  return DenoisingSequence::create(model, prompt, {}, spec.generation, on_block);
}

bool shares_forwards(const EngineRequestSpec& spec) { return !uses_focus(spec.policy); }

absl::StatusOr<GenerationResult> decode_prompt(Transformer& model, const EngineRequestSpec& spec,
                                               std::span<const int32_t> prompt,
                                               FrozenPromptCache* frozen,
                                               const BlockCallback& on_block,
                                               FocusCounters* counters) {
  absl::StatusOr<std::unique_ptr<DenoisingSequence>> seq =
      make_decode_sequence(model, spec, prompt, frozen, on_block);
  if (!seq.ok()) return seq.status();
  DenoisingSequence* one[] = {seq->get()};
  while (true) {
    absl::StatusOr<bool> stepped = step_sequences(model, one);
    if (!stepped.ok()) return stepped.status();
    if (!*stepped) break;
  }
  if (counters != nullptr && uses_focus(spec.policy)) *counters = focus_counters_of(**seq);
  return (*seq)->take_result();
}

absl::StatusOr<EngineResult> run_engine_request(Transformer& model, const EngineRequestSpec& spec,
                                                ChunkKvCache* chunk_cache,
                                                const BlockCallback& on_block,
                                                FocusCounters* counters) {
  absl::StatusOr<PreparedPromptState> prepared = prepare_prompt(model, spec, chunk_cache);
  if (!prepared.ok()) return prepared.status();
  EngineResult out;
  out.report = std::move(prepared->report);
  out.prompt = std::move(prepared->prompt);
  absl::StatusOr<GenerationResult> gen =
      decode_prompt(model, spec, out.prompt, prepared->frozen ? &*prepared->frozen : nullptr,
                    on_block, counters);
  if (!gen.ok()) return gen.status();
  out.generation = std::move(*gen);
  return out;
}

}  // namespace dllm
