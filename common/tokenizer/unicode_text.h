// UTF-8 validation, lossy UTF-8 repair and NFC normalization used by the tokenizer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dllm::tokenizer_internal {

// OK when `text` is well-formed UTF-8 (no overlongs, surrogates or code points past
// U+10FFFF); otherwise InvalidArgument "invalid UTF-8 at byte N".
absl::Status validate_utf8(std::string_view text);

// Replaces every maximal invalid subsequence with U+FFFD, as Rust's
// String::from_utf8_lossy does (HF `tokenizers` decodes through it).
std::string utf8_lossy(std::string_view bytes);

// NFC of a valid UTF-8 string (ICU Normalizer2); ASCII and already-NFC text is copied as is.
absl::StatusOr<std::string> nfc_normalize(std::string_view text);

// Decodes one code point at `pos` of valid UTF-8 and advances `pos`.
char32_t next_code_point(std::string_view text, size_t& pos);
// The code point that ends just before `end` in valid UTF-8 (end > 0).
char32_t previous_code_point(std::string_view text, size_t end);

// Unicode White_Space (what Rust's char::is_whitespace and Oniguruma's \s test).
bool is_unicode_whitespace(char32_t c);
// A "word" character for the single_word flag of added tokens: alphanumeric or '_'.
bool is_word_char(char32_t c);

}  // namespace dllm::tokenizer_internal
