// CPU kernels of Prefilling-dLLM beyond the forward (the parameter structs, shared with the CUDA
// twins, are in kernels/prefilling_params.h with what each computes). Every Backend reaches them
// through its ops of the same names; tests call them directly as the reference.
#pragma once

#include "kernels/prefilling_params.h"

namespace dllm::kernels::cpu {

using kernels::KeyAttentionScoreParams;
using kernels::KvRerotateParams;
using kernels::TargetLogProbParams;
using kernels::TokenSelectParams;

void rerotate_kv_rows(const KvRerotateParams& p);
void accumulate_key_attention_scores(const KeyAttentionScoreParams& p);
void select_top_tokens(const TokenSelectParams& p);
void target_log_probs(const TargetLogProbParams& p);

}  // namespace dllm::kernels::cpu
