// LanguageModel::forward_greedy's host fallback: full logits, reduced row by row.
#include "common/model/language_model.h"

#include "kernels/cpu/cpu_kernels.h"

namespace dllm {

absl::Status LanguageModel::forward_greedy(std::span<const SequenceForward> batch,
                                           kernels::ConfidenceKind kind,
                                           std::vector<std::vector<GreedyChoice>>* choices) {
  std::vector<std::vector<float>> logits;
  if (absl::Status st = forward(batch, &logits); !st.ok()) return st;
  const int vocab = config().embedding_rows;
  choices->assign(logits.size(), {});
  for (size_t b = 0; b < logits.size(); ++b) {
    const size_t rows = logits[b].size() / vocab;
    (*choices)[b].resize(rows);
    for (size_t r = 0; r < rows; ++r) {
      GreedyChoice& c = (*choices)[b][r];
      kernels::cpu::greedy_confidence_row(logits[b].data() + r * vocab, vocab, kind, &c.token,
                                          &c.confidence);
    }
  }
  return absl::OkStatus();
}

}  // namespace dllm
