// Row ranges of the dense block K/V cache (Fast-dLLM prefix and dual cache).
#include "common/generate/cache_plan.h"

#include <algorithm>

namespace dllm {

ForwardRows plan_forward_rows(KvCacheMode mode, bool block_entry, bool shifted_logits,
                              int block_begin, int block_end, int seq_len, int frozen_len) {
  if (frozen_len > 0 && (mode == KvCacheMode::kNone || block_entry))
    return {frozen_len, seq_len, true, seq_len};
  if (mode == KvCacheMode::kNone) return {0, seq_len, false, 0};
  if (block_entry) return {0, seq_len, true, seq_len};
  const int begin =
      std::max(shifted_logits ? std::max(block_begin - 1, 0) : block_begin, frozen_len);
  const int end = mode == KvCacheMode::kPrefix ? seq_len : block_end;
  return {begin, end, true, seq_len};
}

int logit_row_for(int position, bool shifted_logits, const ForwardRows& rows) {
  const int source = shifted_logits ? std::max(position - 1, 0) : position;
  return source - rows.begin;
}

}  // namespace dllm
