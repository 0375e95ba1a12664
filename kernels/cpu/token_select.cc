// CPU token selection and target log-probabilities of Prefilling-dLLM (the references the CUDA
// twins in kernels/cuda/prefilling_kernels.cu are held to).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/cpu/prefilling_kernels.h"

namespace dllm::kernels::cpu {

void select_top_tokens(const TokenSelectParams& p) {
  const int n = p.len, keep = std::min(p.capacity, n), half = p.pool_width / 2;
  if (n <= 0 || keep <= 0) return;
  std::vector<float> total(n), pooled(n);
  std::vector<int> order(n);
  for (int o = 0; o < p.num_outputs; ++o) {
    std::fill(total.begin(), total.end(), 0.0f);
    for (int g = 0; g < p.group; ++g) {
      const float* row = p.scores + (static_cast<int64_t>(o) * p.group + g) * p.row_stride;
      for (int t = 0; t < n; ++t) total[t] += row[t];
    }
    for (int t = 0; t < n; ++t) {
      float m = total[t];
      for (int u = std::max(0, t - half); u <= std::min(n - 1, t + half); ++u)
        m = std::max(m, total[u]);
      pooled[t] = m;
    }
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      if (p.keep_first && (a == 0 || b == 0)) return a == 0 && b != 0;
      return pooled[a] > pooled[b];
    });
    std::sort(order.begin(), order.begin() + keep);
    std::copy_n(order.begin(), keep, p.kept + static_cast<int64_t>(o) * keep);
  }
}

void target_log_probs(const TargetLogProbParams& p) {
  for (int i = 0; i < p.num_rows; ++i) {
    const float* row = p.logits + static_cast<int64_t>(i) * p.vocab;
    double mx = -INFINITY;
    for (int v = 0; v < p.vocab; ++v) mx = std::max(mx, static_cast<double>(row[v]));
    double sum = 0.0;
    for (int v = 0; v < p.vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - mx);
    p.out[i] = static_cast<double>(row[p.tokens[i]]) - mx - std::log(sum);
  }
}

}  // namespace dllm::kernels::cpu
