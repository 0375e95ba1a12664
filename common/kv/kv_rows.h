// A cache's K/V rows as one flat byte buffer: what a prefill node hands a decode node. The layout
// is per layer, K rows then V rows of slots [begin, end), each row num_kv_heads * head_dim
// elements of the cache's dtype — so a decode node can take it layer by layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
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

// Copies slots [begin, end) of every layer of `cache` (made by `model`) into `out`.
absl::Status export_kv_rows(Transformer& model, const KvCache& cache, int begin, int end,
                            std::vector<uint8_t>* out);

// Writes layers [first_layer, first_layer + n) of an export_kv_rows buffer (`bytes` holds just
// those layers) into slots [begin, end) of `cache`.
absl::Status import_kv_rows(Transformer& model, KvCache& cache, int begin, int end,
                            int first_layer, std::span<const uint8_t> bytes);

}  // namespace dllm
