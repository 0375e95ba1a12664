// The draft of Prefilling-dLLM: a guess of the answer's first tokens from prefix + query alone
// (no context), whose likelihood under each chunk then scores the chunk.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/language_model.h"

namespace dllm {

struct Draft {
  std::vector<int32_t> ids;    // draft_tokens slots: committed tokens, MASK elsewhere
  std::vector<int> committed;  // committed slot indices, ascending
  int forwards = 0;
};

// prefix + query + MASK × draft_tokens, bidirectional: slot 0 takes its argmax; one more
// denoising round commits the most confident remaining slot (max softmax probability, lowest
// slot on ties). The mask token is never chosen. Dream reads logits shifted (row p−1 predicts p).
// draft_tokens 0: no draft; 1: slot 0 only.
absl::StatusOr<Draft> predict_draft(LanguageModel& model, std::span<const int32_t> prefix,
                                    std::span<const int32_t> query, int draft_tokens);

}  // namespace dllm
