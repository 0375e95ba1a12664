// GPT-2 byte-level alphabet: each byte is shown as a printable code point in vocab strings.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace dllm::tokenizer_internal {

// UTF-8 of the printable code point that stands for each byte (GPT-2 bytes_to_unicode):
// bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF stand for themselves; the other 68 bytes map
// in order to U+0100, U+0101, ... so that no vocab string holds a space or control char.
const std::array<std::string, 256>& byte_level_alphabet();

// The raw bytes a byte-level vocab string stands for; nullopt when some code point in it
// is outside the alphabet (added tokens such as "<|im_end|>" all map; "a b" does not).
std::optional<std::string> byte_level_to_bytes(std::string_view token);

// The byte-level vocab string for raw bytes.
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace dllm::tokenizer_internal
