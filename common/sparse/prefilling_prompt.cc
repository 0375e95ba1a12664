// Prefix | context | query split of a (chat) prompt.
#include "common/sparse/prefilling_prompt.h"

#include <optional>
#include <string>

#include "common/tokenizer/chat_template.h"

namespace dllm {
namespace {

std::string_view strip_ascii_whitespace(std::string_view s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

absl::StatusOr<PrefillingPrompt> build_prefilling_prompt(const Tokenizer& tokenizer,
                                                         std::optional<ChatTemplateKind> chat,
                                                         std::optional<std::string_view> system,
                                                         std::string_view context,
                                                         std::string_view question) {
  const std::string_view ctx = strip_ascii_whitespace(context);
  const std::string_view q = strip_ascii_whitespace(question);
  if (ctx.empty()) return absl::InvalidArgumentError("prefilling prompt: empty context");
  if (q.empty()) return absl::InvalidArgumentError("prefilling prompt: empty question");
  std::string before, after;
  if (chat.has_value()) {
    if (absl::Status s = tokenizer.check_chat_template(*chat); !s.ok()) return s;
    // The user turn holds a marker in place of the context; the rendered text around it is the
    // template's. (The templates copy user content verbatim, LLaDA's after trimming it.)
    constexpr std::string_view kMarker = "\x01\x02dllm-context\x02\x01";
    std::vector<ChatMessage> messages;
    if (system.has_value()) messages.push_back({"system", std::string(*system)});
    messages.push_back({"user", std::string(kMarker) + "\n\n" + std::string(q)});
    const std::string rendered = render_chat(*chat, messages, /*add_generation_prompt=*/true);
    const size_t at = rendered.rfind(kMarker);
    if (at == std::string::npos)
      return absl::InternalError("prefilling prompt: the chat template dropped the user turn");
    before = rendered.substr(0, at);
    after = rendered.substr(at + kMarker.size());
  } else {
    after = "\n\n" + std::string(q);
  }
  PrefillingPrompt p;
  for (auto [text, out] : {std::pair<std::string_view, std::vector<int32_t>*>{before, &p.prefix},
                           {ctx, &p.context},
                           {after, &p.query}}) {
    if (text.empty()) continue;
    absl::StatusOr<std::vector<int32_t>> ids = tokenizer.encode(text);
    if (!ids.ok()) return ids.status();
    *out = std::move(*ids);
  }
  return p;
}

int32_t default_chunk_bos_id(const ModelConfig& config, const Tokenizer* tokenizer) {
  if (config.bos_token_id >= 0) return config.bos_token_id;
  if (tokenizer != nullptr)
    for (const char* name : {"<|startoftext|>", "<|begin_of_text|>", "<|endoftext|>"})
      if (std::optional<int32_t> id = tokenizer->token_to_id(name)) return *id;
  return -1;
}

}  // namespace dllm
