// Internal: the parts a loaded Tokenizer is made of, shared by tokenizer.cc and the loaders.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/tokenizer/added_tokens.h"
#include "common/tokenizer/bpe_model.h"
#include "common/tokenizer/pre_tokenizer.h"

namespace dllm::tokenizer_internal {

struct TokenizerState {
  std::unique_ptr<BpeModel> model;
  PreTokenizer pre_tokenizer;
  bool nfc = false;
  std::vector<AddedToken> added_tokens;
  AddedTokenMatcher raw_matcher;         // added tokens with normalized == false
  AddedTokenMatcher normalized_matcher;  // normalized == true, matched after NFC

  // Per id (index): the stored token string, whether the id exists, its decoded bytes
  // (byte-level inverse when every code point maps, else the string's own bytes, as HF's
  // ByteLevel decoder does), and the special flag.
  std::vector<std::string> id_to_token;
  std::vector<bool> id_known;
  std::vector<std::string> id_bytes;
  std::vector<bool> id_special;
  std::unordered_map<std::string, int32_t> token_to_id;
};

// Fills the id tables and matchers from `vocab` (byte-level strings) and `added_tokens`.
void finish_state(const std::vector<std::pair<std::string, int32_t>>& vocab,
                  TokenizerState& state);

}  // namespace dllm::tokenizer_internal
