// Fuzzes tokenizer.json loading (model, pre-tokenizer, normalizer, decoder, added tokens), then
// encodes and decodes with whatever loaded.
#include <cstdint>

#include "common/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/tokenizer_exercise.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::unique_ptr<dllm::Tokenizer>> tok =
      dllm::Tokenizer::from_tokenizer_json(dllm::fuzz::as_text(data, size), "tokenizer.json");
  if (!tok.ok()) return 0;
  dllm::fuzz::exercise_tokenizer(**tok);
  return 0;
}
