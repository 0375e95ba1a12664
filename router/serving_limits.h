// Per-router bounds on what one request may ask for and how much the router takes on at once
// (admission checks before any node works).
#pragma once

#include <cstdint>

namespace dllm::router {

struct ServingLimits {
  int max_prompt_tokens = 8192;
  int max_gen_length = 4096;
  int64_t max_request_bytes = 4 << 20;  // a larger GenerateRequest is INVALID_ARGUMENT
  int max_inflight = 256;               // requests beyond this: RESOURCE_EXHAUSTED
  int max_attempts = 4;                 // placements per request (1 + retries on node failure)
};

}  // namespace dllm::router
