// Fuzzes Tokenizer::encode and ::decode on arbitrary bytes with the bundled llada-tiny tokenizer:
// encode accepts exactly valid UTF-8 and round-trips NFC text; decode of any ids is UTF-8 that
// encodes again.
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/unicode_text.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

const dllm::Tokenizer& llada_tiny() {
  static const std::unique_ptr<dllm::Tokenizer> tok = [] {
    absl::StatusOr<std::unique_ptr<dllm::Tokenizer>> t =
        dllm::Tokenizer::load_from_dir(dllm::fuzz::llada_tiny_dir());
    if (!t.ok()) dllm::fuzz::setup_failed(t.status().ToString());
    return std::move(*t);
  }();
  return *tok;
}

void check_encode(const dllm::Tokenizer& tok, std::string_view text) {
  namespace ti = dllm::tokenizer_internal;
  const bool valid = ti::validate_utf8(text).ok();
  absl::StatusOr<std::vector<int32_t>> ids = tok.encode(text);
  FUZZ_CHECK(ids.ok() == valid);
  if (!ids.ok()) return;
  for (int32_t id : *ids) FUZZ_CHECK(id >= 0 && id < tok.vocab_size());
  absl::StatusOr<std::string> back = tok.decode(*ids);
  FUZZ_CHECK(back.ok());
  // Without added tokens the text is one segment; NFC text then comes back byte for byte.
  if (text.find("<|") == std::string_view::npos) {
    absl::StatusOr<std::string> nfc = ti::nfc_normalize(text);
    FUZZ_CHECK(nfc.ok());
    if (*nfc == text) FUZZ_CHECK(*back == text);
  }
}

// Two bytes per id, spread over [-8, vocab_size + 8) so that most ids exist and some do not.
void check_decode(const dllm::Tokenizer& tok, const uint8_t* data, size_t size) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < size; i += 2) {
    const int value = data[i] | (data[i + 1] << 8);
    ids.push_back(value % (tok.vocab_size() + 16) - 8);
  }
  for (bool skip_special : {false, true}) {
    absl::StatusOr<std::string> text = tok.decode(ids, skip_special);
    if (!text.ok()) {
      FUZZ_CHECK(text.status().code() == absl::StatusCode::kOutOfRange);
      continue;
    }
    FUZZ_CHECK(dllm::tokenizer_internal::validate_utf8(*text).ok());
    FUZZ_CHECK(tok.encode(*text).ok());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const dllm::Tokenizer& tok = llada_tiny();
  check_encode(tok, dllm::fuzz::as_text(data, size));
  check_decode(tok, data, size);
  return 0;
}
