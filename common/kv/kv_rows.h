// A cache's K/V rows as one flat byte buffer: what a prefill node hands a decode node. The layout
// is per layer, K rows then V rows of slots [begin, end), each row num_kv_heads * head_dim
// elements of the cache's dtype — so a decode node can take it layer by layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model/transformer.h"

namespace dllm {

struct KvRowsLayout {
  int num_layers = 0;
  int rows = 0;           // slots [begin, begin + rows)
  size_t row_bytes = 0;   // num_kv_heads * head_dim * dtype size
  size_t layer_bytes() const { return 2 * static_cast<size_t>(rows) * row_bytes; }
  size_t total_bytes() const { return layer_bytes() * static_cast<size_t>(num_layers); }
};

KvRowsLayout kv_rows_layout(Transformer& model, int rows);

// Where a K/V rows buffer lives: host memory, or the model backend's own memory (GPU memory on
// the CUDA backend), which a device-capable transport (cuda_ipc) hands to another process with
// no copy through the host.
enum class KvRowsMemory { kHost, kBackend };

// A buffer of K/V rows that owns its memory; kBackend memory is the backend's shareable memory
// (Backend::allocate_shareable), released through the same backend.
class KvRowsBuffer {
 public:
  KvRowsBuffer() = default;
  KvRowsBuffer(kernels::Backend* backend, KvRowsMemory memory, size_t bytes);
  ~KvRowsBuffer();
  KvRowsBuffer(KvRowsBuffer&& other) noexcept;
  KvRowsBuffer& operator=(KvRowsBuffer&& other) noexcept;
  KvRowsBuffer(const KvRowsBuffer&) = delete;
  KvRowsBuffer& operator=(const KvRowsBuffer&) = delete;

  uint8_t* data() { return memory_ == KvRowsMemory::kHost ? host_.data() : device_; }
  const uint8_t* data() const { return memory_ == KvRowsMemory::kHost ? host_.data() : device_; }
  size_t size() const { return size_; }
  KvRowsMemory memory() const { return memory_; }

 private:
  void reset();

  kernels::Backend* backend_ = nullptr;
  KvRowsMemory memory_ = KvRowsMemory::kHost;
  std::vector<uint8_t> host_;
  uint8_t* device_ = nullptr;
  size_t size_ = 0;
};

// Slots [begin, end) of every layer of `cache` (made by `model`) in a new buffer in `memory`,
// complete when returned (the backend is synchronized).
absl::StatusOr<KvRowsBuffer> export_kv_rows(Transformer& model, const KvCache& cache, int begin,
                                            int end, KvRowsMemory memory);

// Writes layers [first_layer, first_layer + n) of an export_kv_rows buffer (`bytes` at `data`, in
// `memory`, holds just those layers) into slots [begin, end) of `cache`.
absl::Status import_kv_rows(Transformer& model, KvCache& cache, int begin, int end,
                            int first_layer, const uint8_t* data, size_t bytes,
                            KvRowsMemory memory);

}  // namespace dllm
