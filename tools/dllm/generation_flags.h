// The prompt and generation flags `dllm generate` and `dllm client` share (a contract: other
// tools drive them), without the flags that load a model.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "tools/dllm/cli_args.h"

namespace dllm::cli {

const std::vector<OptionSpec>& prompt_and_generation_specs();
// The document of --context or --context-file (one of them must be given).
absl::StatusOr<std::string> read_context(const CliArgs& args);

}  // namespace dllm::cli
