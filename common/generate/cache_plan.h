// Which rows a denoising step runs through the model, and against which cached keys.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/generate/generation_options.h"
#include "common/model/language_model.h"

namespace dllm {

struct ForwardRows {
  int begin = 0;  // the rows are positions [begin, end) of the sequence
  int end = 0;
  bool use_cache = false;
  int attend_len = 0;  // with the cache: keys [0, attend_len)
};

// No cache: every step runs the whole sequence.
// Block entry (prefix or dual): the whole sequence through the cache, refreshing every K/V; its
//   logits serve the block's first step.
// Prefix: rows [block_begin, seq_len), attending to the prefix K/V frozen at block entry.
// Dual: rows [block_begin, block_end) only; prefix and suffix K/V are as of block entry.
// With shifted logits (Dream) the rows start one earlier, so the prediction for block_begin
// (row block_begin - 1) is computed fresh.
// A frozen prompt (frozen_len > 0: its K/V already sit in the cache and never change) is never
// run: without a block cache every step runs [frozen_len, seq_len) through the cache, and a
// block entry refreshes only [frozen_len, seq_len).
ForwardRows plan_forward_rows(KvCacheMode mode, bool block_entry, bool shifted_logits,
                              int block_begin, int block_end, int seq_len, int frozen_len = 0);

// The row (relative to rows.begin) whose logits predict `position`: the position itself, or
// with shifted logits the one before it (position 0 reuses row 0, as Dream does).
int logit_row_for(int position, bool shifted_logits, const ForwardRows& rows);

// A sparse method's say over the rows of a step with a block cache (Focus-dLLM's PCGI; set with
// DenoisingSequence::set_row_focus). Rows it names run through the cache at their slots (their
// fresh K/V written there) and attend over every slot; the logits asked for are those of the
// block's masked positions whose predicting row runs.
struct RowFocusQuery {
  bool block_entry = false;
  int block_begin = 0;
  int block_end = 0;
  int seq_len = 0;
  std::span<const int> masked;  // masked positions of the block, ascending
  int planned_commits = -1;     // masks this step commits; -1 = not known (threshold decoding)
};
class RowFocus {
 public:
  virtual ~RowFocus() = default;
  // The slots this step runs, ascending; empty = the dense plan (plan_forward_rows).
  virtual std::vector<int32_t> choose_rows(const RowFocusQuery& query) = 0;
  // Adds what the forward needs beyond its rows (a sparse attention plan); `logit_rows` index
  // the forward's rows, one per position of `logit_positions`.
  virtual void decorate(std::span<const int> logit_positions, std::span<const int32_t> logit_rows,
                        SequenceForward* forward) = 0;
  // The step's confidence of each logit position and the positions it committed.
  virtual void observe(std::span<const int> positions, std::span<const double> confidence,
                       std::span<const int> committed) = 0;
};

}  // namespace dllm
