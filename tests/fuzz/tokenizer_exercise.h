// Uses a tokenizer the fuzzer just loaded from hostile files, so that bad tables surface as
// crashes here rather than on the first request that reaches them.
#pragma once

#include <algorithm>
#include <string_view>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

namespace dllm::fuzz {

inline void exercise_tokenizer(const Tokenizer& tok) {
  static constexpr std::string_view kSample =
      "Hello, world! <|endoftext|> 12 naïve  ca\xCC\x81"
      "fe\n\tend <|im_start|>user";
  absl::StatusOr<std::vector<int32_t>> ids = tok.encode(kSample);
  if (ids.ok()) {
    absl::StatusOr<std::string> text = tok.decode(*ids);
    FUZZ_CHECK(text.ok());
  }
  // Every id below vocab_size decodes or is OutOfRange; nothing else.
  const int n = std::min(tok.vocab_size(), 4096);
  for (int32_t id = 0; id < n; ++id) {
    const int32_t one[] = {id};
    absl::StatusOr<std::string> text = tok.decode(one, /*skip_special=*/id % 2 == 0);
    FUZZ_CHECK(text.ok() || text.status().code() == absl::StatusCode::kOutOfRange);
    FUZZ_CHECK(text.ok() == tok.id_to_token(id).has_value());
  }
  (void)tok.special_ids();
  (void)tok.guess_chat_template();
}

}  // namespace dllm::fuzz
