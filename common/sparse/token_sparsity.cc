// Token scores from captured queries against cached chunk keys; pooling and top-capacity picks.
#include "common/sparse/token_sparsity.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/sparse/suffix_cache.h"
#include "kernels/cpu/prefilling_kernels.h"

namespace dllm {

std::vector<float> max_pool_scores(std::span<const float> scores, int width) {
  const int n = static_cast<int>(scores.size()), half = width / 2;
  std::vector<float> out(n);
  for (int i = 0; i < n; ++i) {
    float m = scores[i];
    for (int j = std::max(0, i - half); j <= std::min(n - 1, i + half); ++j)
      m = std::max(m, scores[j]);
    out[i] = m;
  }
  return out;
}

std::vector<int> top_tokens(std::span<const float> pooled, int capacity, bool keep_first) {
  const int n = static_cast<int>(pooled.size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (capacity >= n) return order;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (keep_first && (a == 0 || b == 0)) return a == 0 && b != 0;
    return pooled[a] > pooled[b];
  });
  order.resize(std::max(capacity, 0));
  std::sort(order.begin(), order.end());
  return order;
}

absl::StatusOr<std::vector<std::vector<float>>> chunk_token_attention(
    Transformer& model, std::span<const std::shared_ptr<const ChunkKv>> chunks,
    std::span<const int32_t> suffix, int query_len, int probe_rows, int score_batch) {
  if (model.backend()->name() != "cpu") {
    return absl::UnimplementedError(absl::StrCat(
        "intra-chunk token scoring runs on the CPU backend only for now (no ",
        std::string(model.backend()->name()), " kernel for accumulate_key_attention_scores yet)"));
  }
  const ModelConfig& c = model.config();
  absl::StatusOr<KvPool*> pool = model.kv_pool();
  if (!pool.ok()) return pool.status();
  const int suffix_len = static_cast<int>(suffix.size());
  const int n_probe = std::min(probe_rows, query_len);
  if (n_probe <= 0) return absl::InvalidArgumentError("token scoring: empty query");
  const int64_t q_dim = static_cast<int64_t>(c.num_heads) * c.head_dim;
  const int32_t last_row = suffix_len - 1;
  std::vector<std::vector<float>> out(chunks.size());
  for (size_t g0 = 0; g0 < chunks.size(); g0 += std::max(1, score_batch)) {
    const size_t g1 = std::min(chunks.size(), g0 + std::max(1, score_batch));
    std::vector<SuffixLayout> layouts;
    std::vector<std::unique_ptr<KvCache>> caches;
    std::vector<Transformer::QueryCapture> captures;
    std::vector<SequenceForward> batch;
    layouts.reserve(g1 - g0);
    for (size_t i = g0; i < g1; ++i) {
      layouts.push_back(suffix_layout(*chunks[i], (*pool)->page_size(), suffix_len));
      auto vc = new_suffix_cache(model, *chunks[i], layouts.back());
      if (!vc.ok()) return vc.status();
      caches.push_back(std::move(*vc));
      Transformer::QueryCapture cap;
      cap.sequence = static_cast<int>(i - g0);
      for (int r = query_len - n_probe; r < query_len; ++r) cap.rows.push_back(r);
      captures.push_back(std::move(cap));
    }
    for (size_t i = g0; i < g1; ++i) {
      const SuffixLayout& l = layouts[i - g0];
      batch.push_back({.ids = suffix,
                       .positions = l.positions,
                       .slots = l.slots,
                       .cache = caches[i - g0].get(),
                       .attend_len = l.attend_len,
                       .key_mask = l.key_mask,
                       .causal = true,
                       .logit_rows = std::span<const int32_t>(&last_row, 1)});
    }
    std::vector<std::vector<float>> logits;
    if (absl::Status s = model.forward_capturing_queries(batch, captures, &logits); !s.ok())
      return s;
    for (size_t i = g0; i < g1; ++i) {
      const SuffixLayout& l = layouts[i - g0];
      const ChunkKv& kv = *chunks[i];
      const int len = kv.chunk_len(), start = kv.prefix_len();
      std::vector<int32_t> q_slots;
      for (int32_t r : captures[i - g0].rows) q_slots.push_back(l.slots[r]);
      out[i].assign(static_cast<size_t>(c.num_layers) * c.num_kv_heads * len, 0.0f);
      std::vector<float> key_scores(static_cast<size_t>(c.num_kv_heads) * l.attend_len);
      for (int layer = 0; layer < c.num_layers; ++layer) {
        std::fill(key_scores.begin(), key_scores.end(), 0.0f);
        kernels::cpu::KeyAttentionScoreParams p;
        p.q = captures[i - g0].q.data() + layer * n_probe * q_dim;
        p.kv = model.kv_cache_layer(*caches[i - g0], layer);
        p.num_q = n_probe;
        p.num_keys = l.attend_len;
        p.num_heads = c.num_heads;
        p.num_kv_heads = c.num_kv_heads;
        p.head_dim = c.head_dim;
        p.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
        p.key_mask = l.key_mask.data();
        p.q_slots = q_slots.data();
        p.causal = true;
        p.out = key_scores.data();
        kernels::cpu::accumulate_key_attention_scores(p);
        for (int h = 0; h < c.num_kv_heads; ++h)
          std::copy_n(key_scores.begin() + static_cast<int64_t>(h) * l.attend_len + start, len,
                      out[i].begin() + (static_cast<int64_t>(layer) * c.num_kv_heads + h) * len);
      }
    }
  }
  return out;
}

absl::StatusOr<std::vector<ChunkTokenSelection>> select_chunk_tokens(
    Transformer& model, std::span<const std::shared_ptr<const ChunkKv>> chunks,
    std::span<const int32_t> suffix, int query_len, const PrefillingOptions& options) {
  auto attention = chunk_token_attention(model, chunks, suffix, query_len, options.probe_rows,
                                         options.score_batch);
  if (!attention.ok()) return attention.status();
  const ModelConfig& c = model.config();
  const int heads = c.num_layers * c.num_kv_heads;
  std::vector<ChunkTokenSelection> out(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    const int len = chunks[i]->chunk_len();
    const bool keep_first = chunks[i]->has_bos();
    const std::vector<float>& a = (*attention)[i];
    if (options.token_select == TokenSelect::kGlobal) {
      std::vector<float> total(len, 0.0f);
      for (int h = 0; h < heads; ++h)
        for (int t = 0; t < len; ++t) total[t] += a[static_cast<size_t>(h) * len + t];
      out[i].global = top_tokens(max_pool_scores(total, options.pool_width), options.token_capacity,
                                 keep_first);
    } else {
      for (int h = 0; h < heads; ++h) {
        std::span<const float> s(a.data() + static_cast<size_t>(h) * len, len);
        out[i].per_head.push_back(
            top_tokens(max_pool_scores(s, options.pool_width), options.token_capacity, keep_first));
      }
    }
  }
  return out;
}

}  // namespace dllm
