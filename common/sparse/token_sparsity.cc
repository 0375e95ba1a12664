// Token scores from captured queries against cached chunk keys; pooling and top-capacity picks.
// Scoring, pooling and selection run on the model's backend: only the kept indices reach the host.
#include "common/sparse/token_sparsity.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <new>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/model/device_buffer.h"
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
  const int n = static_cast<int>(pooled.size()), keep = std::min(std::max(capacity, 0), n);
  std::vector<int> kept(keep);
  if (keep > 0)
    kernels::cpu::select_top_tokens({.scores = pooled.data(),
                                     .row_stride = n,
                                     .num_outputs = 1,
                                     .len = n,
                                     .capacity = keep,
                                     .keep_first = keep_first,
                                     .kept = kept.data()});
  return kept;
}

namespace {

// Attention the probe rows pay every key of a chunk's scoring sequence, in backend memory:
// [layer][kv head][attend_len]; the chunk's tokens are keys [start, start + len).
struct KeyScores {
  DeviceBuffer<float> scores;
  int attend_len = 0;
  int start = 0;
  int len = 0;
};

// The key scores of every chunk: the clean scoring suffix (query ++ draft, causal) runs over each
// chunk's shared pages, score_batch chunks a forward, queries captured on the backend.
absl::Status score_chunk_keys(Transformer& model,
                              std::span<const std::shared_ptr<const ChunkKv>> chunks,
                              std::span<const int32_t> suffix, int query_len, int probe_rows,
                              int score_batch, std::vector<KeyScores>* out) {
  const ModelConfig& c = model.config();
  kernels::Backend* be = model.backend();
  absl::StatusOr<KvPool*> pool = model.kv_pool();
  if (!pool.ok()) return pool.status();
  const int suffix_len = static_cast<int>(suffix.size());
  const int n_probe = std::min(probe_rows, query_len);
  if (n_probe <= 0) return absl::InvalidArgumentError("token scoring: empty query");
  const int64_t q_dim = static_cast<int64_t>(c.num_heads) * c.head_dim;
  const int32_t last_row = suffix_len - 1;
  out->clear();
  out->resize(chunks.size());
  const size_t step = static_cast<size_t>(std::max(1, score_batch));
  for (size_t g0 = 0; g0 < chunks.size(); g0 += step) {
    const size_t g1 = std::min(chunks.size(), g0 + step);
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
    if (absl::Status s = model.forward_capturing_queries(batch, captures, nullptr); !s.ok())
      return s;
    // [layer][every captured row of the group][q_dim]; chunk i's rows are the (i - g0)-th run.
    const float* q = model.captured_queries();
    const int64_t captured_rows = static_cast<int64_t>(g1 - g0) * n_probe;
    for (size_t i = g0; i < g1; ++i) {
      const SuffixLayout& l = layouts[i - g0];
      KeyScores& ks = (*out)[i];
      ks.attend_len = l.attend_len;
      ks.start = chunks[i]->prefix_len();
      ks.len = chunks[i]->chunk_len();
      std::vector<int32_t> q_slots;
      for (int32_t r : captures[i - g0].rows) q_slots.push_back(l.slots[r]);
      DeviceBuffer<int32_t> slots(be, q_slots.size());
      DeviceBuffer<uint8_t> mask(be, l.key_mask.size());
      be->copy_from_host(slots.data(), q_slots.data(), q_slots.size() * sizeof(int32_t));
      be->copy_from_host(mask.data(), l.key_mask.data(), l.key_mask.size());
      const size_t per_layer = static_cast<size_t>(c.num_kv_heads) * l.attend_len;
      ks.scores = DeviceBuffer<float>(be, c.num_layers * per_layer);
      be->fill_zero(ks.scores.data(), c.num_layers * per_layer * sizeof(float));
      for (int layer = 0; layer < c.num_layers; ++layer) {
        be->accumulate_key_attention_scores(
            {.q = q + (layer * captured_rows + static_cast<int64_t>(i - g0) * n_probe) * q_dim,
             .kv = model.kv_cache_layer(*caches[i - g0], layer),
             .num_q = n_probe,
             .num_keys = l.attend_len,
             .num_heads = c.num_heads,
             .num_kv_heads = c.num_kv_heads,
             .head_dim = c.head_dim,
             .scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim)),
             .key_mask = mask.data(),
             .q_slots = slots.data(),
             .causal = true,
             .out = ks.scores.data() + layer * per_layer});
      }
    }
  }
  return absl::OkStatus();
}

