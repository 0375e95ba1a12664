// Suffix layouts after shared pages.
#include "common/sparse/suffix_cache.h"

namespace dllm {

SuffixLayout suffix_layout(int shared_slots, std::span<const std::pair<int, int>> visible,
                           int first_position, int rows) {
  SuffixLayout l;
  l.boundary = shared_slots;
  l.attend_len = shared_slots + rows;
  for (int i = 0; i < rows; ++i) {
    l.slots.push_back(l.boundary + i);
    l.positions.push_back(first_position + i);
  }
  l.key_mask.assign(l.attend_len, 0);
  for (const auto& [begin, end] : visible)
    for (int j = begin; j < end; ++j) l.key_mask[j] = 1;
  for (int j = l.boundary; j < l.attend_len; ++j) l.key_mask[j] = 1;
  return l;
}

SuffixLayout suffix_layout(const ChunkKv& chunk, int page_size, int rows) {
  const std::pair<int, int> history{0, chunk.slots()};
  return suffix_layout(static_cast<int>(chunk.pages().size()) * page_size, {&history, 1},
                       chunk.slots(), rows);
}

absl::StatusOr<std::unique_ptr<KvCache>> new_suffix_cache(Transformer& model,
                                                          std::span<const int32_t> shared_pages,
                                                          const SuffixLayout& layout) {
  return model.new_kv_cache_with_pages(shared_pages, layout.attend_len);
}

}  // namespace dllm
