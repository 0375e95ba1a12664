// The batch loop: every unfinished request plans its step, one model forward serves them all.
#include "common/generate/generate.h"

#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/generate/denoising_sequence.h"

namespace dllm {
namespace {

absl::Status with_request(const absl::Status& status, size_t index) {
  return absl::Status(status.code(), absl::StrCat("request ", index, ": ", status.message()));
}

// Gives each sequence the outputs of the forwards it planned (in batch order).
template <typename Output, typename Apply>
absl::Status hand_out(std::span<DenoisingSequence* const> sequences,
                      const std::vector<size_t>& forwards_of, std::span<Output> outputs,
                      Apply apply) {
  size_t offset = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (forwards_of[i] == 0) continue;
    absl::Status s = apply(*sequences[i], outputs.subspan(offset, forwards_of[i]));
    if (!s.ok()) return with_request(s, i);
    offset += forwards_of[i];
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bool> step_sequences(LanguageModel& model,
                                    std::span<DenoisingSequence* const> sequences) {
  std::vector<SequenceForward> batch;
  std::vector<size_t> forwards_of(sequences.size());
  for (size_t i = 0; i < sequences.size(); ++i) {
    const size_t before = batch.size();
    sequences[i]->stop_if_requested();
    sequences[i]->plan_step(&batch);
    forwards_of[i] = batch.size() - before;
  }
  if (batch.empty()) return false;
  // One greedy kind across the batch: reduce the logits where they are (a GPU sends back
  // 12 bytes a row instead of the vocabulary).
  std::optional<kernels::ConfidenceKind> kind;
  bool all_greedy = true;
  for (size_t i = 0; i < sequences.size() && all_greedy; ++i) {
    if (forwards_of[i] == 0) continue;
    const auto k = sequences[i]->greedy_kind();
    all_greedy = k.has_value() && (!kind || *kind == *k);
    kind = k;
  }
  if (all_greedy && kind) {
    std::vector<std::vector<GreedyChoice>> choices;
    if (absl::Status s = model.forward_greedy(batch, *kind, &choices); !s.ok()) return s;
    if (choices.size() != batch.size())
      return absl::InternalError("the model returned greedy choices for another batch size");
    absl::Status s = hand_out(sequences, forwards_of, std::span(choices),
                              [](DenoisingSequence& seq, auto outputs) {
                                return seq.apply_greedy(outputs);
                              });
    if (!s.ok()) return s;
    return true;
  }
  std::vector<std::vector<float>> logits;
  if (absl::Status s = model.forward(batch, &logits); !s.ok()) return s;
  if (logits.size() != batch.size()) {
    return absl::InternalError(absl::StrCat("the model returned logits for ", logits.size(),
                                            " of ", batch.size(), " sequences"));
  }
  absl::Status s = hand_out(sequences, forwards_of, std::span(logits),
                            [](DenoisingSequence& seq, auto outputs) {
                              return seq.apply_logits(outputs);
                            });
  if (!s.ok()) return s;
  return true;
}

namespace {

absl::StatusOr<std::vector<GenerationResult>> run_sequences(
    LanguageModel& model, std::vector<std::unique_ptr<DenoisingSequence>>& sequences) {
  std::vector<DenoisingSequence*> views;
  for (auto& seq : sequences) views.push_back(seq.get());
  while (true) {
    absl::StatusOr<bool> stepped = step_sequences(model, views);
    if (!stepped.ok()) return stepped.status();
    if (!*stepped) break;
  }
  std::vector<GenerationResult> results;
  results.reserve(sequences.size());
  for (auto& seq : sequences) results.push_back(seq->take_result());
  return results;
}

}  // namespace

absl::StatusOr<GenerationResult> generate(LanguageModel& model, std::span<const int32_t> prompt,
                                          const GenerationOptions& options,
                                          const BlockCallback& on_block) {
  auto seq = DenoisingSequence::create(model, prompt, {}, options, on_block);
  if (!seq.ok()) return seq.status();
  std::vector<std::unique_ptr<DenoisingSequence>> sequences;
  sequences.push_back(std::move(*seq));
  auto results = run_sequences(model, sequences);
  if (!results.ok()) return results.status();
  return std::move(results->front());
}

absl::StatusOr<GenerationResult> generate_with_frozen_prompt(LanguageModel& model,
                                                             std::span<const int32_t> prompt,
                                                             const GenerationOptions& options,
                                                             FrozenPromptCache frozen,
                                                             const BlockCallback& on_block) {
  auto seq = DenoisingSequence::create_with_frozen_prompt(model, prompt, options, std::move(frozen),
                                                          on_block);
  if (!seq.ok()) return seq.status();
  std::vector<std::unique_ptr<DenoisingSequence>> sequences;
  sequences.push_back(std::move(*seq));
  auto results = run_sequences(model, sequences);
  if (!results.ok()) return results.status();
  return std::move(results->front());
}

absl::StatusOr<std::vector<GenerationResult>> generate_batch(
    LanguageModel& model, std::span<const GenerationRequest> requests) {
  std::vector<std::unique_ptr<DenoisingSequence>> sequences;
  for (size_t i = 0; i < requests.size(); ++i) {
    auto seq = DenoisingSequence::create(model, requests[i].prompt, {}, requests[i].options,
                                         requests[i].on_block);
    if (!seq.ok()) return with_request(seq.status(), i);
    sequences.push_back(std::move(*seq));
  }
  return run_sequences(model, sequences);
}

absl::StatusOr<std::vector<GenerationResult>> generate_padded_batch(
    LanguageModel& model, const PaddedPromptBatch& prompts, const GenerationOptions& options) {
  const size_t cells = static_cast<size_t>(prompts.batch) * prompts.prompt_len;
  if (prompts.batch <= 0 || prompts.prompt_len <= 0 || prompts.ids.size() != cells ||
      prompts.attention_mask.size() != cells) {
    return absl::InvalidArgumentError(absl::StrCat(
        "padded batch: ", prompts.ids.size(), " ids and ", prompts.attention_mask.size(),
        " mask entries for ", prompts.batch, " rows of ", prompts.prompt_len));
  }
  std::vector<std::unique_ptr<DenoisingSequence>> sequences;
  for (int r = 0; r < prompts.batch; ++r) {
    const size_t offset = static_cast<size_t>(r) * prompts.prompt_len;
    GenerationOptions row_options = options;
    row_options.seed = options.seed + static_cast<uint64_t>(r);
    auto seq = DenoisingSequence::create(model, prompts.ids.subspan(offset, prompts.prompt_len),
                                         prompts.attention_mask.subspan(offset, prompts.prompt_len),
                                         row_options, {});
    if (!seq.ok()) return with_request(seq.status(), r);
    sequences.push_back(std::move(*seq));
  }
  return run_sequences(model, sequences);
}

}  // namespace dllm
