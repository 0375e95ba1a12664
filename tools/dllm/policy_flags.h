// The sparse-policy flags shared by `dllm generate` and `dllm eval` (a contract: other tools
// drive them): --policy and the Prefilling-dLLM and Focus-dLLM knobs.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "common/model/model_config.h"
#include "common/sparse/focus_options.h"
#include "common/sparse/prefilling.h"
#include "common/sparse/sparse_policy.h"
#include "common/tokenizer/tokenizer.h"
#include "tools/dllm/cli_args.h"

namespace dllm::cli {

// `specs` followed by --policy and every prefilling / focus option.
std::vector<OptionSpec> with_policy_options(const std::vector<OptionSpec>& specs);
// prefilling / prefilling+focus: takes the prefilling flags (and needs a context).
bool policy_uses_prefilling(SparsePolicy policy);
// focus / prefilling+focus: takes the focus flags.
bool policy_uses_focus(SparsePolicy policy);
// --policy, refusing a prefilling or focus knob given with another policy.
absl::StatusOr<SparsePolicy> parse_policy_flags(const CliArgs& args);
absl::Status fill_focus_options(const CliArgs& args, const ModelConfig& config, FocusOptions* o);
absl::Status fill_prefilling_options(const CliArgs& args, const ModelConfig& config,
                                     const Tokenizer* tok, PrefillingOptions* o);

}  // namespace dllm::cli
