// `dllm inspect`: describe a checkpoint directory (architecture, tensors, sizes) after validating it.
#include <cstdio>
#include <optional>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/model/model_config.h"
#include "common/model/weights.h"
#include "tools/dllm/commands.h"

namespace dllm::cli {

int run_inspect(int argc, char** argv) {
  const std::vector<OptionSpec> specs = {
      {"model", true, "checkpoint directory (config.json + safetensors)"}, kConfigOption,
      kHelpOption};
  CliArgs parsed;
  if (std::optional<int> exit = parse_command_args(argc, argv, "inspect", specs, &parsed)) return *exit;
  const CliArgs* args = &parsed;
  if (!args->has("model")) return report_error(absl::InvalidArgumentError("--model is required"));
  const std::string dir = args->get("model");
  absl::StatusOr<ModelConfig> config = load_model_config(dir);
  if (!config.ok()) return report_error(config.status());
  auto weights = CheckpointWeights::load(dir, *config);
  if (!weights.ok()) return report_error(weights.status());
  const ModelConfig& c = *config;
  std::printf("model_type        %s (%s family)\n", c.model_type.c_str(),
              c.family == ModelFamily::kLlada ? "LLaDA" : "Dream");
  std::printf("layers            %d\nhidden            %d\nheads             %d (kv %d, head_dim %d)\n",
              c.num_layers, c.hidden_size, c.num_heads, c.num_kv_heads, c.head_dim);
  std::printf("intermediate      %d\nvocab             %d (embedding rows %d)\n",
              c.intermediate_size, c.vocab_size, c.embedding_rows);
  std::printf("rope_theta        %g (scaling %s, factor %g)\nrms_norm_eps      %g\n", c.rope_theta,
              c.rope_scaling.type.c_str(), c.rope_scaling.factor, c.rms_norm_eps);
  std::printf("qkv_bias          %s\ntied_embeddings   %s\n", c.qkv_bias ? "yes" : "no",
              c.tie_word_embeddings ? "yes" : "no");
  std::printf("special ids       mask %d, eos %d, pad %d, bos %d, eot %d\n", c.mask_token_id,
              c.eos_token_id, c.pad_token_id, c.bos_token_id, c.eot_token_id);
  std::map<std::string, size_t> by_dtype;
  size_t tensors = 0;
  for (const auto& f : (*weights)->files())
    for (const auto& [name, info] : f->tensors()) {
      by_dtype[tensor_dtype_name(info.dtype)] += info.nbytes;
      ++tensors;
    }
  std::printf("files             %zu\ntensors           %zu\nparameters        %zu\nbytes             %zu\n",
              (*weights)->files().size(), tensors, (*weights)->num_parameters(),
              (*weights)->total_bytes());
  for (const auto& [dtype, bytes] : by_dtype) std::printf("  %-6s bytes     %zu\n", dtype.c_str(), bytes);
  return 0;
}

}  // namespace dllm::cli
