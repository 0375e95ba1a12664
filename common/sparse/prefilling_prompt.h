// Building a Prefilling-dLLM request's prefix | context | query from text: the document, the
// question, and optionally the model's chat template.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/model_config.h"
#include "common/tokenizer/tokenizer.h"

namespace dllm {

struct PrefillingPrompt {
  std::vector<int32_t> prefix;
  std::vector<int32_t> context;
  std::vector<int32_t> query;
};

// The user text is context + "\n\n" + question (context and question stripped of outer
// whitespace). Without a template: prefix empty, query = "\n\n" + question. With one: the
// rendered prompt is split around the context — prefix = the template before it (system turn,
// user header), query = "\n\n" + question + the rest (end of turn, assistant header). Each part
// is tokenized on its own, so no token straddles a boundary.
absl::StatusOr<PrefillingPrompt> build_prefilling_prompt(const Tokenizer& tokenizer,
                                                         std::optional<ChatTemplateKind> chat,
                                                         std::optional<std::string_view> system,
                                                         std::string_view context,
                                                         std::string_view question);

// The BOS anchor id when none is given: the config's, else the tokenizer's start-of-text token
// (-1 when neither has one). `tokenizer` may be null.
int32_t default_chunk_bos_id(const ModelConfig& config, const Tokenizer* tokenizer);

}  // namespace dllm
