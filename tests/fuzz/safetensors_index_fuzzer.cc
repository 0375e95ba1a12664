// Fuzzes the sharded checkpoint's model.safetensors.index.json: every accepted shard must be a
// plain file name beside the index (nothing that could reach outside the model directory).
#include <cstdint>
#include <string>

#include "common/model/weights.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::map<std::string, std::string>> map = dllm::parse_safetensors_index(
      std::string(dllm::fuzz::as_text(data, size)), "model.safetensors.index.json");
  if (!map.ok()) {
    FUZZ_CHECK(map.status().code() == absl::StatusCode::kDataLoss);
    return 0;
  }
  for (const auto& [tensor, shard] : *map) {
    FUZZ_CHECK(!shard.empty() && shard != "." && shard != "..");
    FUZZ_CHECK(shard.find('/') == std::string::npos);
  }
  return 0;
}
