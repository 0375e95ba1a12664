// Intra-chunk token sparsity of Prefilling-dLLM: each selected chunk keeps the `capacity` tokens
// the last query rows attend to most (max-pooled along tokens, BOS always kept), one set per
// chunk (global) or one per (layer, KV head).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/transformer.h"
#include "common/sparse/chunk_kv_cache.h"
#include "common/sparse/prefilling_options.h"

namespace dllm {

struct ChunkTokenSelection {
  std::vector<int> global;                 // kGlobal: indices into the chunk's ids, ascending
  std::vector<std::vector<int>> per_head;  // kPerHead: [layer * kv_heads + head], equal lengths
};

// pooled[i] = max(scores[i - width/2 .. i + width/2]) within the chunk.
std::vector<float> max_pool_scores(std::span<const float> scores, int width);
// The `capacity` best indices (score descending, lower index on ties), ascending; index 0 always
// when keep_first (the BOS anchor). All when capacity >= size.
std::vector<int> top_tokens(std::span<const float> pooled, int capacity, bool keep_first);

// Attention the last `probe_rows` query rows pay each chunk token, per layer and KV head:
// [chunk][(layer * kv_heads + head) * chunk_len + token], the rows running as the clean scoring
// suffix (query ++ draft, causal) over each chunk's shared pages. Computed on the model's backend
// and copied to the host (tests, reports); select_chunk_tokens keeps them on the backend.
absl::StatusOr<std::vector<std::vector<float>>> chunk_token_attention(
    Transformer& model, std::span<const std::shared_ptr<const ChunkKv>> chunks,
    std::span<const int32_t> suffix, int query_len, int probe_rows, int score_batch);

// The kept tokens of each chunk under options.token_capacity / token_select: scores, their sum
// over (layer, KV head) for global selection, max-pooling and the top-capacity pick all run on the
// backend (select_top_tokens); only the kept indices cross to the host.
absl::StatusOr<std::vector<ChunkTokenSelection>> select_chunk_tokens(
    Transformer& model, std::span<const std::shared_ptr<const ChunkKv>> chunks,
    std::span<const int32_t> suffix, int query_len, const PrefillingOptions& options);

}  // namespace dllm
