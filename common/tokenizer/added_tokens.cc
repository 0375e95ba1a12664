// Added/special tokens: matched in text before BPE, longest first, honouring HF's flags.
#include "common/tokenizer/added_tokens.h"

#include <algorithm>

#include "common/tokenizer/unicode_text.h"

namespace dllm::tokenizer_internal {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) {
  terminal_.push_back(-1);
  for (const AddedToken& token : tokens) {
    if (token.content.empty()) continue;
    uint32_t node = 0;
    for (char ch : token.content) {
      const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(ch);
      auto [it, inserted] = edges_.emplace(key, static_cast<uint32_t>(terminal_.size()));
      if (inserted) terminal_.push_back(-1);
      node = it->second;
    }
    // A later duplicate of the same content replaces the earlier entry.
    if (terminal_[node] >= 0) {
      tokens_[terminal_[node]] = token;
    } else {
      terminal_[node] = static_cast<int32_t>(tokens_.size());
      tokens_.push_back(token);
    }
    first_byte_[static_cast<unsigned char>(token.content[0])] = true;
  }
}

void AddedTokenMatcher::candidates_at(std::string_view text, size_t pos,
                                      std::vector<size_t>& token_indices) const {
  token_indices.clear();
  uint32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[i]);
    const auto it = edges_.find(key);
    if (it == edges_.end()) break;
    node = it->second;
    if (terminal_[node] >= 0) token_indices.push_back(static_cast<size_t>(terminal_[node]));
  }
  // Walked shortest to longest; the longest match has priority.
  std::reverse(token_indices.begin(), token_indices.end());
}

bool AddedTokenMatcher::accept(std::string_view text, size_t pos, const AddedToken& token,
                               size_t floor, Match& match) const {
  size_t start = pos;
  size_t end = pos + token.content.size();
  if (token.single_word) {
    if (start > 0 && is_word_char(previous_code_point(text, start))) return false;
    if (end < text.size()) {
      size_t p = end;
      if (is_word_char(next_code_point(text, p))) return false;
    }
  }
  if (token.lstrip) {
    while (start > floor) {
      size_t prev = start - 1;
      while (prev > floor && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
      size_t p = prev;
      if (!is_unicode_whitespace(next_code_point(text, p))) break;
      start = prev;
    }
  }
  if (token.rstrip) {
    while (end < text.size()) {
      size_t p = end;
      if (!is_unicode_whitespace(next_code_point(text, p))) break;
      end = p;
    }
  }
  match = {start, end, token.id};
  return true;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextSegment>& out) const {
  if (tokens_.empty()) {
    if (!text.empty()) out.push_back({text, -1});
    return;
  }
  std::vector<size_t> candidates;
  size_t plain_start = 0;  // start of the pending plain-text segment
  size_t pos = 0;
  while (pos < text.size()) {
    Match match{};
    bool found = false;
    if (first_byte_[static_cast<unsigned char>(text[pos])]) {
      candidates_at(text, pos, candidates);
      for (size_t index : candidates) {
        if (accept(text, pos, tokens_[index], plain_start, match)) {
          found = true;
          break;
        }
      }
    }
    if (!found) {
      ++pos;
      continue;
    }
    if (match.start > plain_start) {
      out.push_back({text.substr(plain_start, match.start - plain_start), -1});
    }
    out.push_back({text.substr(match.start, match.end - match.start), match.id});
    plain_start = pos = match.end;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
}

}  // namespace dllm::tokenizer_internal
