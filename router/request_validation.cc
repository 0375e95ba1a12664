// Model-independent validation of Generation requests.
#include "router/request_validation.h"

#include "absl/strings/str_cat.h"
#include "common/sparse/sparse_policy.h"

namespace dllm::router {

absl::Status validate_generate_request(const v1::GenerateRequest& request,
                                       const ServingLimits& limits) {
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kText:
      if (request.text().empty()) return absl::InvalidArgumentError("empty prompt");
      break;
    case v1::GenerateRequest::kIds:
      if (request.ids().ids().empty()) return absl::InvalidArgumentError("empty prompt");
      if (request.chat())
        return absl::InvalidArgumentError("chat applies to a text prompt, not to prompt ids");
      if (request.ids().ids_size() > limits.max_prompt_tokens)
        return absl::InvalidArgumentError(absl::StrCat("prompt has ", request.ids().ids_size(),
                                                       " tokens; this server takes at most ",
                                                       limits.max_prompt_tokens));
      break;
    case v1::GenerateRequest::PROMPT_NOT_SET:
      return absl::InvalidArgumentError("empty prompt: give prompt text or ids");
  }
  if (static_cast<int64_t>(request.ByteSizeLong()) > limits.max_request_bytes)
    return absl::InvalidArgumentError(absl::StrCat("request is ", request.ByteSizeLong(),
                                                   " bytes; this server takes at most ",
                                                   limits.max_request_bytes));
  if (!request.policy().empty())
    if (absl::StatusOr<SparsePolicy> p = parse_sparse_policy(request.policy()); !p.ok())
      return p.status();
  if (!request.context().empty() && request.prompt_case() != v1::GenerateRequest::kText)
    return absl::InvalidArgumentError("context goes with a text prompt (the question)");
  const v1::GenerationParams& p = request.params();
  if (p.has_gen_length() && (p.gen_length() <= 0 || p.gen_length() > limits.max_gen_length))
    return absl::InvalidArgumentError(absl::StrCat(
        "gen_length must be in [1, ", limits.max_gen_length, "], got ", p.gen_length()));
  if (p.has_block_length() && p.block_length() < 0)
    return absl::InvalidArgumentError("block_length must be >= 0");
  // Each step is a forward pass: past max_gen_length, steps only add passes that commit nothing.
  if (p.has_steps() && (p.steps() <= 0 || p.steps() > limits.max_gen_length))
    return absl::InvalidArgumentError(
        absl::StrCat("steps must be in [1, ", limits.max_gen_length, "], got ", p.steps()));
  return absl::OkStatus();
}

absl::Status validate_prompt_length(std::span<const int32_t> prompt, const ServingLimits& limits) {
  if (static_cast<int64_t>(prompt.size()) > limits.max_prompt_tokens)
    return absl::InvalidArgumentError(absl::StrCat("prompt has ", prompt.size(),
                                                   " tokens; this server takes at most ",
                                                   limits.max_prompt_tokens));
  return absl::OkStatus();
}

}  // namespace dllm::router
