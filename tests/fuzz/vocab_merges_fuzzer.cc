// Fuzzes the vocab.json + merges.txt (+ tokenizer_config.json) loader. The input is the three
// files joined by NUL bytes (none of them holds one): vocab.json \0 merges.txt [\0 config].
#include <cstdint>
#include <string_view>

#include "common/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/tokenizer_exercise.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest = dllm::fuzz::as_text(data, size);
  std::string_view parts[3];
  for (int i = 0; i < 3; ++i) {
    const size_t nul = i < 2 ? rest.find('\0') : std::string_view::npos;
    parts[i] = rest.substr(0, nul);
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }
  absl::StatusOr<std::unique_ptr<dllm::Tokenizer>> tok =
      dllm::Tokenizer::from_vocab_merges(parts[0], parts[1], parts[2], "fuzz");
  if (!tok.ok()) return 0;
  dllm::fuzz::exercise_tokenizer(**tok);
  return 0;
}
