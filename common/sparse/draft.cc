// Draft prediction: two bidirectional forwards over prefix + query + masks.
#include "common/sparse/draft.h"

#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace dllm {
namespace {

struct Pick {
  int32_t token = -1;
  double prob = 0.0;
};

// Argmax over a logit row (the mask token excluded) and its softmax probability.
Pick best_token(std::span<const float> row, int32_t mask_id) {
  Pick p;
  float best = -INFINITY;
  for (int v = 0; v < static_cast<int>(row.size()); ++v)
    if (v != mask_id && row[v] > best) best = row[v], p.token = v;
  double sum = 0.0;
  for (float x : row) sum += std::exp(static_cast<double>(x) - best);
  p.prob = 1.0 / sum;
  return p;
}

}  // namespace

absl::StatusOr<Draft> predict_draft(LanguageModel& model, std::span<const int32_t> prefix,
                                    std::span<const int32_t> query, int draft_tokens) {
  const ModelConfig& config = model.config();
  Draft draft;
  draft.ids.assign(draft_tokens, config.mask_token_id);
  if (draft_tokens == 0) return draft;
  const bool shifted = config.family == ModelFamily::kDream;
  const int base = static_cast<int>(prefix.size() + query.size());
  if (base == 0) return absl::InvalidArgumentError("draft: prefix and query are both empty");
  std::vector<int32_t> ids(prefix.begin(), prefix.end());
  ids.insert(ids.end(), query.begin(), query.end());
  ids.resize(base + draft_tokens, config.mask_token_id);
  std::vector<int32_t> positions(ids.size());
  std::iota(positions.begin(), positions.end(), 0);
  // The logit row of draft slot s.
  std::vector<int32_t> rows(draft_tokens);
  for (int s = 0; s < draft_tokens; ++s) rows[s] = base + s - (shifted ? 1 : 0);
  const int width = config.embedding_rows;

  for (int round = 0; round < 2 && round < draft_tokens; ++round) {
    SequenceForward f{.ids = ids, .positions = positions, .logit_rows = rows};
    std::vector<std::vector<float>> logits;
    if (absl::Status s = model.forward({&f, 1}, &logits); !s.ok()) return s;
    ++draft.forwards;
    if (logits.size() != 1 || logits[0].size() != rows.size() * static_cast<size_t>(width))
      return absl::InternalError("draft: unexpected logits shape");
    auto row = [&](int s) { return std::span<const float>(logits[0]).subspan(s * width, width); };
    int slot = 0;
    Pick pick{-1, -1.0};
    if (round == 0) {
      pick = best_token(row(0), config.mask_token_id);
    } else {
      for (int s = 1; s < draft_tokens; ++s) {
        const Pick p = best_token(row(s), config.mask_token_id);
        if (p.prob > pick.prob) pick = p, slot = s;
      }
    }
    if (pick.token < 0) return absl::InternalError("draft: no token other than the mask");
    ids[base + slot] = pick.token;
    draft.ids[slot] = pick.token;
    draft.committed.push_back(slot);
  }
  return draft;
}

}  // namespace dllm
