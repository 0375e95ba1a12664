// Tokenizer: Hugging Face byte-level BPE (tokenizer.json, or vocab.json + merges.txt).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tokenizer/chat_template.h"

namespace dllm {

namespace tokenizer_internal {
struct TokenizerState;
}

// Immutable after loading; every method is safe to call from several threads.
class Tokenizer {
 public:
  // DIR/tokenizer.json if present, else DIR/vocab.json + DIR/merges.txt (Dream's form).
  // In both cases DIR/tokenizer_config.json's "added_tokens_decoder", when present, adds
  // or replaces added tokens by id (as transformers does).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> load_from_dir(const std::string& dir);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> load_tokenizer_json(const std::string& path);
  // The pair form; `config_path` (tokenizer_config.json) may be empty. Its
  // "tokenizer_class" picks the split regex: GPT2Tokenizer -> GPT-2's regex and no
  // normalizer; anything else -> Qwen2's regex and NFC (Qwen2Tokenizer, DreamTokenizer).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> load_vocab_merges(
      const std::string& vocab_path, const std::string& merges_path,
      const std::string& config_path);
  // The same two loaders over file contents already in memory; `source` names them in
  // messages. An empty `config_json` means no tokenizer_config.json.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> from_tokenizer_json(std::string_view json_text,
                                                                        const std::string& source);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> from_vocab_merges(std::string_view vocab_json,
                                                                      std::string_view merges_txt,
                                                                      std::string_view config_json,
                                                                      const std::string& source);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Added tokens are matched in the raw text first; no BOS/EOS is added.
  // InvalidArgument "invalid UTF-8 at byte N" for malformed input.
  absl::StatusOr<std::vector<int32_t>> encode(std::string_view text) const;
  // UTF-8 text; invalid byte sequences become U+FFFD. OutOfRange for an unknown id.
  absl::StatusOr<std::string> decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // One past the largest id (base vocab and added tokens).
  int vocab_size() const;
  // Added-token content or byte-level vocab string -> id.
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The id's string as stored in the file (byte-level form for vocab entries).
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;
  // Ids of the tokens flagged special, ascending.
  std::vector<int32_t> special_ids() const;

  // OK when every special token `kind` needs is an added token here; otherwise
  // FailedPrecondition naming the missing token.
  absl::Status check_chat_template(ChatTemplateKind kind) const;
  // check_chat_template, render_chat, then encode.
  absl::StatusOr<std::vector<int32_t>> encode_chat(ChatTemplateKind kind,
                                                   std::span<const ChatMessage> messages,
                                                   bool add_generation_prompt) const;
  // The template whose special tokens this tokenizer holds (ChatML first), if any.
  std::optional<ChatTemplateKind> guess_chat_template() const;

 private:
  explicit Tokenizer(std::unique_ptr<tokenizer_internal::TokenizerState> state);
  std::unique_ptr<tokenizer_internal::TokenizerState> state_;
};

}  // namespace dllm
