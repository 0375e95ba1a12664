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
ForwardRows plan_forward_rows(KvCacheMode mode, bool block_entry, bool shifted_logits,
                              int block_begin, int block_end, int seq_len);

// The row (relative to rows.begin) whose logits predict `position`: the position itself, or
// with shifted logits the one before it (position 0 reuses row 0, as Dream does).
int logit_row_for(int position, bool shifted_logits, const ForwardRows& rows);

}  // namespace dllm
