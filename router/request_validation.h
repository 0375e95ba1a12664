// Checks of a request that need no model: present prompt, sane sizes, known policy. The model's
// own checks (ids in range, block/step divisibility) run in common/ when the request is built.
#pragma once

#include <span>

#include "absl/status/status.h"
#include "dllm/v1/generation.pb.h"
#include "router/serving_limits.h"

namespace dllm::router {

absl::Status validate_generate_request(const v1::GenerateRequest& request,
                                       const ServingLimits& limits);
// A tokenized prompt against the limits (INVALID_ARGUMENT when too long).
absl::Status validate_prompt_length(std::span<const int32_t> prompt, const ServingLimits& limits);

}  // namespace dllm::router
