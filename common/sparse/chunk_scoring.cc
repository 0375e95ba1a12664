// Chunk scoring: encode (or look up) each chunk once, then run the scoring variants as suffix rows
// over its shared pages, score_batch sequences per forward.
#include "common/sparse/chunk_scoring.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/sparse/suffix_cache.h"

namespace dllm {

std::vector<int> scoring_targets(int query_len, const Draft& draft) {
  std::vector<int> targets(query_len);
  std::iota(targets.begin(), targets.end(), 0);
  for (int slot : draft.committed) targets.push_back(query_len + slot);
  return targets;
}

double log_prob(std::span<const float> row, int32_t token) {
  double mx = -INFINITY;
  for (float x : row) mx = std::max(mx, static_cast<double>(x));
  double sum = 0.0;
  for (float x : row) sum += std::exp(static_cast<double>(x) - mx);
  return static_cast<double>(row[token]) - mx - std::log(sum);
}

std::vector<int> select_top_k_chunks(std::span<const double> scores, int k) {
  std::vector<int> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  order.resize(std::min<size_t>(order.size(), std::max(k, 0)));
  std::sort(order.begin(), order.end());
  return order;
}

absl::StatusOr<std::vector<std::shared_ptr<const ChunkKv>>> encode_chunks(
    Transformer& model, std::span<const int32_t> prefix,
    std::span<const PlannedChunk* const> chunks) {
  std::vector<std::shared_ptr<const ChunkKv>> out;
  if (chunks.empty()) return out;
  absl::StatusOr<KvPool*> pool = model.kv_pool();
  if (!pool.ok()) return pool.status();
  const bool shifted = model.config().family == ModelFamily::kDream;
  std::vector<std::vector<int32_t>> ids(chunks.size()), positions(chunks.size());
  std::vector<std::unique_ptr<KvCache>> caches;
  std::vector<int32_t> last_rows(chunks.size());
  std::vector<SequenceForward> batch;
  for (size_t c = 0; c < chunks.size(); ++c) {
    ids[c].assign(prefix.begin(), prefix.end());
    ids[c].insert(ids[c].end(), chunks[c]->ids.begin(), chunks[c]->ids.end());
    positions[c].resize(ids[c].size());
    std::iota(positions[c].begin(), positions[c].end(), 0);
    const int n = static_cast<int>(ids[c].size());
    absl::StatusOr<std::unique_ptr<KvCache>> cache = model.new_kv_cache(n);
    if (!cache.ok()) return cache.status();
    caches.push_back(std::move(*cache));
    last_rows[c] = n - 1;
    // The last row's logits: Dream's prediction of the first query token (LLaDA ignores it; one
    // row keeps the LM head off the others).
    batch.push_back({.ids = ids[c],
                     .positions = positions[c],
                     .cache = caches.back().get(),
                     .attend_len = n,
                     .causal = true,
                     .logit_rows = std::span<const int32_t>(&last_rows[c], 1)});
  }
  std::vector<std::vector<float>> logits;  // Dream only: LLaDA's last row stays on the device
  if (absl::Status s = model.forward(batch, shifted ? &logits : nullptr); !s.ok()) return s;
  for (size_t c = 0; c < chunks.size(); ++c) {
    auto kv = std::make_shared<ChunkKv>(*pool, model.kv_cache_pages(*caches[c]),
                                        std::vector<int32_t>(prefix.begin(), prefix.end()),
                                        chunks[c]->ids, chunks[c]->has_bos);
    if (shifted) {
      const std::vector<float>& row = logits[c];
      double mx = -INFINITY, sum = 0.0;
      for (float x : row) mx = std::max(mx, static_cast<double>(x));
      for (float x : row) sum += std::exp(static_cast<double>(x) - mx);
      const double lse = mx + std::log(sum);
      kv->last_row_log_probs.resize(row.size());
      for (size_t v = 0; v < row.size(); ++v)
        kv->last_row_log_probs[v] = static_cast<float>(static_cast<double>(row[v]) - lse);
    }
    out.push_back(std::move(kv));
  }
  return out;
}

namespace {

// One forward's worth of suffix sequences over shared pages.
struct SuffixRun {
  int chunk = 0;
  std::vector<int32_t> ids;
  SuffixLayout layout;
  std::vector<int32_t> logit_rows;
  std::vector<int32_t> targets;  // suffix indices whose log-probs the logit rows give
};

// Runs `runs` (each in its own cache over `shared(run)`'s pages) and adds the targets'
// log-probabilities to scores[run.chunk]. `keep`: the caches, when the caller needs their pages.
template <typename SharedPages>
absl::Status run_suffixes(Transformer& model, std::vector<SuffixRun>& runs,
                          std::span<const int32_t> suffix, SharedPages shared,
                          std::vector<double>& scores, ChunkScoring& counters,
                          std::vector<std::unique_ptr<KvCache>>* keep) {
  std::vector<std::unique_ptr<KvCache>> caches;
  std::vector<SequenceForward> batch;
  for (SuffixRun& r : runs) {
    absl::StatusOr<std::unique_ptr<KvCache>> cache = new_suffix_cache(model, shared(r), r.layout);
    if (!cache.ok()) return cache.status();
    caches.push_back(std::move(*cache));
    batch.push_back({.ids = r.ids,
                     .positions = r.layout.positions,
                     .slots = r.layout.slots,
                     .cache = caches.back().get(),
                     .attend_len = r.layout.attend_len,
                     .key_mask = r.layout.key_mask,
                     .causal = true,
                     .logit_rows = r.logit_rows});
    counters.score_rows += static_cast<int64_t>(r.ids.size());
  }
  // Log-probabilities are reduced where the logits are; a row without a target reads token 0.
  std::vector<std::vector<int32_t>> tokens(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    tokens[i].assign(runs[i].logit_rows.size(), 0);
    for (size_t r = 0; r < runs[i].targets.size(); ++r) tokens[i][r] = suffix[runs[i].targets[r]];
  }
  std::vector<std::vector<double>> log_probs;
  if (absl::Status s = model.forward_log_probs(batch, tokens, &log_probs); !s.ok()) return s;
  ++counters.score_forwards;
  counters.score_sequences += static_cast<int64_t>(runs.size());
  for (size_t i = 0; i < runs.size(); ++i)
    for (size_t r = 0; r < runs[i].targets.size(); ++r) scores[runs[i].chunk] += log_probs[i][r];
  if (keep != nullptr)
    for (auto& c : caches) keep->push_back(std::move(c));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ChunkScoring> score_chunks(Transformer& model, ChunkKvCache* cache,
                                          const ChunkScoringInput& in) {
  const ModelConfig& config = model.config();
  const bool shifted = config.family == ModelFamily::kDream;
  if (in.draft == nullptr) return absl::InvalidArgumentError("chunk scoring: no draft");
  if (in.query.empty()) return absl::InvalidArgumentError("chunk scoring: empty query");
  absl::StatusOr<KvPool*> pool = model.kv_pool();
  if (!pool.ok()) return pool.status();
  const int page = (*pool)->page_size();
  const int n_chunks = static_cast<int>(in.chunks.size());
  const int batch_size = std::max(1, in.score_batch);

  std::vector<int32_t> suffix(in.query.begin(), in.query.end());
  suffix.insert(suffix.end(), in.draft->ids.begin(), in.draft->ids.end());
  const int suffix_len = static_cast<int>(suffix.size());
  const std::vector<int> targets = scoring_targets(static_cast<int>(in.query.size()), *in.draft);

  ChunkScoring out;
  out.scores.assign(n_chunks, 0.0);
  out.cache_hit.assign(n_chunks, false);
  out.kv.resize(n_chunks);
  out.num_targets = static_cast<int>(targets.size());
  const uint64_t prefix_hash = hash_tokens(in.prefix);
  auto key_of = [&](int c) {
    return ChunkKvKey{in.model_id, prefix_hash, hash_tokens(in.chunks[c].ids)};
  };

  for (int g0 = 0; g0 < n_chunks; g0 += batch_size) {
    const int g1 = std::min(n_chunks, g0 + batch_size);
    // 1. Each chunk's prefix + chunk K/V: from the cache, else encoded (one forward for the group).
    std::vector<const PlannedChunk*> to_encode;
    std::vector<int> encoded_index;
    for (int c = g0; c < g1; ++c) {
      if (cache != nullptr) out.kv[c] = cache->lookup(key_of(c), in.prefix, in.chunks[c].ids);
      out.cache_hit[c] = out.kv[c] != nullptr;
      if (out.kv[c] == nullptr) {
        to_encode.push_back(&in.chunks[c]);
        encoded_index.push_back(c);
      }
    }
    if (!to_encode.empty()) {
      auto encoded = encode_chunks(model, in.prefix, to_encode);
      if (!encoded.ok()) return encoded.status();
      ++out.encode_forwards;
      out.chunks_encoded += static_cast<int64_t>(to_encode.size());
      for (size_t i = 0; i < encoded->size(); ++i) {
        out.kv[encoded_index[i]] = (*encoded)[i];
        if (cache != nullptr) cache->insert(key_of(encoded_index[i]), (*encoded)[i]);
      }
    }
    // Dream: the first query token is predicted by the chunk's last row.
    if (shifted && targets.front() == 0) {
      for (int c = g0; c < g1; ++c) {
        const std::vector<float>& lp = out.kv[c]->last_row_log_probs;
        if (lp.size() <= static_cast<size_t>(in.query[0]))
          return absl::InternalError("chunk scoring: cached chunk lacks its last-row log-probs");
        out.scores[c] += lp[in.query[0]];
      }
    }
    // 2. The clean suffix (query ++ draft) of every chunk, over the chunk's shared pages.
    //    Dream reads its targets here (row p - 1 predicts p). LLaDA keeps its K/V: with a
    //    causal mask, rows before a masked target are the same in every leave-one-out variant.
    const int32_t last_row = suffix_len - 1;
    std::vector<std::unique_ptr<KvCache>> clean(g1 - g0);
    for (int b0 = g0; b0 < g1; b0 += batch_size) {
      std::vector<SuffixRun> runs;
      for (int c = b0; c < std::min(g1, b0 + batch_size); ++c) {
        SuffixRun r{
            .chunk = c, .ids = suffix, .layout = suffix_layout(*out.kv[c], page, suffix_len)};
        if (shifted) {
          for (int t : targets)
            if (t > 0) r.logit_rows.push_back(t - 1), r.targets.push_back(t);
        }
        if (r.logit_rows.empty()) r.logit_rows = {last_row};  // none needed; keep the head small
        runs.push_back(std::move(r));
      }
      std::vector<std::unique_ptr<KvCache>> kept;
      absl::Status s = run_suffixes(
          model, runs, suffix, [&](const SuffixRun& r) { return out.kv[r.chunk]->pages(); },
          out.scores, out, shifted ? nullptr : &kept);
      if (!s.ok()) return s;
      for (size_t i = 0; i < kept.size(); ++i) clean[b0 - g0 + i] = std::move(kept[i]);
    }
    // 3. LLaDA leave-one-out: target t masked, rows [t, S) run over the chunk pages and the
    //    clean rows [0, t) (both shared), variant_batch variants a forward.
    if (!shifted) {
      std::vector<std::pair<int, int>> variants;  // (chunk, target)
      for (int c = g0; c < g1; ++c)
        for (int t : targets) variants.emplace_back(c, t);
      const size_t per_forward = static_cast<size_t>(std::max(1, in.variant_batch));
      for (size_t v0 = 0; v0 < variants.size(); v0 += per_forward) {
        std::vector<SuffixRun> runs;
        for (size_t v = v0; v < std::min(variants.size(), v0 + per_forward); ++v) {
          const auto [c, t] = variants[v];
          const int chunk_slots = out.kv[c]->slots();
          const int clean_begin = static_cast<int>(out.kv[c]->pages().size()) * page;
          const int shared = static_cast<int>(model.kv_cache_pages(*clean[c - g0]).size()) * page;
          const std::pair<int, int> history[] = {{0, chunk_slots}, {clean_begin, clean_begin + t}};
          SuffixRun r{.chunk = c,
                      .ids = std::vector<int32_t>(suffix.begin() + t, suffix.end()),
                      .layout = suffix_layout(shared, history, chunk_slots + t, suffix_len - t),
                      .logit_rows = {0},
                      .targets = {t}};
          r.ids[0] = config.mask_token_id;
          runs.push_back(std::move(r));
        }
        absl::Status s = run_suffixes(
            model, runs, suffix,
            [&](const SuffixRun& r) { return model.kv_cache_pages(*clean[r.chunk - g0]); },
            out.scores, out, nullptr);
        if (!s.ok()) return s;
      }
    }
    for (int c = g0; c < g1; ++c) out.scores[c] /= static_cast<double>(targets.size());
    // 3. Keep only the K/V of the best keep_top_k chunks scored so far.
    std::vector<double> so_far(out.scores.begin(), out.scores.begin() + g1);
    const std::vector<int> best = select_top_k_chunks(so_far, in.keep_top_k);
    for (int c = 0; c < g1; ++c)
      if (!std::binary_search(best.begin(), best.end(), c)) out.kv[c].reset();
  }
  return out;
}

}  // namespace dllm
