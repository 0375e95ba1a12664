// Per-server bounds on what one request may ask for (admission checks before the model runs).
#pragma once

namespace dllm::router {

struct ServingLimits {
  int max_prompt_tokens = 8192;
  int max_gen_length = 4096;
};

}  // namespace dllm::router
