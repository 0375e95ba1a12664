// Chunk planning, token-run hashing and prompt compression.
#include "common/sparse/chunk_plan.h"

#include <algorithm>

namespace dllm {

std::vector<PlannedChunk> plan_chunks(std::span<const int32_t> context, int chunk_size,
                                      bool chunk_bos, int32_t bos_token_id) {
  std::vector<PlannedChunk> chunks;
  const int content = chunk_size - (chunk_bos ? 1 : 0);
  if (content < 1) return chunks;
  const int n = static_cast<int>(context.size());
  for (int begin = 0; begin < n; begin += content) {
    PlannedChunk c;
    c.index = static_cast<int>(chunks.size());
    c.context_begin = begin;
    c.context_end = std::min(n, begin + content);
    c.has_bos = chunk_bos;
    if (chunk_bos) c.ids.push_back(bos_token_id);
    c.ids.insert(c.ids.end(), context.begin() + begin, context.begin() + c.context_end);
    chunks.push_back(std::move(c));
  }
  return chunks;
}

uint64_t hash_tokens(std::span<const int32_t> ids) {
  // FNV-1a over the ids, finished with a splitmix64 mix; the length is folded in too.
  uint64_t h = 0xcbf29ce484222325ull ^ static_cast<uint64_t>(ids.size());
  for (int32_t id : ids) {
    h ^= static_cast<uint32_t>(id);
    h *= 0x100000001b3ull;
  }
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

std::vector<int32_t> compressed_prompt(std::span<const int32_t> prefix,
                                       std::span<const PlannedChunk> chunks,
                                       std::span<const int> selected,
                                       std::span<const std::vector<int>> kept,
                                       std::span<const int32_t> query) {
  std::vector<int32_t> out(prefix.begin(), prefix.end());
  for (size_t j = 0; j < selected.size(); ++j) {
    const std::vector<int32_t>& ids = chunks[selected[j]].ids;
    if (kept.empty()) {
      out.insert(out.end(), ids.begin(), ids.end());
    } else {
      for (int i : kept[j]) out.push_back(ids[i]);
    }
  }
  out.insert(out.end(), query.begin(), query.end());
  return out;
}

}  // namespace dllm
