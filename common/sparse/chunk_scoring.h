// Chunk scoring of Prefilling-dLLM: how well prefix + chunk predicts query + draft, for every
// chunk, with each chunk's K/V encoded once (or found in the ChunkKvCache) and every scoring
// variant run as suffix rows over the chunk's shared pages; and the top-K selection.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/transformer.h"
#include "common/sparse/chunk_kv_cache.h"
#include "common/sparse/chunk_plan.h"
#include "common/sparse/draft.h"

namespace dllm {

struct ChunkScoringInput {
  std::span<const int32_t> prefix;
  std::span<const PlannedChunk> chunks;
  std::span<const int32_t> query;
  const Draft* draft = nullptr;
  int score_batch = 8;   // chunks per forward (encodes, clean suffixes)
  // LLaDA leave-one-out variants per forward. A variant is only the suffix rows after its masked
  // target, so a forward of score_batch of them would be bound by reading the weights.
  int variant_batch = 64;
  int keep_top_k = 0;    // keep the K/V of the best keep_top_k chunks (reuse mode, token sparsity)
  std::string model_id;  // chunk cache key
};

struct ChunkScoring {
  std::vector<double> scores;  // per chunk: mean log-probability of the targets
  std::vector<bool> cache_hit;
  std::vector<std::shared_ptr<const ChunkKv>> kv;  // per chunk; non-null for the kept best ones
  int num_targets = 0;
  int64_t encode_forwards = 0;  // forwards that encoded prefix + chunk K/V
  int64_t chunks_encoded = 0;
  int64_t score_forwards = 0;   // forwards of scoring variants (suffix rows only)
  int64_t score_sequences = 0;  // scoring variants
  int64_t score_rows = 0;       // rows those variants ran
};

// Targets within the scoring suffix (query ++ draft ids): every query token and every committed
// draft slot.
std::vector<int> scoring_targets(int query_len, const Draft& draft);

// Score of each chunk: one causal pass over prefix + chunk + query + draft at contiguous
// positions; the mean log-probability of the targets. LLaDA (no shift): leave-one-out, each
// target masked in its own variant and read at its own row. Dream (shifted): one variant, target
// p read at row p − 1 (the first query token from the chunk's last row).
// The prefix + chunk part runs once per chunk (cached in `cache` when given, under
// (model_id, prefix hash, chunk hash)); variants run only the suffix rows against its shared pages.
absl::StatusOr<ChunkScoring> score_chunks(Transformer& model, ChunkKvCache* cache,
                                          const ChunkScoringInput& input);

// The prefix + chunk K/V of `chunks` (causal), one forward; Dream entries get the last row's
// log-probabilities.
absl::StatusOr<std::vector<std::shared_ptr<const ChunkKv>>> encode_chunks(
    Transformer& model, std::span<const int32_t> prefix,
    std::span<const PlannedChunk* const> chunks);

// The best `k` chunks (score descending, the earlier chunk first on ties), in source order.
std::vector<int> select_top_k_chunks(std::span<const double> scores, int k);

// log softmax(row)[token] in float64.
double log_prob(std::span<const float> row, int32_t token);

}  // namespace dllm
