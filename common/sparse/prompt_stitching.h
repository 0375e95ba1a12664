// Reuse mode of Prefilling-dLLM: the decode cache of a compressed prompt assembled from cached
// chunk K/V — prefix + the selected chunks' (kept) tokens at contiguous positions, their K
// re-rotated from where they were encoded — so that only query + masks need encoding.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/transformer.h"
#include "common/sparse/chunk_kv_cache.h"
#include "common/sparse/token_sparsity.h"

namespace dllm {

struct StitchedPrompt {
  std::vector<int32_t> ids;        // the frozen part's tokens: prefix ++ kept chunk tokens
                                   // (per-head selection: the tokens of layer 0, head 0)
  std::unique_ptr<KvCache> cache;  // slots [0, frozen_len) filled; frozen_len + extra_slots long
  int frozen_len = 0;
  int shared_pages = 0;    // leading pages shared with the first chunk's entry (no copy)
  int64_t rows_moved = 0;  // (slot, layer) K/V rows copied and re-rotated
};

// `chunks`: the selected chunks in source order, all encoded after the same prefix.
// `selections`: empty (every token), or one per chunk (global or per-head kept tokens).
// The prefix and the leading run of slots that do not move share the first chunk's pages
// (whole pages only); every other row is copied with the backend's rerotate_kv_rows.
absl::StatusOr<StitchedPrompt> stitch_prompt_cache(
    Transformer& model, std::span<const std::shared_ptr<const ChunkKv>> chunks,
    std::span<const ChunkTokenSelection> selections, int extra_slots);

}  // namespace dllm
