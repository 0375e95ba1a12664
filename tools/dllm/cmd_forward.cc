// `dllm forward`: one bidirectional forward pass; logits [T, vocab] float32 → safetensors.
#include <cstdio>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/model/load_model.h"
#include "common/model/safetensors.h"
#include "tools/dllm/commands.h"
#include "tools/dllm/engine_options.h"

namespace dllm::cli {

int run_forward(int argc, char** argv) {
  const std::vector<OptionSpec> specs = {
      {"model", true, "checkpoint directory (config.json + safetensors)"},
      {"ids", true, "comma-separated token ids"},
      {"out", true, "output .safetensors file (tensor 'logits' [T, vocab] float32)"},
      kKvPoolOption, kKvPageOption, kDeviceOption, kThreadsOption, kConfigOption, kHelpOption};
  CliArgs parsed;
  if (std::optional<int> exit = parse_command_args(argc, argv, "forward", specs, &parsed)) return *exit;
  const CliArgs* args = &parsed;
  for (const char* required : {"model", "ids", "out"})
    if (!args->has(required))
      return report_error(absl::InvalidArgumentError(absl::StrCat("--", required, " is required")));
  absl::StatusOr<std::vector<int32_t>> ids = parse_id_list(args->get("ids"));
  if (!ids.ok()) return report_error(ids.status());
  auto backend = make_backend(*args);
  if (!backend.ok()) return report_error(backend.status());
  absl::StatusOr<TransformerOptions> engine = transformer_options(*args);
  if (!engine.ok()) return report_error(engine.status());
  auto model = load_transformer(args->get("model"), backend->get(), *engine);
  if (!model.ok()) return report_error(model.status());
  std::vector<float> logits;
  if (absl::Status st = (*model)->forward_with_hidden_states(*ids, &logits, nullptr); !st.ok())
    return report_error(st);
  const int64_t vocab = (*model)->config().embedding_rows;
  TensorToWrite t{"logits", TensorDType::kF32,
                  {static_cast<int64_t>(ids->size()), vocab}, logits.data()};
  if (absl::Status st = write_safetensors(args->get("out"), {t}); !st.ok()) return report_error(st);
  std::printf("wrote logits [%zu, %lld] to %s\n", ids->size(), static_cast<long long>(vocab),
              args->get("out").c_str());
  return 0;
}

}  // namespace dllm::cli
