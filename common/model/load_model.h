// Loading a checkpoint directory (config.json + safetensors) into a runnable model.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/model/language_model.h"
#include "common/model/transformer.h"
#include "kernels/backend.h"

namespace dllm {

// Parses DIR/config.json, maps and validates the weights, and builds the model on `backend`
// (which must outlive the model).
absl::StatusOr<std::unique_ptr<Transformer>> load_transformer(
    const std::string& model_dir, kernels::Backend* backend, const TransformerOptions& options = {});

absl::StatusOr<std::unique_ptr<LanguageModel>> load_language_model(const std::string& model_dir,
                                                                   kernels::Backend* backend);

}  // namespace dllm
