// Focus-dLLM's per-layer attention: sinks at the sink layer, scored prompt blocks beyond it. Every
// step is queued on the backend without waiting for it: sinks, block scores, the chosen blocks
// and their counts stay in backend memory from the kernel that makes them to the one that reads
// them (the only host→device copy is the step's focus rows; nothing is read back).
#include "common/sparse/focus_attention.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "kernels/cpu/focus_kernels.h"

namespace dllm {
namespace {

int ceil_div(int a, int b) { return (a + b - 1) / b; }

}  // namespace

std::vector<int32_t> choose_sinks(std::span<const float> mass, int prompt_len, int count) {
  const int len = std::min<int>(prompt_len, static_cast<int>(mass.size()));
  std::vector<int32_t> sinks(std::max(0, std::min(count, len)));
  int32_t n = 0;
  kernels::cpu::select_sinks(
      {.scores = mass.data(), .len = len, .count = count, .sinks = sinks.data(), .num_sinks = &n});
  sinks.resize(n);
  return sinks;
}

std::vector<int32_t> choose_blocks(std::span<const float> scores, std::span<const int32_t> sinks,
                                   int block_size, int prompt_len, int budget) {
  std::vector<int32_t> blocks(scores.size()), tokens(sinks.size());
  const int32_t num_sinks = static_cast<int32_t>(sinks.size());
  int32_t counts[2] = {0, 0};
  kernels::cpu::select_blocks({.scores = scores.data(),
                               .num_blocks = static_cast<int>(scores.size()),
                               .block_size = block_size,
                               .prompt_len = prompt_len,
                               .budget = budget,
                               .sinks = sinks.data(),
                               .num_sinks = &num_sinks,
                               .blocks = blocks.data(),
                               .tokens = tokens.data(),
                               .counts = counts});
  blocks.resize(counts[0]);
  return blocks;
}

SparseAttentionStats SparseAttentionState::stats() const {
  SparseAttentionStats s;
  if (backend_ == nullptr) return s;
  double host[4];
  backend_->copy_to_host(host, stats_.data(), sizeof(host));
  s.sink_overlap_sum = host[0];
  s.sink_steps = static_cast<int64_t>(host[1]);
  s.mass_recall_sum = host[2];
  s.mass_samples = static_cast<int64_t>(host[3]);
  return s;
}

void SparseAttentionState::bind(kernels::Backend* backend, int num_layers) {
  if (backend_ == backend) return;
  // First use (a request runs on one backend): counts and sums start at zero.
  *this = SparseAttentionState();
  backend_ = backend;
  block_keys_.resize(num_layers);
  block_keys_version_.assign(num_layers, -1);
  sink_count_ = DeviceBuffer<int32_t>(backend, 2);
  backend->fill_zero(sink_count_.data(), 2 * sizeof(int32_t));
  kept_counts_ = DeviceBuffer<int32_t>(backend, 2);
  backend->fill_zero(kept_counts_.data(), 2 * sizeof(int32_t));
  stats_ = DeviceBuffer<double>(backend, 4);
  backend->fill_zero(stats_.data(), 4 * sizeof(double));
}

void SparseAttentionState::compute_attention_mass(const kernels::AttentionParams& d) {
  mass_.ensure(backend_, d.num_keys);
  backend_->attention_mass_per_key({.q = d.q,
                                    .kv = d.kv,
                                    .num_q = d.num_q,
                                    .num_keys = d.num_keys,
                                    .num_heads = d.num_heads,
                                    .num_kv_heads = d.num_kv_heads,
                                    .head_dim = d.head_dim,
                                    .scale = d.scale,
                                    .key_mask = d.key_mask,
                                    .out = mass_.data()});
}

void SparseAttentionState::select_sinks(const SparseAttentionPlan& plan,
                                        const kernels::AttentionParams& d) {
  const int prompt_len = std::min(plan.prompt_len, d.num_keys);
  compute_attention_mass(d);
  const int previous = current_sinks_, next = 1 - current_sinks_;
  sinks_[next].ensure(backend_, std::max(1, plan.num_sinks));
  backend_->select_sinks({.scores = mass_.data(),
                          .len = prompt_len,
                          .count = plan.num_sinks,
                          .sinks = sinks_[next].data(),
                          .num_sinks = sink_count_.data() + next});
  if (sinks_[previous].data() != nullptr)  // the first forward has nothing to compare with
    backend_->accumulate_focus_stats({.sinks = sinks_[next].data(),
                                      .num_sinks = sink_count_.data() + next,
                                      .previous = sinks_[previous].data(),
                                      .num_previous = sink_count_.data() + previous,
                                      .stats = stats_.data()});
  current_sinks_ = next;
}

const float* SparseAttentionState::block_keys(const SparseAttentionPlan& plan, int layer,
                                              const kernels::AttentionParams& d) {
  const int prompt_len = std::min(plan.prompt_len, d.num_keys);
  const size_t floats =
      static_cast<size_t>(ceil_div(prompt_len, plan.block_size)) * d.num_kv_heads * d.head_dim;
  DeviceBuffer<float>& keys = block_keys_[layer];
  if (block_keys_version_[layer] != plan.prompt_version || keys.size() != floats) {
    if (keys.size() != floats) keys = DeviceBuffer<float>(backend_, floats);
    backend_->block_representative_keys({.kv = d.kv,
                                         .num_slots = prompt_len,
                                         .block_size = plan.block_size,
                                         .num_kv_heads = d.num_kv_heads,
                                         .head_dim = d.head_dim,
                                         .out = keys.data()});
    block_keys_version_[layer] = plan.prompt_version;
  }
  return keys.data();
}

void SparseAttentionState::upload_focus_rows(const SparseAttentionPlan& plan, int num_q) {
  std::vector<int32_t> rows(plan.focus_rows.begin(), plan.focus_rows.end());
  if (rows.empty()) {
    rows.resize(num_q);
    std::iota(rows.begin(), rows.end(), 0);
  }
  num_rows_ = static_cast<int>(rows.size());
  rows_.ensure(backend_, std::max<size_t>(1, rows.size()));
  backend_->copy_from_host(rows_.data(), rows.data(), rows.size() * sizeof(int32_t));
}

void SparseAttentionState::sample_mass_recall(const SparseAttentionPlan& plan,
                                              const kernels::AttentionParams& d) {
  compute_attention_mass(d);
  backend_->accumulate_focus_stats({.mass = mass_.data(),
                                    .num_keys = d.num_keys,
                                    .prompt_len = std::min(plan.prompt_len, d.num_keys),
                                    .block_size = plan.block_size,
                                    .blocks = blocks_.data(),
                                    .tokens = tokens_.data(),
                                    .counts = kept_counts_.data(),
                                    .stats = stats_.data()});
}

absl::Status SparseAttentionState::attend_layer(const SparseAttentionPlan& plan, int layer,
                                                int num_layers, const kernels::AttentionParams& d,
                                                kernels::Backend* backend) {
  if (d.causal) return absl::InvalidArgumentError("focus sparse attention is bidirectional");
  if (plan.block_size <= 0) return absl::InvalidArgumentError("focus kv block must be > 0");
  bind(backend, num_layers);
  if (!plan.sparse_layer(layer, num_layers)) {
    backend->attention(d);
    if (layer == plan.sink_layer) {
      select_sinks(plan, d);
      upload_focus_rows(plan, d.num_q);  // read by this forward's sparse layers
    }
    return absl::OkStatus();
  }

  const int prompt_len = std::min(plan.prompt_len, d.num_keys);
  const int num_blocks = ceil_div(prompt_len, plan.block_size);
  const float* keys = block_keys(plan, layer, d);
  scores_.ensure(backend, std::max(1, num_blocks));
  backend->block_scores({.q = d.q,
                         .rows = rows_.data(),
                         .num_rows = num_rows_,
                         .block_keys = keys,
                         .num_blocks = num_blocks,
                         .num_heads = d.num_heads,
                         .num_kv_heads = d.num_kv_heads,
                         .head_dim = d.head_dim,
                         .scale = d.scale,
                         .out = scores_.data()});
  // Sinks beyond the budget are cut (lowest mass first is not known here: keep the lowest slots).
  const int max_tokens = std::max(0, std::min(plan.num_sinks, plan.token_budget));
  blocks_.ensure(backend, std::max(1, num_blocks));
  tokens_.ensure(backend, std::max(1, max_tokens));
  backend->select_blocks({.scores = scores_.data(),
                          .num_blocks = num_blocks,
                          .block_size = plan.block_size,
                          .prompt_len = prompt_len,
                          .budget = plan.token_budget,
                          .sinks = sinks_[current_sinks_].data(),
                          .num_sinks = sink_count_.data() + current_sinks_,
                          .blocks = blocks_.data(),
                          .tokens = tokens_.data(),
                          .counts = kept_counts_.data()});
  // Upper bounds of the device counts (they size the kernel's key range): the chosen blocks hold
  // at most `budget` prompt tokens, so at most budget / block_size full blocks and one short.
  const int max_blocks = std::min(num_blocks, std::max(0, plan.token_budget) / plan.block_size + 1);
  backend->sparse_attention({.q = d.q,
                             .kv = d.kv,
                             .out = d.out,
                             .num_q = d.num_q,
                             .num_heads = d.num_heads,
                             .num_kv_heads = d.num_kv_heads,
                             .head_dim = d.head_dim,
                             .scale = d.scale,
                             .blocks = blocks_.data(),
                             .num_blocks = max_blocks,
                             .block_size = plan.block_size,
                             .prompt_len = prompt_len,
                             .tokens = tokens_.data(),
                             .num_tokens = max_tokens,
                             .response_begin = prompt_len,
                             .response_end = d.num_keys,
                             .key_mask = d.key_mask,
                             .counts = kept_counts_.data()});
  if (plan.measure_mass_recall) sample_mass_recall(plan, d);
  return absl::OkStatus();
}

absl::Status focus_layer_attention(const SparseAttentionPlan& plan, int layer, int num_layers,
                                   const kernels::AttentionParams& d, kernels::Backend* backend) {
  if (plan.state == nullptr) return absl::InvalidArgumentError("sparse plan without state");
  return plan.state->attend_layer(plan, layer, num_layers, d, backend);
}

}  // namespace dllm
