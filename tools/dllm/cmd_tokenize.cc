// `dllm tokenize`: print the token ids of a text (optionally wrapped in the chat template).
#include <cstdio>
#include <optional>

#include "absl/strings/str_join.h"
#include "common/tokenizer/tokenizer.h"
#include "tools/dllm/commands.h"

namespace dllm::cli {

int run_tokenize(int argc, char** argv) {
  const std::vector<OptionSpec> specs = {
      {"model", true, "model directory holding tokenizer.json (or vocab.json + merges.txt)"},
      {"text", true, "text to tokenize (added/special tokens are matched, no BOS/EOS added)"},
      {"chat", false, "wrap the text as one user turn in the model's chat template"},
      {"tokens", false, "also print each token's string"},
      kConfigOption, kHelpOption};
  CliArgs parsed;
  if (std::optional<int> exit = parse_command_args(argc, argv, "tokenize", specs, &parsed)) return *exit;
  const CliArgs* args = &parsed;
  if (!args->has("model") || !args->has("text"))
    return report_error(absl::InvalidArgumentError("--model and --text are required"));
  auto tok = Tokenizer::load_from_dir(args->get("model"));
  if (!tok.ok()) return report_error(tok.status());
  absl::StatusOr<std::vector<int32_t>> ids;
  if (args->flag("chat")) {
    const std::optional<ChatTemplateKind> kind = (*tok)->guess_chat_template();
    if (!kind) return report_error(absl::FailedPreconditionError("tokenizer has no chat template tokens"));
    const std::vector<ChatMessage> messages = {{"user", args->get("text")}};
    ids = (*tok)->encode_chat(*kind, messages, /*add_generation_prompt=*/true);
  } else {
    ids = (*tok)->encode(args->get("text"));
  }
  if (!ids.ok()) return report_error(ids.status());
  if (args->flag("tokens"))
    for (int32_t id : *ids) std::printf("%d\t%s\n", id, (*tok)->id_to_token(id).value_or("?").c_str());
  std::printf("%s\n", absl::StrJoin(*ids, ",").c_str());
  return 0;
}

}  // namespace dllm::cli
