// UTF-8 validation, lossy UTF-8 repair and NFC normalization used by the tokenizer.
#include "common/tokenizer/unicode_text.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/uchar.h>

#include "absl/strings/str_cat.h"

namespace dllm::tokenizer_internal {
namespace {

// Length of the well-formed prefix of a UTF-8 sequence starting at text[pos], and the
// sequence's full length when complete. Ranges follow the Unicode "well-formed UTF-8"
// table (Unicode 15, table 3-7), which both validation and lossy repair need.
struct SequenceCheck {
  size_t valid_prefix;  // bytes that could still start a valid sequence (>= 1 when invalid)
  bool complete;        // a whole, valid code point of `valid_prefix` bytes
};

SequenceCheck check_sequence(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) return {1, true};
  size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 3;
    if (lead == 0xE0) lo = 0xA0;  // no overlongs
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 4;
    if (lead == 0xF0) lo = 0x90;  // no overlongs
    if (lead == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return {1, false};
  }
  size_t got = 1;
  for (; got < need && pos + got < text.size(); ++got) {
    const unsigned char b = byte(pos + got);
    const unsigned char min = got == 1 ? lo : 0x80;
    const unsigned char max = got == 1 ? hi : 0xBF;
    if (b < min || b > max) break;
  }
  return {got, got == need};
}

}  // namespace

absl::Status validate_utf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    // ASCII runs are the common case; skip them without the full check.
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const SequenceCheck c = check_sequence(text, pos);
    if (!c.complete) return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 at byte ", pos));
    pos += c.valid_prefix;
  }
  return absl::OkStatus();
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const SequenceCheck c = check_sequence(bytes, pos);
    if (c.complete) {
      out.append(bytes.substr(pos, c.valid_prefix));
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD for the maximal invalid subpart
    }
    pos += c.valid_prefix;
  }
  return out;
}

absl::StatusOr<std::string> nfc_normalize(std::string_view text) {
  bool ascii = true;
  for (char ch : text) ascii = ascii && static_cast<unsigned char>(ch) < 0x80;
  if (ascii) return std::string(text);
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) {
    return absl::InternalError(absl::StrCat("ICU NFC unavailable: ", u_errorName(status)));
  }
  const icu::StringPiece piece(text.data(), static_cast<int32_t>(text.size()));
  if (nfc->isNormalizedUTF8(piece, status) && U_SUCCESS(status)) return std::string(text);
  status = U_ZERO_ERROR;
  std::string out;
  out.reserve(text.size());
  icu::StringByteSink<std::string> sink(&out);
  nfc->normalizeUTF8(0, piece, sink, nullptr, status);
  if (U_FAILURE(status)) {
    return absl::InternalError(absl::StrCat("ICU NFC failed: ", u_errorName(status)));
  }
  return out;
}

char32_t next_code_point(std::string_view text, size_t& pos) {
  const auto b = [&](size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[i])); };
  const char32_t lead = b(pos);
  if (lead < 0x80) {
    pos += 1;
    return lead;
  }
  if (lead < 0xE0) {
    const char32_t c = ((lead & 0x1F) << 6) | (b(pos + 1) & 0x3F);
    pos += 2;
    return c;
  }
  if (lead < 0xF0) {
    const char32_t c = ((lead & 0x0F) << 12) | ((b(pos + 1) & 0x3F) << 6) | (b(pos + 2) & 0x3F);
    pos += 3;
    return c;
  }
  const char32_t c = ((lead & 0x07) << 18) | ((b(pos + 1) & 0x3F) << 12) |
                     ((b(pos + 2) & 0x3F) << 6) | (b(pos + 3) & 0x3F);
  pos += 4;
  return c;
}

char32_t previous_code_point(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return next_code_point(text, start);
}

bool is_unicode_whitespace(char32_t c) {
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE);
}

bool is_word_char(char32_t c) { return c == U'_' || u_isalnum(static_cast<UChar32>(c)); }

}  // namespace dllm::tokenizer_internal
