// CPU twins of Focus-dLLM's kernels: attention mass per key, block keys and scores, sparse
// attention over block / token / response segments (selection: focus_select.cc).
#include "kernels/cpu/focus_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/prefilling_kernels.h"
#include "kernels/cpu/vector_math.h"

namespace dllm::kernels::cpu {
namespace {

bool visible(const uint8_t* key_mask, int64_t slot) {
  return key_mask == nullptr || key_mask[slot] != 0;
}

}  // namespace

void attention_mass_per_key(const AttentionMassParams& p) {
  // The per-KV-head sums of the token-scoring kernel, averaged over rows and query heads.
  std::vector<float> per_kv_head(static_cast<size_t>(p.num_kv_heads) * p.num_keys, 0.0f);
  accumulate_key_attention_scores({.q = p.q,
                                   .kv = p.kv,
                                   .num_q = p.num_q,
                                   .num_keys = p.num_keys,
                                   .num_heads = p.num_heads,
                                   .num_kv_heads = p.num_kv_heads,
                                   .head_dim = p.head_dim,
                                   .scale = p.scale,
                                   .key_mask = p.key_mask,
                                   .out = per_kv_head.data()});
  const double norm = 1.0 / (static_cast<double>(std::max(p.num_q, 1)) * p.num_heads);
  for (int j = 0; j < p.num_keys; ++j) {
    double mass = 0.0;
    for (int kvh = 0; kvh < p.num_kv_heads; ++kvh)
      mass += per_kv_head[static_cast<size_t>(kvh) * p.num_keys + j];
    p.out[j] = static_cast<float>(mass * norm);
  }
}

void block_representative_keys(const BlockKeyParams& p) {
  const int hd = p.head_dim;
  const int64_t kv_row = static_cast<int64_t>(p.num_kv_heads) * hd;
  const int num_blocks = (p.num_slots + p.block_size - 1) / p.block_size;
  std::vector<float> key(hd);
  std::vector<double> sum(kv_row);
  for (int b = 0; b < num_blocks; ++b) {
    const int begin = b * p.block_size, end = std::min(p.num_slots, begin + p.block_size);
    std::fill(sum.begin(), sum.end(), 0.0);
    for (int slot = begin; slot < end; ++slot)
      for (int kvh = 0; kvh < p.num_kv_heads; ++kvh) {
        load_row_f32(p.kv.k, p.kv.dtype, p.kv.row_offset(slot, kv_row) + int64_t{kvh} * hd, hd,
                     key.data());
        for (int e = 0; e < hd; ++e) sum[int64_t{kvh} * hd + e] += key[e];
      }
    float* out = p.out + b * kv_row;
    for (int64_t e = 0; e < kv_row; ++e) out[e] = static_cast<float>(sum[e] / (end - begin));
  }
}

void block_scores(const BlockScoreParams& p) {
  const int hd = p.head_dim;
  const int group = p.num_heads / p.num_kv_heads;
  const int64_t kv_row = static_cast<int64_t>(p.num_kv_heads) * hd;
  for (int b = 0; b < p.num_blocks; ++b) {
    double best = -std::numeric_limits<double>::infinity();
    for (int r = 0; r < p.num_rows; ++r) {
      double mean = 0.0;
      for (int h = 0; h < p.num_heads; ++h) {
        const float* q = p.q + (static_cast<int64_t>(p.rows[r]) * p.num_heads + h) * hd;
        const float* k = p.block_keys + b * kv_row + int64_t{h / group} * hd;
        double d = 0.0;
        for (int e = 0; e < hd; ++e) d += static_cast<double>(q[e]) * k[e];
        mean += d;
      }
      best = std::max(best, mean * p.scale / p.num_heads);
    }
    p.out[b] = static_cast<float>(best);
  }
}

void sparse_attention(const SparseAttentionParams& p) {
  const int num_blocks = p.counts != nullptr ? p.counts[0] : p.num_blocks;
  const int num_tokens = p.counts != nullptr ? p.counts[1] : p.num_tokens;
  // The kept slots, ascending (the dense kernel's key order).
  std::vector<int32_t> keys;
  for (int i = 0; i < num_blocks; ++i) {
    const int begin = p.blocks[i] * p.block_size;
    const int end = std::min(p.prompt_len, begin + p.block_size);
    for (int s = begin; s < end; ++s) keys.push_back(s);
  }
  keys.insert(keys.end(), p.tokens, p.tokens + num_tokens);
  for (int s = p.response_begin; s < p.response_end; ++s) keys.push_back(s);
  std::sort(keys.begin(), keys.end());
  const int n = static_cast<int>(keys.size());
  const int group = p.num_heads / p.num_kv_heads;
  const int hd = p.head_dim;
  const int64_t q_stride = static_cast<int64_t>(p.num_heads) * hd;
  const int64_t kv_row = static_cast<int64_t>(p.num_kv_heads) * hd;
  const bool f32 = p.kv.dtype == DType::kF32;
  std::vector<float> scores(n), acc(hd), widened(hd);
  auto kv_head = [&](const void* base, int64_t slot, int kvh) -> const float* {
    const int64_t off = p.kv.row_offset(slot, kv_row) + static_cast<int64_t>(kvh) * hd;
    if (f32) return static_cast<const float*>(base) + off;
    load_row_f32(base, p.kv.dtype, off, hd, widened.data());
    return widened.data();
  };
  for (int i = 0; i < p.num_q; ++i) {
    for (int h = 0; h < p.num_heads; ++h) {
      const int kvh = h / group;
      const float* q = p.q + i * q_stride + static_cast<int64_t>(h) * hd;
      float mx = -std::numeric_limits<float>::infinity();
      for (int j = 0; j < n; ++j) {
        scores[j] = visible(p.key_mask, keys[j])
                        ? dot(q, kv_head(p.kv.k, keys[j], kvh), hd) * p.scale
                        : -std::numeric_limits<float>::infinity();
        mx = std::max(mx, scores[j]);
      }
      float sum = 0.0f;
      for (int j = 0; j < n; ++j) {
        scores[j] = std::isinf(mx) ? 0.0f : std::exp(scores[j] - mx);
        sum += scores[j];
      }
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int j = 0; j < n; ++j) {
        const float w = scores[j] * inv;
        if (w == 0.0f) continue;
        axpy(acc.data(), w, kv_head(p.kv.v, keys[j], kvh), hd);
      }
      std::memcpy(p.out + i * q_stride + static_cast<int64_t>(h) * hd, acc.data(),
                  hd * sizeof(float));
    }
  }
}

}  // namespace dllm::kernels::cpu
