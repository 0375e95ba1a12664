// PCGI: focus set from the previous step's confidences, window expansion, active rows.
#include "common/sparse/focus_pcgi.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dllm {

std::vector<int> focus_set(std::span<const int> masked, std::span<const double> confidence,
                           int count) {
  std::vector<int> order(masked.begin(), masked.end());
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return confidence[a] > confidence[b]; });
  order.resize(std::min<size_t>(order.size(), std::max(count, 0)));
  std::sort(order.begin(), order.end());
  return order;
}

std::vector<int32_t> active_rows(std::span<const int> focus, int window, bool shifted_logits,
                                 int seq_len) {
  std::vector<int32_t> rows;
  for (int p : focus) {
    for (int r = std::max(p - window, 0); r <= std::min(p + window, seq_len - 1); ++r)
      rows.push_back(r);
    if (shifted_logits && p >= 1) rows.push_back(p - 1);
  }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

FocusRowSelector::FocusRowSelector(const FocusOptions& options, const ModelConfig& config,
                                   const GenerationOptions& generation, int prompt_len, int seq_len)
    : options_(options),
      num_layers_(config.num_layers),
      dream_(is_dream_sampler(generation.sampler)),
      threshold_(generation.threshold),
      prompt_len_(prompt_len),
      seq_len_(seq_len),
      confidence_(seq_len, 0.0) {
  plan_.sink_layer = focus_sink_layer(options, config);
  plan_.dense_tail = options.dense_tail;
  plan_.num_sinks = options.sinks;
  plan_.block_size = options.kv_block;
  plan_.token_budget = focus_token_budget(options, prompt_len);
  plan_.prompt_len = prompt_len;
  plan_.state = &state_;
}

std::vector<int32_t> FocusRowSelector::choose_rows(const RowFocusQuery& q) {
  sparse_step_ = false;
  focused_ = false;
  focus_.assign(q.masked.begin(), q.masked.end());
  if (q.block_entry) {
    // A refresh: everything, or with a frozen prompt the response once the prompt is encoded.
    if (options_.refresh == FocusRefresh::kFrozenPrompt && prompt_encoded_) {
      std::vector<int32_t> rows(seq_len_ - prompt_len_);
      std::iota(rows.begin(), rows.end(), prompt_len_);
      return rows;
    }
    prompt_encoded_ = true;
    ++plan_.prompt_version;
    return {};
  }
  sparse_step_ = true;
  const int n = q.planned_commits >= 0 ? q.planned_commits : std::max(1, last_exceeded_);
  const int size = static_cast<int>(std::ceil(options_.rho * n - 1e-9));
  if (size >= static_cast<int>(q.masked.size())) {
    ++counters_.dense_block_steps;  // every mask is in focus: the dense block step
    return {};
  }
  focused_ = true;
  focus_ = focus_set(q.masked, confidence_, size);
  std::vector<int32_t> rows = active_rows(focus_, options_.window, dream_, q.seq_len);
  ++counters_.focused_steps;
  counters_.active_rows += static_cast<int64_t>(rows.size());
  return rows;
}

void FocusRowSelector::decorate(std::span<const int> logit_positions,
                                std::span<const int32_t> logit_rows, SequenceForward* forward) {
  const auto& slots = forward->slots.empty() ? forward->positions : forward->slots;
  if (!slots.empty() && *std::min_element(slots.begin(), slots.end()) < prompt_len_)
    ++plan_.prompt_version;  // prompt rows get fresh K/V: their block keys are stale
  if (!sparse_step_) return;
  focus_rows_.clear();
  for (size_t i = 0; i < logit_positions.size(); ++i)
    if (std::binary_search(focus_.begin(), focus_.end(), logit_positions[i]))
      focus_rows_.push_back(logit_rows[i]);
  plan_.focus_rows = focus_rows_;
  plan_.measure_mass_recall =
      options_.mass_recall_every > 0 && sparse_steps_ % options_.mass_recall_every == 0;
  ++sparse_steps_;
  forward->sparse = &plan_;
}

void FocusRowSelector::observe(std::span<const int> positions, std::span<const double> confidence,
                               std::span<const int> committed) {
  int exceeded = 0;
  for (size_t i = 0; i < positions.size(); ++i) {
    confidence_[positions[i]] = confidence[i];
    exceeded += confidence[i] >= threshold_ ? 1 : 0;
  }
  if (threshold_ > 0.0) last_exceeded_ = std::max(1, exceeded);
  if (!focused_) return;
  counters_.committed_focused += static_cast<int64_t>(committed.size());
  for (int p : committed)
    counters_.committed_in_focus += std::binary_search(focus_.begin(), focus_.end(), p) ? 1 : 0;
}

FocusCounters FocusRowSelector::counters() const {
  FocusCounters c = counters_;
  const SparseAttentionStats s = state_.stats();  // waits for the backend: once per request
  c.sink_steps = s.sink_steps;
  c.sink_overlap_sum = s.sink_overlap_sum;
  c.mass_samples = s.mass_samples;
  c.mass_recall_sum = s.mass_recall_sum;
  return c;
}

}  // namespace dllm
