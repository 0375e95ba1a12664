// Fuzzes SafetensorsFile's header validation over a whole file's bytes: whatever it accepts must
// only expose tensors that lie inside the data area, with sizes that match shape × dtype.
#include <cstdint>
#include <string>

#include "common/model/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::unique_ptr<dllm::SafetensorsFile>> file = dllm::SafetensorsFile::from_bytes(
      "fuzz.safetensors", std::string(dllm::fuzz::as_text(data, size)));
  if (!file.ok()) {
    FUZZ_CHECK(file.status().code() == absl::StatusCode::kDataLoss);
    return 0;
  }
  for (const auto& [name, t] : (*file)->tensors()) {
    FUZZ_CHECK(name == t.name && name != "__metadata__");
    int64_t numel = t.numel();
    FUZZ_CHECK(numel >= 0);
    FUZZ_CHECK(t.nbytes == static_cast<uint64_t>(numel) * dllm::tensor_dtype_size(t.dtype));
    if (t.nbytes > 0) {
      // ASan checks that the first and last byte are inside the copy of the input.
      volatile uint8_t first = t.data[0];
      volatile uint8_t last = t.data[t.nbytes - 1];
      (void)first;
      (void)last;
    }
  }
  return 0;
}
