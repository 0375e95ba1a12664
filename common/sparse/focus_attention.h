// Focus-dLLM's attention in a forward: dense layers up to the sink layer (sinks chosen there),
// block-sparse prompt attention in deeper layers. The model calls focus_layer_attention() per
// layer for a sequence whose SequenceForward carries a SparseAttentionPlan.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "kernels/backend.h"

namespace dllm {

// What a request's sparse forwards leave behind (owned by the request, reused across steps).
struct SparseAttentionState {
  // Per layer: representative keys of the prompt blocks, and the prompt version they were
  // computed at (recomputed when the prompt K/V change).
  std::vector<std::vector<float>> block_keys;
  std::vector<int64_t> block_keys_version;
  std::vector<int32_t> sinks;           // this forward's sink slots, ascending
  std::vector<int32_t> previous_sinks;  // the previous forward's
  std::vector<int32_t> last_blocks;     // blocks kept by the last sparse layer, ascending
  // Instrumentation.
  int64_t sink_steps = 0;         // forwards that chose sinks after an earlier one did
  double sink_overlap_sum = 0.0;  // Σ |sinks ∩ previous| / |sinks|
  int64_t mass_samples = 0;       // (forward, sparse layer) pairs measured
  double mass_recall_sum = 0.0;   // Σ attention mass on kept keys / dense mass
};

struct SparseAttentionPlan {
  int sink_layer = 0;  // layers <= sink_layer dense; sinks chosen at sink_layer
  int dense_tail = 0;  // the last dense_tail layers dense
  int num_sinks = 64;
  int block_size = 64;
  int token_budget = 2048;  // prompt tokens kept in a sparse layer, sinks included
  int prompt_len = 0;       // slots [0, prompt_len) are prompt; the rest is response (all kept)
  std::span<const int32_t> focus_rows;  // rows (indices into the forward's ids) scoring blocks;
                                        // empty = every row
  int64_t prompt_version = 0;           // changes whenever prompt K/V were rewritten
  bool measure_mass_recall = false;     // compare kept mass with dense in this forward
  SparseAttentionState* state = nullptr;

  bool sparse_layer(int layer, int num_layers) const {
    return layer > sink_layer && layer < num_layers - dense_tail;
  }
};

// The attention of layer `layer` for one sequence: `dense` is what the dense path would run
// (its q, kv, out, shapes, key mask). CPU backend only; Unimplemented on others for now.
absl::Status focus_layer_attention(const SparseAttentionPlan& plan, int layer, int num_layers,
                                   const kernels::AttentionParams& dense,
                                   kernels::Backend* backend);

// Selection rules, exposed for tests.
// The top `count` prompt slots by mass (ties to the lower slot), ascending.
std::vector<int32_t> choose_sinks(std::span<const float> mass, int prompt_len, int count);
// Blocks in descending score (ties to the lower block) while the kept tokens (blocks ∪ sinks)
// stay within `budget`; ascending.
std::vector<int32_t> choose_blocks(std::span<const float> scores, std::span<const int32_t> sinks,
                                   int block_size, int prompt_len, int budget);

}  // namespace dllm
