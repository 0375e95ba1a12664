// KvPool: fixed-size K/V pages for every layer in one backend allocation, with reference counts.
// A page holds `page_size` slots of all layers (page p of layer l is at the same index in each
// layer's array), so one page table serves a sequence's whole stack.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/device_buffer.h"
#include "kernels/backend.h"

namespace dllm {

struct KvPoolOptions {
  int page_size = 64;
  kernels::DType dtype = kernels::DType::kF32;  // kF32 or kBF16
  // Memory for K and V of all layers. 0 = a share of the backend's free memory (see create).
  size_t max_bytes = 0;
};

struct KvPoolStats {
  int64_t total_pages = 0;
  int64_t used_pages = 0;
  int64_t page_bytes = 0;  // K + V of one page, all layers
  int64_t allocations_refused = 0;
};

class KvPool {
 public:
  // With max_bytes = 0 the pool takes half of the backend's free memory, at most 4 GiB on the
  // CPU backend and 80% on a GPU (where the pool is the main consumer after the weights).
  static absl::StatusOr<std::unique_ptr<KvPool>> create(kernels::Backend* backend, int layers,
                                                        int kv_heads, int head_dim,
                                                        const KvPoolOptions& options);

  int page_size() const { return options_.page_size; }
  kernels::DType dtype() const { return options_.dtype; }
  // `n` pages with a reference count of 1 each; ResourceExhausted when fewer are free.
  absl::StatusOr<std::vector<int32_t>> allocate(int n);
  void retain(std::span<const int32_t> pages);
  // Drops one reference; a page whose count reaches 0 is free again.
  void release(std::span<const int32_t> pages);
  int ref_count(int32_t page) const;
  KvPoolStats stats() const;
  // Layer `layer` of a sequence whose page table (backend memory) is `page_table`.
  kernels::KvView layer_view(int layer, const int32_t* page_table) const;

 private:
  KvPool() = default;
  KvPoolOptions options_;
  int64_t row_elems_ = 0;
  std::vector<DeviceBuffer<uint8_t>> k_, v_;  // per layer: [pages, page_size, row_elems]
  mutable std::mutex mu_;
  std::vector<int32_t> ref_counts_;
  std::vector<int32_t> free_list_;
  int64_t refused_ = 0;
};

}  // namespace dllm