// Backend failures (out of device memory, a CUDA fault) as a Status.
template <typename F>
absl::Status guarded(kernels::Backend* be, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc& e) {
    return absl::ResourceExhaustedError(absl::StrCat("token scoring: out of memory: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("token scoring: ", std::string(be->name()), " backend error: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<std::vector<std::vector<float>>> chunk_token_attention(
    Transformer& model, std::span<const std::shared_ptr<const ChunkKv>> chunks,
    std::span<const int32_t> suffix, int query_len, int probe_rows, int score_batch) {
  const ModelConfig& c = model.config();
  kernels::Backend* be = model.backend();
  const int heads = c.num_layers * c.num_kv_heads;
  std::vector<std::vector<float>> out(chunks.size());
  absl::Status st = guarded(be, [&]() -> absl::Status {
    std::vector<KeyScores> scores;
    absl::Status s =
        score_chunk_keys(model, chunks, suffix, query_len, probe_rows, score_batch, &scores);
    if (!s.ok()) return s;
    for (size_t i = 0; i < chunks.size(); ++i) {
      const KeyScores& ks = scores[i];
      std::vector<float> all(static_cast<size_t>(heads) * ks.attend_len);
      be->copy_to_host(all.data(), ks.scores.data(), all.size() * sizeof(float));
      out[i].resize(static_cast<size_t>(heads) * ks.len);
      for (int h = 0; h < heads; ++h)
        std::copy_n(all.begin() + static_cast<int64_t>(h) * ks.attend_len + ks.start, ks.len,
                    out[i].begin() + static_cast<int64_t>(h) * ks.len);
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::vector<ChunkTokenSelection>> select_chunk_tokens(
    Transformer& model, std::span<const std::shared_ptr<const ChunkKv>> chunks,
    std::span<const int32_t> suffix, int query_len, const PrefillingOptions& options) {
  if (options.token_capacity <= 0)
    return absl::InvalidArgumentError("token selection: token_capacity must be > 0");
  const ModelConfig& c = model.config();
  kernels::Backend* be = model.backend();
  const int heads = c.num_layers * c.num_kv_heads;
  const bool global = options.token_select == TokenSelect::kGlobal;
  std::vector<ChunkTokenSelection> out(chunks.size());
  absl::Status st = guarded(be, [&]() -> absl::Status {
    std::vector<KeyScores> scores;
    absl::Status s = score_chunk_keys(model, chunks, suffix, query_len, options.probe_rows,
                                      options.score_batch, &scores);
    if (!s.ok()) return s;
    for (size_t i = 0; i < chunks.size(); ++i) {
      const KeyScores& ks = scores[i];
      const int keep = std::min(options.token_capacity, ks.len);
      const int outputs = global ? 1 : heads;
      DeviceBuffer<int32_t> kept(be, static_cast<size_t>(outputs) * keep);
      be->select_top_tokens({.scores = ks.scores.data() + ks.start,
                             .row_stride = ks.attend_len,
                             .num_outputs = outputs,
                             .group = global ? heads : 1,
                             .len = ks.len,
                             .pool_width = options.pool_width,
                             .capacity = keep,
                             .keep_first = chunks[i]->has_bos(),
                             .kept = kept.data()});
      std::vector<int32_t> host(static_cast<size_t>(outputs) * keep);
      be->copy_to_host(host.data(), kept.data(), host.size() * sizeof(int32_t));
      for (int o = 0; o < outputs; ++o) {
        std::vector<int> k(host.begin() + static_cast<int64_t>(o) * keep,
                           host.begin() + static_cast<int64_t>(o + 1) * keep);
        if (global)
          out[i].global = std::move(k);
        else
          out[i].per_head.push_back(std::move(k));
      }
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace dllm
