// Fuzzes config.json parsing (LLaDA and Dream families): an accepted config must hold the
// invariants the model code relies on, and the values derived from it must be computable.
#include <cstdint>
#include <string>

#include "common/model/model_config.h"
#include "common/model/weights.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<dllm::ModelConfig> config =
      dllm::parse_model_config(std::string(dllm::fuzz::as_text(data, size)), "config.json");
  if (!config.ok()) return 0;
  const dllm::ModelConfig& c = *config;
  FUZZ_CHECK(c.hidden_size > 0 && c.num_layers > 0 && c.num_heads > 0 && c.num_kv_heads > 0);
  FUZZ_CHECK(c.intermediate_size > 0 && c.vocab_size > 0 && c.embedding_rows >= c.vocab_size);
  FUZZ_CHECK(c.head_dim > 0 && c.head_dim % 2 == 0 && c.head_dim * c.num_heads == c.hidden_size);
  FUZZ_CHECK(c.num_heads % c.num_kv_heads == 0);
  FUZZ_CHECK(c.mask_token_id >= 0 && c.mask_token_id < c.embedding_rows);
  for (int id : {c.eos_token_id, c.pad_token_id, c.bos_token_id, c.eot_token_id})
    FUZZ_CHECK(id >= -1 && id < c.embedding_rows);
  // Bounded so that a valid but huge model does not make the target allocate gigabytes.
  if (c.head_dim <= 4096)
    FUZZ_CHECK(c.rope_inv_freq().size() == static_cast<size_t>(c.head_dim / 2));
  if (c.num_layers <= 64) {
    for (const dllm::ExpectedTensor& t : dllm::expected_tensors(c))
      for (int64_t d : t.shape) FUZZ_CHECK(d > 0);
  }
  return 0;
}
