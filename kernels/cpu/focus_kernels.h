// CPU kernels of Focus-dLLM's sparse layers: attention mass per key (sinks, recall), block
// representative keys, block scores, selection of sinks and blocks, attention over a sparse key
// set, and the instrumentation sums. The parameter structs (kernels/focus_params.h) are the ones
// the CUDA twins take.
#pragma once

#include "kernels/focus_params.h"

namespace dllm::kernels::cpu {

using kernels::AttentionMassParams;
using kernels::BlockKeyParams;
using kernels::BlockScoreParams;
using kernels::BlockSelectParams;
using kernels::FocusStatsParams;
using kernels::SinkSelectParams;
using kernels::SparseAttentionParams;

void attention_mass_per_key(const AttentionMassParams& p);
void block_representative_keys(const BlockKeyParams& p);
void block_scores(const BlockScoreParams& p);
void select_sinks(const SinkSelectParams& p);
void select_blocks(const BlockSelectParams& p);
// Scratch memory of (sum of segment lengths) floats per task.
void sparse_attention(const SparseAttentionParams& p);
void accumulate_focus_stats(const FocusStatsParams& p);

}  // namespace dllm::kernels::cpu
