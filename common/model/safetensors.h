// SafetensorsFile: a read-only mmap of one .safetensors file with its validated header.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dllm {

enum class TensorDType { kF32, kF16, kBF16, kI64, kI32, kI8, kU8, kBool, kF64 };
const char* tensor_dtype_name(TensorDType t);
size_t tensor_dtype_size(TensorDType t);

struct TensorInfo {
  std::string name;
  TensorDType dtype = TensorDType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapping
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps `path` and validates the header: JSON well-formed, offsets in bounds, sizes match
  // shape × dtype, no overlaps. Errors name the file and the offending tensor.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> open(const std::string& path);
  // The same validation over a whole file already in memory (the object keeps `bytes`);
  // `name` stands in for the path in messages.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> from_bytes(std::string name,
                                                                     std::string bytes);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  // Reads the header of the file's `size` bytes at `bytes` and fills tensors_ and metadata_.
  absl::Status index(const uint8_t* bytes, uint64_t size);
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::string owned_bytes_;  // from_bytes: the file's contents (no mapping)
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors to a safetensors file (used by `dllm forward --out` and by tests/tools).
struct TensorToWrite {
  std::string name;
  TensorDType dtype = TensorDType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // numel × dtype size bytes
};
absl::Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

}  // namespace dllm
