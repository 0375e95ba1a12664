// proto GenerationParams → common/'s GenerationOptions, with `dllm generate`'s defaults.
#pragma once

#include "absl/status/statusor.h"
#include "common/generate/generation_options.h"
#include "common/model/model_config.h"
#include "dllm/v1/generation.pb.h"

namespace dllm::router {

// Validated against the model (InvalidArgument with common/'s message).
absl::StatusOr<GenerationOptions> to_generation_options(const v1::GenerationParams& params,
                                                        const ModelConfig& config);

}  // namespace dllm::router
