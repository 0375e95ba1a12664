// Added/special tokens: matched in text before BPE, longest first, honouring HF's flags.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dllm::tokenizer_internal {

// One entry of tokenizer.json's "added_tokens" (or tokenizer_config.json's
// "added_tokens_decoder"), with HF's flags.
struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;  // match only when not inside a word
  bool lstrip = false;       // the match swallows whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool normalized = false;   // matched in normalized text rather than raw text
  bool special = false;      // skipped by decode(skip_special)
};

// A piece of text after added-token matching: plain text (id < 0) or one added token.
struct TextSegment {
  std::string_view text;
  int32_t id = -1;
};

// Leftmost-longest matcher over a byte trie (what HF's aho-corasick matcher does).
class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);
  bool empty() const { return tokens_.empty(); }
  // Appends the segments of `text` (valid UTF-8); plain segments are never empty.
  void split(std::string_view text, std::vector<TextSegment>& out) const;

 private:
  struct Match {
    size_t start;
    size_t end;
    int32_t id;
  };
  // Candidate tokens starting at `pos`, longest first.
  void candidates_at(std::string_view text, size_t pos, std::vector<size_t>& token_indices) const;
  bool accept(std::string_view text, size_t pos, const AddedToken& token, size_t floor,
              Match& match) const;

  std::vector<AddedToken> tokens_;
  std::array<bool, 256> first_byte_{};
  // Trie edges keyed by (node << 8 | byte); node 0 is the root.
  std::unordered_map<uint64_t, uint32_t> edges_;
  std::vector<int32_t> terminal_;  // node -> index in tokens_, or -1
};

}  // namespace dllm::tokenizer_internal
