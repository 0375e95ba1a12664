// Tokenizer: encode (added tokens, NFC, pre-tokenize, BPE) and decode (byte-level inverse).
#include "common/tokenizer/tokenizer.h"

#include <algorithm>
#include <deque>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/tokenizer_state.h"
#include "common/tokenizer/unicode_text.h"

namespace dllm {
namespace tokenizer_internal {

void finish_state(const std::vector<std::pair<std::string, int32_t>>& vocab,
                  TokenizerState& state) {
  int32_t max_id = -1;
  for (const auto& [text, id] : vocab) max_id = std::max(max_id, id);
  for (const AddedToken& t : state.added_tokens) max_id = std::max(max_id, t.id);
  const size_t n = static_cast<size_t>(max_id + 1);
  state.id_to_token.assign(n, {});
  state.id_known.assign(n, false);
  state.id_bytes.assign(n, {});
  state.id_special.assign(n, false);
  state.token_to_id.reserve(vocab.size() + state.added_tokens.size());
  const auto set = [&](const std::string& text, int32_t id) {
    state.id_to_token[id] = text;
    state.id_known[id] = true;
    std::optional<std::string> bytes = byte_level_to_bytes(text);
    state.id_bytes[id] = bytes ? std::move(*bytes) : text;
  };
  for (const auto& [text, id] : vocab) {
    set(text, id);
    state.token_to_id[text] = id;
  }
  // Added tokens win over a vocab entry with the same id or the same string.
  std::vector<AddedToken> raw, normalized;
  for (const AddedToken& t : state.added_tokens) {
    set(t.content, t.id);
    state.id_special[t.id] = t.special;
    state.token_to_id[t.content] = t.id;
    (t.normalized && state.nfc ? normalized : raw).push_back(t);
  }
  state.raw_matcher = AddedTokenMatcher(raw);
  state.normalized_matcher = AddedTokenMatcher(normalized);
}

}  // namespace tokenizer_internal

using tokenizer_internal::TextSegment;

Tokenizer::Tokenizer(std::unique_ptr<tokenizer_internal::TokenizerState> state)
    : state_(std::move(state)) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::vector<int32_t>> Tokenizer::encode(std::string_view text) const {
  if (absl::Status s = tokenizer_internal::validate_utf8(text); !s.ok()) return s;
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<TextSegment> segments;
  state_->raw_matcher.split(text, segments);

  std::vector<TextSegment> sub_segments;
  std::vector<std::string_view> words;
  std::deque<std::string> storage;
  for (const TextSegment& segment : segments) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      continue;
    }
    // NFC per segment, never across an added token: a combining mark after "<|im_end|>"
    // must not fuse with its '>'.
    std::string normalized_text;
    std::string_view normalized = segment.text;
    if (state_->nfc) {
      absl::StatusOr<std::string> nfc = tokenizer_internal::nfc_normalize(segment.text);
      if (!nfc.ok()) return nfc.status();
      normalized_text = std::move(*nfc);
      normalized = normalized_text;
    }
    sub_segments.clear();
    state_->normalized_matcher.split(normalized, sub_segments);
    for (const TextSegment& sub : sub_segments) {
      if (sub.id >= 0) {
        ids.push_back(sub.id);
        continue;
      }
      words.clear();
      storage.clear();
      if (absl::Status s = state_->pre_tokenizer.run(sub.text, words, storage); !s.ok()) return s;
      for (std::string_view word : words) state_->model->encode_word(word, ids);
    }
  }
  return ids;
}

absl::StatusOr<std::string> Tokenizer::decode(std::span<const int32_t> ids,
                                              bool skip_special) const {
  std::string bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || static_cast<size_t>(id) >= state_->id_known.size() || !state_->id_known[id]) {
      return absl::OutOfRangeError(absl::StrCat("token id ", id, " at position ", i,
                                                " is not in the vocabulary (size ",
                                                vocab_size(), ")"));
    }
    if (skip_special && state_->id_special[id]) continue;
    bytes += state_->id_bytes[id];
  }
  return tokenizer_internal::utf8_lossy(bytes);
}

int Tokenizer::vocab_size() const { return static_cast<int>(state_->id_known.size()); }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const auto it = state_->token_to_id.find(std::string(token));
  if (it == state_->token_to_id.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= state_->id_known.size() || !state_->id_known[id]) {
    return std::nullopt;
  }
  return state_->id_to_token[id];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < state_->id_special.size() && state_->id_special[id];
}

std::vector<int32_t> Tokenizer::special_ids() const {
  std::vector<int32_t> out;
  for (size_t id = 0; id < state_->id_special.size(); ++id) {
    if (state_->id_special[id]) out.push_back(static_cast<int32_t>(id));
  }
  return out;
}

absl::Status Tokenizer::check_chat_template(ChatTemplateKind kind) const {
  for (std::string_view needed : chat_template_special_tokens(kind)) {
    const bool present =
        std::any_of(state_->added_tokens.begin(), state_->added_tokens.end(),
                    [&](const tokenizer_internal::AddedToken& t) { return t.content == needed; });
    if (!present) {
      return absl::FailedPreconditionError(
          absl::StrCat("the '", std::string(chat_template_name(kind)),
                       "' chat template needs the special token ", std::string(needed), ", which this tokenizer does not define as an added token"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::encode_chat(ChatTemplateKind kind,
                                                            std::span<const ChatMessage> messages,
                                                            bool add_generation_prompt) const {
  if (absl::Status s = check_chat_template(kind); !s.ok()) return s;
  return encode(render_chat(kind, messages, add_generation_prompt));
}

std::optional<ChatTemplateKind> Tokenizer::guess_chat_template() const {
  for (ChatTemplateKind kind : {ChatTemplateKind::kDreamInstruct, ChatTemplateKind::kLladaInstruct}) {
    if (check_chat_template(kind).ok()) return kind;
  }
  return std::nullopt;
}

}  // namespace dllm
