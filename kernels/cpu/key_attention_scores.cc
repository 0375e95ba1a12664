// CPU attention mass per key: Prefilling-dLLM intra-chunk token scoring and Focus-dLLM sinks.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/prefilling_kernels.h"

namespace dllm::kernels::cpu {

void accumulate_key_attention_scores(const KeyAttentionScoreParams& p) {
  const int hd = p.head_dim;
  const int group = p.num_heads / p.num_kv_heads;
  const int64_t kv_row = static_cast<int64_t>(p.num_kv_heads) * hd;
  std::vector<float> keys(static_cast<size_t>(p.num_keys) * hd);
  std::vector<double> s(p.num_keys), mass(p.num_keys);
  for (int kvh = 0; kvh < p.num_kv_heads; ++kvh) {
    std::fill(mass.begin(), mass.end(), 0.0);  // summed in float64, added to `out` once
    for (int j = 0; j < p.num_keys; ++j)
      if (p.key_mask == nullptr || p.key_mask[j] != 0)
        load_row_f32(p.kv.k, p.kv.dtype, p.kv.row_offset(j, kv_row) + int64_t{kvh} * hd, hd,
                     keys.data() + static_cast<size_t>(j) * hd);
    float* out = p.out + static_cast<int64_t>(kvh) * p.num_keys;
    for (int r = 0; r < p.num_q; ++r) {
      for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
        const float* q = p.q + (static_cast<int64_t>(r) * p.num_heads + h) * hd;
        double mx = -std::numeric_limits<double>::infinity();
        for (int j = 0; j < p.num_keys; ++j) {
          const bool visible =
              (p.key_mask == nullptr || p.key_mask[j] != 0) && (!p.causal || j <= p.q_slots[r]);
          if (!visible) {
            s[j] = -std::numeric_limits<double>::infinity();
            continue;
          }
          const float* k = keys.data() + static_cast<size_t>(j) * hd;
          double dot = 0.0;
          for (int d = 0; d < hd; ++d) dot += static_cast<double>(q[d]) * k[d];
          s[j] = dot * p.scale;
          mx = std::max(mx, s[j]);
        }
        if (std::isinf(mx)) continue;  // no visible key
        double sum = 0.0;
        for (int j = 0; j < p.num_keys; ++j) sum += s[j] = std::exp(s[j] - mx);
        for (int j = 0; j < p.num_keys; ++j) mass[j] += s[j] / sum;
      }
    }
    for (int j = 0; j < p.num_keys; ++j) out[j] += static_cast<float>(mass[j]);
  }
}

}  // namespace dllm::kernels::cpu
