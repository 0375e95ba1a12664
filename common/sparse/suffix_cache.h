// A sequence that continues cached K/V: the earlier pages shared (read-only), the new rows in
// fresh pages from the next page boundary on, RoPE positions contiguous, every shared slot that
// is not part of the visible history masked out.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/transformer.h"
#include "common/sparse/chunk_kv_cache.h"

namespace dllm {

struct SuffixLayout {
  int boundary = 0;                // first row slot: the end of the last shared page
  int attend_len = 0;              // boundary + rows
  std::vector<int32_t> slots;      // row i: boundary + i
  std::vector<int32_t> positions;  // row i: first_position + i
  std::vector<uint8_t> key_mask;   // attend_len bytes; 1 on the visible shared ranges and rows
};

// Rows after `shared_slots` shared slots (a whole number of pages) of which only the `visible`
// [begin, end) ranges are the history.
SuffixLayout suffix_layout(int shared_slots, std::span<const std::pair<int, int>> visible,
                           int first_position, int rows);
// Rows continuing prefix + chunk: the chunk's pages shared, positions from chunk.slots() on.
SuffixLayout suffix_layout(const ChunkKv& chunk, int page_size, int rows);

// A cache of `layout` whose first pages are `shared_pages` (retained).
absl::StatusOr<std::unique_ptr<KvCache>> new_suffix_cache(Transformer& model,
                                                          std::span<const int32_t> shared_pages,
                                                          const SuffixLayout& layout);
inline absl::StatusOr<std::unique_ptr<KvCache>> new_suffix_cache(Transformer& model,
                                                                 const ChunkKv& chunk,
                                                                 const SuffixLayout& layout) {
  return new_suffix_cache(model, chunk.pages(), layout);
}

}  // namespace dllm
