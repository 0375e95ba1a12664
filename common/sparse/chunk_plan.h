// Cutting a context into BOS-anchored chunks (no token dropped), hashing token runs, and the
// compressed prompt of a chunk selection.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace dllm {

struct PlannedChunk {
  int index = 0;          // in source order
  int context_begin = 0;  // the context tokens [begin, end) it holds
  int context_end = 0;
  std::vector<int32_t> ids;  // [BOS] + context[begin, end)
  bool has_bos = false;
};

// Chunks of `chunk_size` tokens: with chunk_bos each is BOS + the next chunk_size - 1 context
// tokens (the next chunk continues where this one stopped; the last may be shorter); without, the
// next chunk_size tokens. chunk_size must leave room for a context token.
std::vector<PlannedChunk> plan_chunks(std::span<const int32_t> context, int chunk_size,
                                      bool chunk_bos, int32_t bos_token_id);

// A 64-bit content hash of a token run (the chunk K/V cache key).
uint64_t hash_tokens(std::span<const int32_t> ids);

// prefix ++ (for each selected chunk in source order: its kept tokens) ++ query.
// `kept[j]` lists indices into chunks[selected[j]].ids, ascending; empty `kept` = every token.
std::vector<int32_t> compressed_prompt(std::span<const int32_t> prefix,
                                       std::span<const PlannedChunk> chunks,
                                       std::span<const int> selected,
                                       std::span<const std::vector<int>> kept,
                                       std::span<const int32_t> query);

}  // namespace dllm
