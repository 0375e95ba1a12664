// Focus-dLLM's attention in a forward: dense layers up to the sink layer (sinks chosen there),
// block-sparse prompt attention in deeper layers. The model calls focus_layer_attention() per
// layer for a sequence whose SequenceForward carries a SparseAttentionPlan.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "common/model/device_buffer.h"
#include "kernels/backend.h"

namespace dllm {

// The instrumentation a request's sparse forwards summed (read from backend memory).
struct SparseAttentionStats {
  int64_t sink_steps = 0;         // forwards that chose sinks after an earlier one did
  double sink_overlap_sum = 0.0;  // Σ |sinks ∩ previous| / |sinks|
  int64_t mass_samples = 0;       // (forward, sparse layer) pairs measured
  double mass_recall_sum = 0.0;   // Σ attention mass on kept keys / dense mass
};

struct SparseAttentionPlan;

// What a request's sparse forwards leave behind (owned by the request, reused across steps). Its
// buffers live in the memory of the backend the forwards run on, so that every selection stays
// where it was made; they are allocated on first use and released with the state.
class SparseAttentionState {
 public:
  // Sums so far. Copies 32 bytes from the backend: waits for the queued work (not for use
  // inside a step; a request reads it once at its end).
  SparseAttentionStats stats() const;

  // focus_layer_attention() for this state's request.
  absl::Status attend_layer(const SparseAttentionPlan& plan, int layer, int num_layers,
                            const kernels::AttentionParams& dense, kernels::Backend* backend);

 private:
  void bind(kernels::Backend* backend, int num_layers);
  // mass_ = the dense attention mass per key of this layer's queries.
  void compute_attention_mass(const kernels::AttentionParams& d);
  void select_sinks(const SparseAttentionPlan& plan, const kernels::AttentionParams& d);
  const float* block_keys(const SparseAttentionPlan& plan, int layer,
                          const kernels::AttentionParams& d);
  void upload_focus_rows(const SparseAttentionPlan& plan, int num_q);
  void sample_mass_recall(const SparseAttentionPlan& plan, const kernels::AttentionParams& d);

  kernels::Backend* backend_ = nullptr;
  // Per layer: representative keys of the prompt blocks, and the prompt version they were
  // computed at (recomputed when the prompt K/V change).
  std::vector<DeviceBuffer<float>> block_keys_;
  std::vector<int64_t> block_keys_version_;
  DeviceBuffer<int32_t> sinks_[2];    // this forward's sinks and the previous one's, ascending
  DeviceBuffer<int32_t> sink_count_;  // [2], one per sinks_ buffer
  int current_sinks_ = 0;
  DeviceBuffer<int32_t> rows_;  // this forward's focus rows
  int num_rows_ = 0;
  DeviceBuffer<float> mass_;                             // attention mass per key
  DeviceBuffer<float> scores_;                           // block scores
  DeviceBuffer<int32_t> blocks_, tokens_, kept_counts_;  // the last sparse layer's selection
  DeviceBuffer<double> stats_;                           // FocusStatsParams::stats
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
// (its q, kv, out, shapes, key mask). Every backend; nothing waits for the device: selections
// stay in backend memory and their sizes reach the attention kernel as device counts.
absl::Status focus_layer_attention(const SparseAttentionPlan& plan, int layer, int num_layers,
                                   const kernels::AttentionParams& dense,
                                   kernels::Backend* backend);

// Selection rules on host memory (the CPU kernels' rules), exposed for tests.
// The top `count` prompt slots by mass (ties to the lower slot), ascending.
std::vector<int32_t> choose_sinks(std::span<const float> mass, int prompt_len, int count);
// Blocks in descending score (ties to the lower block) while the kept tokens (blocks ∪ sinks)
// stay within `budget`; ascending.
std::vector<int32_t> choose_blocks(std::span<const float> scores, std::span<const int32_t> sinks,
                                   int block_size, int prompt_len, int budget);

}  // namespace dllm
