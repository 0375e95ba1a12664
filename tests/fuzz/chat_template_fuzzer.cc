// Fuzzes the chat template renderer (LLaDA and Dream) and its tokenization. Input: one flags
// byte (bit 0: Dream, bit 1: add_generation_prompt), then role \0 content \0 role \0 content ...
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/unicode_text.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

const dllm::Tokenizer& llada_tiny() {
  static const std::unique_ptr<dllm::Tokenizer> tok = [] {
    absl::StatusOr<std::unique_ptr<dllm::Tokenizer>> t =
        dllm::Tokenizer::load_from_dir(dllm::fuzz::llada_tiny_dir());
    if (!t.ok()) dllm::fuzz::setup_failed(t.status().ToString());
    return std::move(*t);
  }();
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using dllm::ChatTemplateKind;
  namespace ti = dllm::tokenizer_internal;
  const ChatTemplateKind kind =
      (data[0] & 1) != 0 ? ChatTemplateKind::kDreamInstruct : ChatTemplateKind::kLladaInstruct;
  const bool generation_prompt = (data[0] & 2) != 0;
  std::vector<dllm::ChatMessage> messages;
  std::string_view rest = dllm::fuzz::as_text(data + 1, size - 1);
  bool all_valid = true;
  while (!rest.empty()) {
    std::string_view fields[2];
    for (std::string_view& f : fields) {
      const size_t nul = rest.find('\0');
      f = rest.substr(0, nul);
      rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
    }
    all_valid = all_valid && ti::validate_utf8(fields[0]).ok() && ti::validate_utf8(fields[1]).ok();
    messages.push_back({std::string(fields[0]), std::string(fields[1])});
  }

  const std::string text = dllm::render_chat(kind, messages, generation_prompt);
  // Trimming and concatenation never cut a code point: valid messages give a valid prompt.
  if (all_valid) FUZZ_CHECK(ti::validate_utf8(text).ok());
  if (kind == ChatTemplateKind::kDreamInstruct) {
    FUZZ_CHECK(text.starts_with("<|im_start|>system\n"));
    if (generation_prompt) FUZZ_CHECK(text.ends_with("<|im_start|>assistant\n"));
  } else if (!messages.empty()) {
    FUZZ_CHECK(text.starts_with("<|startoftext|><|start_header_id|>" + messages[0].role));
  }
  if (kind == ChatTemplateKind::kLladaInstruct && generation_prompt)
    FUZZ_CHECK(text.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\n"));

  // The tiny tokenizer holds LLaDA's special tokens but not ChatML's.
  absl::StatusOr<std::vector<int32_t>> ids =
      llada_tiny().encode_chat(kind, messages, generation_prompt);
  if (kind == ChatTemplateKind::kDreamInstruct) {
    FUZZ_CHECK(ids.status().code() == absl::StatusCode::kFailedPrecondition);
    return 0;
  }
  FUZZ_CHECK(ids.ok() == ti::validate_utf8(text).ok());
  if (!ids.ok()) return 0;
  // Each turn's <|eot_id|> stays one special token whatever the content around it holds.
  const int32_t eot = *llada_tiny().token_to_id("<|eot_id|>");
  FUZZ_CHECK(std::count(ids->begin(), ids->end(), eot) >= static_cast<long>(messages.size()));
  return 0;
}
