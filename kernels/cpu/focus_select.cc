// CPU twins of Focus-dLLM's selections (sinks by attention mass, prompt blocks by score within a
// token budget) and of its instrumentation sums.
#include <algorithm>
#include <numeric>
#include <vector>

#include "kernels/cpu/focus_kernels.h"

namespace dllm::kernels::cpu {
namespace {

// Indices of values[0, n) by descending value, ties to the lower index.
std::vector<int32_t> ranked(const float* values, int n) {
  std::vector<int32_t> order(std::max(n, 0));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return values[a] > values[b]; });
  return order;
}

}  // namespace

void select_sinks(const SinkSelectParams& p) {
  std::vector<int32_t> order = ranked(p.scores, p.len);
  order.resize(std::min<size_t>(order.size(), std::max(p.count, 0)));
  std::sort(order.begin(), order.end());
  std::copy(order.begin(), order.end(), p.sinks);
  *p.num_sinks = static_cast<int32_t>(order.size());
}

void select_blocks(const BlockSelectParams& p) {
  const int num_sinks = std::min(*p.num_sinks, std::max(p.budget, 0));
  const int32_t* sinks_end = p.sinks + num_sinks;
  int kept = num_sinks;
  std::vector<int32_t> chosen;
  for (int32_t b : ranked(p.scores, p.num_blocks)) {
    const int begin = b * p.block_size, end = std::min(p.prompt_len, begin + p.block_size);
    const int32_t* lo = std::lower_bound(p.sinks, sinks_end, begin);
    const int32_t* hi = std::lower_bound(p.sinks, sinks_end, end);
    const int added = (end - begin) - static_cast<int>(hi - lo);
    if (kept + added > p.budget) break;
    kept += added;
    chosen.push_back(b);
  }
  std::sort(chosen.begin(), chosen.end());
  std::copy(chosen.begin(), chosen.end(), p.blocks);
  int tokens = 0;
  for (const int32_t* s = p.sinks; s != sinks_end; ++s)
    if (!std::binary_search(chosen.begin(), chosen.end(), *s / p.block_size))
      p.tokens[tokens++] = *s;
  p.counts[0] = static_cast<int32_t>(chosen.size());
  p.counts[1] = tokens;
}

void accumulate_focus_stats(const FocusStatsParams& p) {
  if (p.sinks != nullptr && *p.num_sinks > 0 && *p.num_previous > 0) {
    std::vector<int32_t> common;
    std::set_intersection(p.sinks, p.sinks + *p.num_sinks, p.previous, p.previous + *p.num_previous,
                          std::back_inserter(common));
    p.stats[0] += static_cast<double>(common.size()) / *p.num_sinks;
    p.stats[1] += 1.0;
  }
  if (p.mass == nullptr) return;
  const int32_t* blocks_end = p.blocks + p.counts[0];
  const int32_t* tokens_end = p.tokens + p.counts[1];
  double kept = 0.0, total = 0.0;
  for (int j = 0; j < p.num_keys; ++j) {
    total += p.mass[j];
    const bool in_block =
        j < p.prompt_len && std::binary_search(p.blocks, blocks_end, j / p.block_size);
    if (j >= p.prompt_len || in_block || std::binary_search(p.tokens, tokens_end, j))
      kept += p.mass[j];
  }
  if (total > 0.0) {
    p.stats[2] += kept / total;
    p.stats[3] += 1.0;
  }
}

}  // namespace dllm::kernels::cpu
