// GPT-2 byte-level alphabet: each byte is shown as a printable code point in vocab strings.
#include "common/tokenizer/byte_level.h"

#include <cstdint>

#include "common/tokenizer/unicode_text.h"

namespace dllm::tokenizer_internal {
namespace {

bool stands_for_itself(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

std::string utf8_of(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s.push_back(static_cast<char>(c));
  } else {  // the alphabet stays below U+0800
    s.push_back(static_cast<char>(0xC0 | (c >> 6)));
    s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
  return s;
}

struct Tables {
  std::array<std::string, 256> byte_to_text;
  std::array<int16_t, 0x200> code_point_to_byte;  // -1 where no byte maps
  Tables() {
    code_point_to_byte.fill(-1);
    char32_t next_extra = 0x100;
    for (int b = 0; b < 256; ++b) {
      const char32_t cp = stands_for_itself(b) ? static_cast<char32_t>(b) : next_extra++;
      byte_to_text[b] = utf8_of(cp);
      code_point_to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables* t = new Tables();
  return *t;
}

}  // namespace

const std::array<std::string, 256>& byte_level_alphabet() { return tables().byte_to_text; }

std::optional<std::string> byte_level_to_bytes(std::string_view token) {
  const Tables& t = tables();
  std::string out;
  out.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    const unsigned char lead = static_cast<unsigned char>(token[pos]);
    // Only 1- and 2-byte sequences can be in the alphabet; anything else is foreign.
    if (lead >= 0xE0 || (lead >= 0x80 && lead < 0xC0) ||
        (lead >= 0xC0 && pos + 1 >= token.size())) {
      return std::nullopt;
    }
    const char32_t cp = next_code_point(token, pos);
    if (cp >= t.code_point_to_byte.size() || t.code_point_to_byte[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(t.code_point_to_byte[cp]));
  }
  return out;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  const auto& alphabet = byte_level_alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) out += alphabet[static_cast<unsigned char>(ch)];
  return out;
}

}  // namespace dllm::tokenizer_internal
