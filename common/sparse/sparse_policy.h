// SparsePolicy: how a request's long prompt is attended — densely, or through a sparse method
// (Prefilling-dLLM's top-K chunks; Focus-dLLM's confidence-guided focusing; or both).
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace dllm {

enum class SparsePolicy {
  kDense,       // the whole prompt, every step (generate())
  kPrefilling,  // Prefilling-dLLM: draft, chunk scoring, top-K chunks (common/sparse/prefilling.h)
  kFocus,       // Focus-dLLM: confidence-guided active rows, sinks, block-sparse prompt K/V
  kPrefillingFocus,  // top-K chunks first, then Focus-dLLM decodes the compressed prompt
                     // (common/sparse/focus_on_prefilling.h)
};

// "dense" | "prefilling" | "focus" | "prefilling+focus"
absl::StatusOr<SparsePolicy> parse_sparse_policy(std::string_view name);
const char* sparse_policy_name(SparsePolicy policy);

}  // namespace dllm
