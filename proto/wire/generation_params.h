// The wire's knobs (GenerationParams, PrefillingParams, FocusParams) → common/'s options, with
// `dllm generate`'s defaults for every unset field.
#pragma once

#include "absl/status/statusor.h"
#include "common/generate/generation_options.h"
#include "common/model/model_config.h"
#include "common/sparse/focus_options.h"
#include "common/sparse/prefilling_options.h"
#include "dllm/v1/generation.pb.h"

namespace dllm::wire {

// Validated against the model (InvalidArgument with common/'s message).
absl::StatusOr<GenerationOptions> to_generation_options(const v1::GenerationParams& params,
                                                        const ModelConfig& config);
absl::StatusOr<PrefillingOptions> to_prefilling_options(const v1::PrefillingParams& params,
                                                        const ModelConfig& config);
absl::StatusOr<FocusOptions> to_focus_options(const v1::FocusParams& params,
                                              const ModelConfig& config);

}  // namespace dllm::wire
