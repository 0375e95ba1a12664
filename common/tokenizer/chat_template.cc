// Chat templates of the supported instruct models, written natively instead of with Jinja.
#include "common/tokenizer/chat_template.h"

#include "absl/strings/ascii.h"

namespace dllm {
namespace {

// Jinja's `trim` filter is Python's str.strip(): it removes str.isspace() characters,
// which (unlike Unicode White_Space) include U+001C..U+001F.
bool python_isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

// Decodes the code point starting at `pos` (input is assumed UTF-8; a stray byte counts
// as itself) and returns its length.
size_t code_point_at(std::string_view s, size_t pos, char32_t& cp) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = b(pos);
  size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  if (pos + len > s.size()) len = 1;
  cp = len == 1 ? lead : static_cast<char32_t>(lead & (0x7F >> len));
  for (size_t i = 1; i < len; ++i) cp = (cp << 6) | (b(pos + i) & 0x3F);
  return len;
}

std::string_view jinja_trim(std::string_view s) {
  char32_t cp = 0;
  size_t begin = 0;
  while (begin < s.size()) {
    const size_t len = code_point_at(s, begin, cp);
    if (!python_isspace(cp)) break;
    begin += len;
  }
  size_t end = begin;  // end of the last non-space code point
  for (size_t pos = begin; pos < s.size();) {
    const size_t len = code_point_at(s, pos, cp);
    pos += len;
    if (!python_isspace(cp)) end = pos;
  }
  return s.substr(begin, end - begin);
}

// LLaDA-8B-Instruct, tokenizer_config.json "chat_template" (GSAI-ML/LLaDA-8B-Instruct):
//   {% set loop_messages = messages %}{% for message in loop_messages %}
//   {% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'
//      + message['content'] | trim + '<|eot_id|>' %}
//   {% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}
//   {% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
// with bos_token "<|startoftext|>". Only the content is trimmed (filters bind tighter than
// +); the role is copied as given, and a system message is just the first turn.
std::string render_llada(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0) out += "<|startoftext|>";
    out += "<|start_header_id|>";
    out += messages[i].role;
    out += "<|end_header_id|>\n\n";
    out += jinja_trim(messages[i].content);
    out += "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// Dream-v0-Instruct-7B, tokenizer_config.json "chat_template": the Qwen2.5-Instruct ChatML
// template with the default system prompt "You are a helpful assistant.". Without tools:
//   system turn = messages[0] if its role is system, else the default prompt;
//   user, later system, and assistant turns: '<|im_start|>' + role + '\n' + content +
//     '<|im_end|>\n' (no trimming);
//   consecutive tool turns share one '<|im_start|>user' block, each as
//     '\n<tool_response>\n' + content + '\n</tool_response>', closed by '<|im_end|>\n';
//   other roles render nothing; add_generation_prompt: '<|im_start|>assistant\n'.
// Tool definitions and assistant tool_calls are not modelled here.
std::string render_dream(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out = "<|im_start|>system\n";
  const bool first_is_system = !messages.empty() && messages[0].role == "system";
  out += first_is_system ? messages[0].content : std::string("You are a helpful assistant.");
  out += "<|im_end|>\n";
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || m.role == "assistant" || (m.role == "system" && i > 0)) {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    } else if (m.role == "tool") {
      if (i == 0 || messages[i - 1].role != "tool") out += "<|im_start|>user";
      out += "\n<tool_response>\n" + m.content + "\n</tool_response>";
      if (i + 1 == messages.size() || messages[i + 1].role != "tool") out += "<|im_end|>\n";
    }
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

}  // namespace

std::string render_chat(ChatTemplateKind kind, std::span<const ChatMessage> messages,
                        bool add_generation_prompt) {
  switch (kind) {
    case ChatTemplateKind::kLladaInstruct:
      return render_llada(messages, add_generation_prompt);
    case ChatTemplateKind::kDreamInstruct:
      return render_dream(messages, add_generation_prompt);
  }
  return {};
}

std::vector<std::string_view> chat_template_special_tokens(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kLladaInstruct:
      return {"<|startoftext|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    case ChatTemplateKind::kDreamInstruct:
      return {"<|im_start|>", "<|im_end|>"};
  }
  return {};
}

std::optional<ChatTemplateKind> parse_chat_template_kind(std::string_view name) {
  std::string lower(name);
  for (char& ch : lower) ch = absl::ascii_tolower(static_cast<unsigned char>(ch));
  if (lower == "llada" || lower == "llada_instruct" || lower == "lladainstruct") {
    return ChatTemplateKind::kLladaInstruct;
  }
  if (lower == "dream" || lower == "dream_instruct" || lower == "dreaminstruct" ||
      lower == "chatml") {
    return ChatTemplateKind::kDreamInstruct;
  }
  return std::nullopt;
}

std::string_view chat_template_name(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kLladaInstruct:
      return "llada";
    case ChatTemplateKind::kDreamInstruct:
      return "dream";
  }
  return "unknown";
}

}  // namespace dllm
