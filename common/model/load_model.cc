// load_transformer: config.json → CheckpointWeights → Transformer.
#include "common/model/load_model.h"

namespace dllm {

absl::StatusOr<std::unique_ptr<Transformer>> load_transformer(
    const std::string& model_dir, kernels::Backend* backend, const TransformerOptions& options) {
  absl::StatusOr<ModelConfig> config = load_model_config(model_dir);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<CheckpointWeights>> weights =
      CheckpointWeights::load(model_dir, *config);
  if (!weights.ok()) return weights.status();
  absl::StatusOr<std::unique_ptr<Transformer>> model =
      Transformer::create(*config, (*weights)->views(), backend, options);
  if (!model.ok()) return model.status();
  (*model)->hold_checkpoint(std::move(*weights));
  return model;
}

absl::StatusOr<std::unique_ptr<LanguageModel>> load_language_model(const std::string& model_dir,
                                                                   kernels::Backend* backend) {
  absl::StatusOr<std::unique_ptr<Transformer>> model = load_transformer(model_dir, backend);
  if (!model.ok()) return model.status();
  return std::unique_ptr<LanguageModel>(std::move(*model));
}

}  // namespace dllm
