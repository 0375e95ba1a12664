// Focus-dLLM's past-confidence-guided indexing (PCGI): which masked positions a step focuses on,
// which rows run, and the per-request state behind them (a RowFocus for DenoisingSequence).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/generate/cache_plan.h"
#include "common/sparse/focus_attention.h"
#include "common/sparse/focus_options.h"

namespace dllm {

// The `count` masked positions with the highest previous confidence (ties to the lower
// position), ascending.
std::vector<int> focus_set(std::span<const int> masked, std::span<const double> confidence,
                           int count);
// Active rows: ∪ [p - window, p + window] over the focus set, within [0, seq_len) but not clipped
// to the block; with shifted logits (Dream) row p - 1, which predicts p, always. Ascending.
std::vector<int32_t> active_rows(std::span<const int> focus, int window, bool shifted_logits,
                                 int seq_len);

// What focus did over a request.
struct FocusCounters {
  int64_t focused_steps = 0;       // steps that ran only the active rows
  int64_t dense_block_steps = 0;   // steps whose focus set was every masked position
  int64_t active_rows = 0;         // rows run by focused steps
  int64_t committed_focused = 0;   // positions committed by focused steps
  int64_t committed_in_focus = 0;  // ... of which were in the focus set
  // From SparseAttentionState::stats().
  int64_t sink_steps = 0;
  double sink_overlap_sum = 0.0;
  int64_t mass_samples = 0;
  double mass_recall_sum = 0.0;

  double pcgi_recall() const {
    return committed_focused > 0 ? static_cast<double>(committed_in_focus) / committed_focused
                                 : 1.0;
  }
  double sink_overlap() const { return sink_steps > 0 ? sink_overlap_sum / sink_steps : 1.0; }
  double mass_recall() const { return mass_samples > 0 ? mass_recall_sum / mass_samples : 1.0; }
};

class FocusRowSelector final : public RowFocus {
 public:
  FocusRowSelector(const FocusOptions& options, const ModelConfig& config,
                   const GenerationOptions& generation, int prompt_len, int seq_len);

  std::vector<int32_t> choose_rows(const RowFocusQuery& query) override;
  void decorate(std::span<const int> logit_positions, std::span<const int32_t> logit_rows,
                SequenceForward* forward) override;
  void observe(std::span<const int> positions, std::span<const double> confidence,
               std::span<const int> committed) override;

  FocusCounters counters() const;
  std::span<const int> last_focus() const { return focus_; }

 private:
  FocusOptions options_;
  int num_layers_;
  bool dream_;
  double threshold_;
  int prompt_len_;
  int seq_len_;
  std::vector<double> confidence_;   // per position, from the last step that computed it
  int last_exceeded_ = 1;            // threshold decoding: positions over τ last step
  bool prompt_encoded_ = false;      // frozen-prompt: the first block entry has run
  bool sparse_step_ = false;         // this step attends sparsely
  bool focused_ = false;             // this step runs only the active rows
  std::vector<int> focus_;           // this step's focus set
  std::vector<int32_t> focus_rows_;  // rows of the forward that score blocks
  int64_t sparse_steps_ = 0;
  SparseAttentionState state_;
  SparseAttentionPlan plan_;
  FocusCounters counters_;
};

}  // namespace dllm
