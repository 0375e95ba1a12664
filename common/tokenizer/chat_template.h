// Chat templates of the supported instruct models, written natively instead of with Jinja.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dllm {

enum class ChatTemplateKind {
  kLladaInstruct,  // GSAI-ML/LLaDA-8B-Instruct (LLaMA-3 style headers)
  kDreamInstruct,  // Dream-org/Dream-v0-Instruct-7B (Qwen2 ChatML)
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (Dream also "tool")
  std::string content;
};

// The prompt text, byte for byte what the model's Jinja template renders.
// add_generation_prompt appends the assistant header; LLaDA's official template always
// appends it, so `true` reproduces it exactly.
std::string render_chat(ChatTemplateKind kind, std::span<const ChatMessage> messages,
                        bool add_generation_prompt);

// The special tokens the rendered text relies on; a tokenizer must hold each one as an
// added token or the prompt would be tokenized as plain text.
std::vector<std::string_view> chat_template_special_tokens(ChatTemplateKind kind);

// "llada" / "dream" (also the enum spellings without the k prefix); nullopt otherwise.
std::optional<ChatTemplateKind> parse_chat_template_kind(std::string_view name);
std::string_view chat_template_name(ChatTemplateKind kind);

}  // namespace dllm
