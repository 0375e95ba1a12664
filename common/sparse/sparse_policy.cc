// Names of the sparse-attention policies.
#include "common/sparse/sparse_policy.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace dllm {

absl::StatusOr<SparsePolicy> parse_sparse_policy(std::string_view name) {
  if (name == "dense") return SparsePolicy::kDense;
  if (name == "prefilling") return SparsePolicy::kPrefilling;
  if (name == "focus") return SparsePolicy::kFocus;
  if (name == "prefilling+focus") return SparsePolicy::kPrefillingFocus;
  return absl::InvalidArgumentError(absl::StrCat("unknown sparse policy '", std::string(name),
                                                 "' (known: dense, prefilling, focus, prefilling+focus)"));
}

const char* sparse_policy_name(SparsePolicy policy) {
  switch (policy) {
    case SparsePolicy::kDense:
      return "dense";
    case SparsePolicy::kPrefilling:
      return "prefilling";
    case SparsePolicy::kFocus:
      return "focus";
    case SparsePolicy::kPrefillingFocus:
      return "prefilling+focus";
  }
  return "?";
}

}  // namespace dllm
