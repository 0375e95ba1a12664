// LanguageModel: what generation schedules need from a model — a batched forward over some
// rows of each sequence, optionally through a per-sequence K/V cache.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model/model_config.h"

namespace dllm {

struct SparseAttentionPlan;  // common/sparse/focus_attention.h

// Opaque per-sequence K/V storage for every layer, `capacity` positions long (K after RoPE).
class KvCache {
 public:
  virtual ~KvCache() = default;
  virtual int capacity() const = 0;
};

// One sequence's part of a forward.
//  - Without a cache: the rows are the whole sequence; attention is over the rows themselves.
//  - With a cache: the rows' fresh K/V are written at `positions` first, then every row
//    attends over cache positions [0, attend_len) (prefix cache: rows = [block start, end);
//    dual cache: rows = the block; block entry: rows = everything).
struct SequenceForward {
  std::span<const int32_t> ids;        // tokens of the rows to run
  std::span<const int32_t> positions;  // RoPE positions of those rows (same length as ids)
  // Where each row sits in the sequence (cache slot; key index for the key mask and for
  // `causal`). Empty = positions. Differs from positions only for padded inputs whose RoPE
  // positions skip the padding (Dream's tok_idx).
  std::span<const int32_t> slots;
  KvCache* cache = nullptr;
  int attend_len = 0;                  // with a cache: keys [0, attend_len)
  std::span<const uint8_t> key_mask;   // optional, indexed by slot; 0 = padding key. Length =
                                       // attend_len (cache) or max slot + 1 (no cache)
  bool causal = false;                 // key slot <= row slot (chunk scoring, drafts)
  std::span<const int32_t> logit_rows; // indices into ids that need logits; empty = all rows
  // Optional (needs a cache): Focus-dLLM's per-layer sparse prompt attention for these rows.
  const SparseAttentionPlan* sparse = nullptr;
};

// A greedy sampler's view of one logits row (see kernels::ConfidenceKind).
struct GreedyChoice {
  int32_t token = 0;
  double confidence = 0.0;
};

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;
  virtual const ModelConfig& config() const = 0;
  // A cache of at least `capacity` slots; ResourceExhausted when the K/V pool is full.
  virtual absl::StatusOr<std::unique_ptr<KvCache>> new_kv_cache(int capacity) = 0;
  // logits->at(b): [rows needing logits of batch[b]] × config().embedding_rows, float32, host.
  virtual absl::Status forward(std::span<const SequenceForward> batch,
                               std::vector<std::vector<float>>* logits) = 0;
  // forward(), reduced to the greedy token and its confidence per logit row. Models override it
  // to reduce where the logits are (a GPU copies back 12 bytes a row instead of the vocabulary);
  // this default reduces the full logits on the host.
  virtual absl::Status forward_greedy(std::span<const SequenceForward> batch,
                                      kernels::ConfidenceKind kind,
                                      std::vector<std::vector<GreedyChoice>>* choices);
};

}  // namespace dllm
