// Which rows a denoising step runs through the model, and against which cached keys.
#pragma once

#include "common/generate/generation_options.h"

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

}  // namespace dllm
