// Prefilling-dLLM reuse mode, stage by stage: selection (draft + chunk scoring + token selection,
// each also timed alone),
// stitching the selected chunks' cached K/V, the query + mask encode over the stitched cache, one
// block step (floor: weights + K/V read over the copy bandwidth), and the whole request.
#include "bench/prefilling_reuse_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>

#include "common/sparse/chunk_scoring.h"
#include "common/sparse/prefilling.h"
#include "common/sparse/prompt_stitching.h"

namespace dllm::bench {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Ordinary tokens: below the synthetic config's EOS and MASK (the top two ids).
std::vector<int32_t> tokens(int n, int vocab, int seed) {
  std::vector<int32_t> ids(n);
  for (int i = 0; i < n; ++i)
    ids[i] = static_cast<int32_t>((i * 7919L + seed * 104729L + 13) % (vocab - 4)) + 2;
  return ids;
}

}  // namespace

int run_prefilling_reuse(Transformer& model, const PrefillingReuseArgs& a) {
  const ModelConfig& c = model.config();
  const int64_t kv_bytes_per_slot = 2LL * c.num_layers * c.num_kv_heads * c.head_dim * 2;  // bf16
  std::printf(
      "prefilling reuse: prefix %d, query %d, chunk %d, top-k %d, score batch %d, token "
      "capacity %d%s, block %d, gen %d\n",
      a.prefix, a.query, a.chunk_size, a.top_k, a.score_batch, a.token_capacity,
      a.per_head ? " per-head" : "", a.block, a.gen);
  std::printf("%-7s %6s %9s %8s %8s %9s %9s %9s %9s %8s %8s %6s %6s %7s\n", "prompt", "chunks",
              "select_s", "draft_ms", "score_s", "tokens_ms", "stitch_ms", "rows_mv", "encode_ms",
              "step_ms", "floor_ms", "ratio", "keys", "e2e_s");
  for (int prompt : a.prompts) {
    const int context_len = prompt - a.prefix - a.query;
    if (context_len <= a.chunk_size) {
      std::fprintf(stderr, "prompt %d: the context does not fill two chunks\n", prompt);
      return 2;
    }
    const std::vector<int32_t> prefix = tokens(a.prefix, c.vocab_size, 1),
                               context = tokens(context_len, c.vocab_size, 2),
                               query = tokens(a.query, c.vocab_size, 3);
    PrefillingRequest r{.prefix = prefix, .context = context, .query = query};
    r.prefilling.chunk_size = a.chunk_size;
    r.prefilling.top_k = a.top_k;
    r.prefilling.score_batch = a.score_batch;
    r.prefilling.chunk_mode = ChunkMode::kReuse;
    r.prefilling.token_capacity = a.token_capacity;
    r.prefilling.token_select = a.per_head ? TokenSelect::kPerHead : TokenSelect::kGlobal;
    r.prefilling.bos_token_id = 1;
    r.generation.gen_length = a.gen;
    r.generation.block_length = a.block;
    r.generation.steps = a.gen;  // one token a step
    r.generation.cache = KvCacheMode::kPrefix;

    // 1. Selection (a warm-up run first, once: cuBLASLt plans, pool pages, kernels loaded).
    if (prompt == a.prompts.front())
      if (auto warm = select_prefilling_chunks(model, r, nullptr, true); !warm.ok())
        return std::fprintf(stderr, "selection: %s\n", warm.status().ToString().c_str()), 1;
    auto t0 = std::chrono::steady_clock::now();
    auto sel = select_prefilling_chunks(model, r, nullptr, true);
    if (!sel.ok())
      return std::fprintf(stderr, "selection: %s\n", sel.status().ToString().c_str()), 1;
    const double select_s = seconds_since(t0);
    // The same stages alone: draft, chunk scoring (encode + leave-one-out), token selection.
    t0 = std::chrono::steady_clock::now();
    auto draft = predict_draft(model, prefix, query, r.prefilling.draft_tokens);
    if (!draft.ok())
      return std::fprintf(stderr, "draft: %s\n", draft.status().ToString().c_str()), 1;
    const double draft_s = seconds_since(t0);
    const std::vector<PlannedChunk> planned = plan_chunks(context, a.chunk_size, true, 1);
    t0 = std::chrono::steady_clock::now();
    auto scoring = score_chunks(model, nullptr,
                                {.prefix = prefix,
                                 .chunks = planned,
                                 .query = query,
                                 .draft = &*draft,
                                 .score_batch = a.score_batch,
                                 .keep_top_k = a.top_k,
                                 .model_id = "bench"});
    if (!scoring.ok())
      return std::fprintf(stderr, "scoring: %s\n", scoring.status().ToString().c_str()), 1;
    const double score_s = seconds_since(t0);
    double tokens_s = 0.0;
    if (a.token_capacity > 0) {
      std::vector<std::shared_ptr<const ChunkKv>> kept;
      for (int c : select_top_k_chunks(scoring->scores, a.top_k)) kept.push_back(scoring->kv[c]);
      std::vector<int32_t> suffix = query;
      suffix.insert(suffix.end(), draft->ids.begin(), draft->ids.end());
      t0 = std::chrono::steady_clock::now();
      auto picked = select_chunk_tokens(model, kept, suffix, a.query, r.prefilling);
      if (!picked.ok())
        return std::fprintf(stderr, "tokens: %s\n", picked.status().ToString().c_str()), 1;
      tokens_s = seconds_since(t0);
    }
    scoring->kv.clear();

    // 2. Stitching.
    const int extra = a.query + a.gen;
    t0 = std::chrono::steady_clock::now();
    auto stitched = stitch_prompt_cache(model, sel->selected_kv, sel->tokens, extra);
    if (!stitched.ok())
      return std::fprintf(stderr, "stitching: %s\n", stitched.status().ToString().c_str()), 1;
    const double stitch_s = seconds_since(t0);
    sel->selected_kv.clear();

    // 3. Query + masks encoded over the frozen prompt (the block-entry forward), then 4. a step
    //    of the first block's rows over everything.
    const int frozen = stitched->frozen_len, keys = frozen + extra;
    std::vector<int32_t> ids = query, slots(extra);
    ids.resize(extra, c.mask_token_id);
    std::iota(slots.begin(), slots.end(), frozen);
    std::vector<int32_t> block_rows(a.block);
    std::iota(block_rows.begin(), block_rows.end(), a.query);
    std::vector<std::vector<GreedyChoice>> choices;
    const auto kind = kernels::ConfidenceKind::kMaxProb;
    SequenceForward entry{.ids = ids,
                          .positions = slots,
                          .cache = stitched->cache.get(),
                          .attend_len = keys,
                          .logit_rows = block_rows};
    (void)model.forward_greedy({&entry, 1}, kind, &choices);
    t0 = std::chrono::steady_clock::now();
    if (absl::Status s = model.forward_greedy({&entry, 1}, kind, &choices); !s.ok())
      return std::fprintf(stderr, "encode: %s\n", s.ToString().c_str()), 1;
    const double encode_s = seconds_since(t0);
    std::span<const int32_t> bids(ids.data() + a.query, a.block),
        bslots(slots.data() + a.query, a.block);
    SequenceForward step{
        .ids = bids, .positions = bslots, .cache = stitched->cache.get(), .attend_len = keys};
    (void)model.forward_greedy({&step, 1}, kind, &choices);
    std::vector<double> times;
    for (int i = 0; i < a.iters; ++i) {
      t0 = std::chrono::steady_clock::now();
      (void)model.forward_greedy({&step, 1}, kind, &choices);  // waits for its 12 bytes a row
      times.push_back(seconds_since(t0));
    }
    const double step_s = median(times);
    const double floor_s =
        a.copy_gbs > 0
            ? (a.weight_bytes + static_cast<double>(keys) * kv_bytes_per_slot) / (a.copy_gbs * 1e9)
            : 0.0;
    stitched->cache.reset();

    // 5. The whole request: selection + stitching + gen steps (1 token a step).
    double e2e = -1.0;
    if (a.end_to_end) {
      t0 = std::chrono::steady_clock::now();
      auto result = generate_prefilling(model, r, nullptr);
      if (!result.ok())
        return std::fprintf(stderr, "request: %s\n", result.status().ToString().c_str()), 1;
      e2e = seconds_since(t0);
    }
    std::printf("%-7d %6zu %9.3f %8.1f %8.3f %9.1f %9.2f %9lld %9.2f %8.2f %8.2f %6.2f %6d %7.2f\n",
                prompt, sel->chunks.size(), select_s, draft_s * 1e3, score_s, tokens_s * 1e3,
                stitch_s * 1e3, static_cast<long long>(stitched->rows_moved), encode_s * 1e3,
                step_s * 1e3, floor_s * 1e3, floor_s > 0 ? step_s / floor_s : 0.0, keys, e2e);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace dllm::bench
