// Focus-dLLM's per-layer attention: sinks at the sink layer, scored prompt blocks beyond it.
#include "common/sparse/focus_attention.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/focus_kernels.h"

namespace dllm {
namespace {

// Indices of values sorted by descending value, ties to the lower index.
std::vector<int32_t> ranked(std::span<const float> values) {
  std::vector<int32_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return values[a] > values[b]; });
  return order;
}

std::vector<float> mass_per_key(const kernels::AttentionParams& d) {
  std::vector<float> mass(d.num_keys);
  kernels::cpu::attention_mass_per_key({.q = d.q,
                                        .kv = d.kv,
                                        .num_q = d.num_q,
                                        .num_keys = d.num_keys,
                                        .num_heads = d.num_heads,
                                        .num_kv_heads = d.num_kv_heads,
                                        .head_dim = d.head_dim,
                                        .scale = d.scale,
                                        .key_mask = d.key_mask,
                                        .out = mass.data()});
  return mass;
}

void record_sinks(SparseAttentionState& st, std::vector<int32_t> sinks) {
  if (!st.sinks.empty() && !sinks.empty()) {
    std::vector<int32_t> common;
    std::set_intersection(sinks.begin(), sinks.end(), st.sinks.begin(), st.sinks.end(),
                          std::back_inserter(common));
    st.sink_overlap_sum += static_cast<double>(common.size()) / sinks.size();
    ++st.sink_steps;
  }
  st.previous_sinks = std::move(st.sinks);
  st.sinks = std::move(sinks);
}

}  // namespace

std::vector<int32_t> choose_sinks(std::span<const float> mass, int prompt_len, int count) {
  std::vector<int32_t> order = ranked(mass.subspan(0, std::min<size_t>(prompt_len, mass.size())));
  order.resize(std::min<size_t>(order.size(), std::max(count, 0)));
  std::sort(order.begin(), order.end());
  return order;
}

std::vector<int32_t> choose_blocks(std::span<const float> scores, std::span<const int32_t> sinks,
                                   int block_size, int prompt_len, int budget) {
  int kept = static_cast<int>(sinks.size());
  std::vector<int32_t> chosen;
  for (int32_t b : ranked(scores)) {
    const int begin = b * block_size, end = std::min(prompt_len, begin + block_size);
    const auto lo = std::lower_bound(sinks.begin(), sinks.end(), begin);
    const auto hi = std::lower_bound(sinks.begin(), sinks.end(), end);
    const int added = (end - begin) - static_cast<int>(hi - lo);
    if (kept + added > budget) break;
    kept += added;
    chosen.push_back(b);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

absl::Status focus_layer_attention(const SparseAttentionPlan& plan, int layer, int num_layers,
                                   const kernels::AttentionParams& d, kernels::Backend* backend) {
  if (backend->name() != "cpu")
    return absl::UnimplementedError(
        absl::StrCat("--policy focus: sparse attention runs on the CPU backend only for now (no ",
                     std::string(backend->name()), " kernels yet)"));
  if (d.causal) return absl::InvalidArgumentError("focus sparse attention is bidirectional");
  if (plan.state == nullptr) return absl::InvalidArgumentError("sparse plan without state");
  SparseAttentionState& st = *plan.state;
  const int prompt_len = std::min(plan.prompt_len, d.num_keys);
  if (!plan.sparse_layer(layer, num_layers)) {
    backend->attention(d);
    if (layer == plan.sink_layer)
      record_sinks(st, choose_sinks(mass_per_key(d), prompt_len, plan.num_sinks));
    return absl::OkStatus();
  }

  // Representative keys of this layer's prompt blocks, recomputed when the prompt changed.
  const int num_blocks = (prompt_len + plan.block_size - 1) / plan.block_size;
  const int64_t kv_row = static_cast<int64_t>(d.num_kv_heads) * d.head_dim;
  if (st.block_keys.size() < static_cast<size_t>(num_layers)) {
    st.block_keys.resize(num_layers);
    st.block_keys_version.resize(num_layers, -1);
  }
  std::vector<float>& keys = st.block_keys[layer];
  if (st.block_keys_version[layer] != plan.prompt_version ||
      keys.size() != static_cast<size_t>(num_blocks * kv_row)) {
    keys.assign(num_blocks * kv_row, 0.0f);
    kernels::cpu::block_representative_keys({.kv = d.kv,
                                             .num_slots = prompt_len,
                                             .block_size = plan.block_size,
                                             .num_kv_heads = d.num_kv_heads,
                                             .head_dim = d.head_dim,
                                             .out = keys.data()});
    st.block_keys_version[layer] = plan.prompt_version;
  }
  std::vector<int32_t> rows(plan.focus_rows.begin(), plan.focus_rows.end());
  if (rows.empty()) {
    rows.resize(d.num_q);
    std::iota(rows.begin(), rows.end(), 0);
  }
  std::vector<float> scores(num_blocks);
  kernels::cpu::block_scores({.q = d.q,
                              .rows = rows.data(),
                              .num_rows = static_cast<int>(rows.size()),
                              .block_keys = keys.data(),
                              .num_blocks = num_blocks,
                              .num_heads = d.num_heads,
                              .num_kv_heads = d.num_kv_heads,
                              .head_dim = d.head_dim,
                              .scale = d.scale,
                              .out = scores.data()});
  // Sinks beyond the budget are cut (lowest mass first is not known here: keep the lowest slots).
  std::vector<int32_t> sinks = st.sinks;
  if (static_cast<int>(sinks.size()) > plan.token_budget) sinks.resize(plan.token_budget);
  std::vector<int32_t> blocks =
      choose_blocks(scores, sinks, plan.block_size, prompt_len, plan.token_budget);
  std::vector<int32_t> tokens;  // sinks outside the kept blocks
  for (int32_t s : sinks)
    if (!std::binary_search(blocks.begin(), blocks.end(), s / plan.block_size)) tokens.push_back(s);
  kernels::cpu::sparse_attention({.q = d.q,
                                  .kv = d.kv,
                                  .out = d.out,
                                  .num_q = d.num_q,
                                  .num_heads = d.num_heads,
                                  .num_kv_heads = d.num_kv_heads,
                                  .head_dim = d.head_dim,
                                  .scale = d.scale,
                                  .blocks = blocks.data(),
                                  .num_blocks = static_cast<int>(blocks.size()),
                                  .block_size = plan.block_size,
                                  .prompt_len = prompt_len,
                                  .tokens = tokens.data(),
                                  .num_tokens = static_cast<int>(tokens.size()),
                                  .response_begin = prompt_len,
                                  .response_end = d.num_keys,
                                  .key_mask = d.key_mask});
  if (plan.measure_mass_recall) {
    const std::vector<float> mass = mass_per_key(d);
    double kept = 0.0, total = 0.0;
    for (int j = 0; j < d.num_keys; ++j) {
      total += mass[j];
      const bool in_block =
          j < prompt_len && std::binary_search(blocks.begin(), blocks.end(), j / plan.block_size);
      if (j >= prompt_len || in_block || std::binary_search(tokens.begin(), tokens.end(), j))
        kept += mass[j];
    }
    if (total > 0.0) {
      st.mass_recall_sum += kept / total;
      ++st.mass_samples;
    }
  }
  st.last_blocks = std::move(blocks);
  return absl::OkStatus();
}

}  // namespace dllm
