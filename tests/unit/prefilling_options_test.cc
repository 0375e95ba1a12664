// Prefilling-dLLM pieces without a model: options and their errors, chunk planning (BOS edges),
// compression, top-K chunks, token pooling / picks, the chunk K/V cache (LRU, counters, pages).
#include "common/sparse/prefilling_options.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/kv/kv_pool.h"
#include "common/sparse/chunk_kv_cache.h"
#include "common/sparse/chunk_plan.h"
#include "common/sparse/chunk_scoring.h"
#include "common/sparse/sparse_policy.h"
#include "common/sparse/token_sparsity.h"
#include "kernels/backend.h"

namespace dllm {
namespace {

ModelConfig tiny_config(int32_t bos) {
  ModelConfig c;
  c.embedding_rows = 512;
  c.vocab_size = 512;
  c.mask_token_id = 500;
  c.bos_token_id = bos;
  return c;
}

void expect_invalid(const PrefillingOptions& o, const ModelConfig& c, const std::string& what) {
  absl::Status s = validate_prefilling_options(o, c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << what;
  EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
}

TEST(PrefillingOptions, DefaultsAreThePublishedOnes) {
  const PrefillingOptions o;
  EXPECT_EQ(o.chunk_size, 1024);
  EXPECT_EQ(o.top_k, 4);
  EXPECT_EQ(o.draft_tokens, 4);
  EXPECT_EQ(o.score_batch, 8);
  EXPECT_EQ(o.variant_batch, 64);
  EXPECT_EQ(o.chunk_mode, ChunkMode::kReprefill);
  EXPECT_EQ(o.token_capacity, 0);
  EXPECT_EQ(o.token_select, TokenSelect::kGlobal);
  EXPECT_TRUE(o.chunk_bos);
  EXPECT_EQ(o.probe_rows, 8);
  EXPECT_EQ(o.pool_width, 7);
  EXPECT_TRUE(validate_prefilling_options(o, tiny_config(491)).ok());
}

TEST(PrefillingOptions, NamesParseBothWaysAndUnknownOnesAreRefused) {
  EXPECT_EQ(*parse_sparse_policy("dense"), SparsePolicy::kDense);
  EXPECT_EQ(*parse_sparse_policy("prefilling"), SparsePolicy::kPrefilling);
  EXPECT_EQ(*parse_sparse_policy("focus"), SparsePolicy::kFocus);
  EXPECT_STREQ(sparse_policy_name(SparsePolicy::kPrefilling), "prefilling");
  EXPECT_EQ(parse_sparse_policy("sparse").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*parse_chunk_mode("reuse"), ChunkMode::kReuse);
  EXPECT_EQ(*parse_chunk_mode("reprefill"), ChunkMode::kReprefill);
  EXPECT_NE(parse_chunk_mode("stitch").status().message().find("reprefill, reuse"),
            std::string::npos);
  EXPECT_EQ(*parse_token_select("per-head"), TokenSelect::kPerHead);
  EXPECT_EQ(*parse_token_select("global"), TokenSelect::kGlobal);
  EXPECT_FALSE(parse_token_select("per_head").ok());
  EXPECT_TRUE(*parse_on_off("--chunk-bos", "on"));
  EXPECT_FALSE(*parse_on_off("--chunk-bos", "off"));
  EXPECT_NE(parse_on_off("--chunk-bos", "yes").status().message().find("--chunk-bos"),
            std::string::npos);
}

TEST(PrefillingOptions, BadValuesAreRefusedWithTheirReason) {
  const ModelConfig c = tiny_config(491);
  auto with = [](auto edit) {
    PrefillingOptions o;
    edit(o);
    return o;
  };
  expect_invalid(with([](auto& o) { o.chunk_size = 1; }), c, "chunk_size 1");
  expect_invalid(with([](auto& o) { o.top_k = 0; }), c, "top_k 0");
  expect_invalid(with([](auto& o) { o.draft_tokens = -1; }), c, "draft_tokens");
  expect_invalid(with([](auto& o) { o.score_batch = 0; }), c, "score_batch");
  expect_invalid(with([](auto& o) { o.variant_batch = 0; }), c, "variant_batch");
  expect_invalid(with([](auto& o) { o.token_capacity = -3; }), c, "token_capacity -3");
  expect_invalid(with([](auto& o) { o.token_capacity = 1; }), c, "BOS anchor is always kept");
  expect_invalid(with([](auto& o) { o.pool_width = 4; }), c, "pool_width");
  expect_invalid(with([](auto& o) {
                   o.token_capacity = 8;
                   o.token_select = TokenSelect::kPerHead;
                 }),
                 c, "chunk_mode reuse");
  expect_invalid(with([](auto& o) { o.bos_token_id = 600; }), c, "out of range");
  expect_invalid(with([](auto& o) { o.bos_token_id = 500; }), c, "mask token");
  // No BOS id anywhere: chunk_bos needs one; off is fine.
  expect_invalid(PrefillingOptions{}, tiny_config(-1), "no bos_token_id");
  EXPECT_TRUE(
      validate_prefilling_options(with([](auto& o) { o.chunk_bos = false; }), tiny_config(-1))
          .ok());
  EXPECT_EQ(*resolve_chunk_bos(with([](auto& o) { o.bos_token_id = 7; }), c), 7);
  EXPECT_EQ(*resolve_chunk_bos(PrefillingOptions{}, c), 491);
  // Capacity 1 is enough without an anchor; per-head is fine in reuse mode.
  EXPECT_TRUE(validate_prefilling_options(with([](auto& o) {
                                            o.chunk_bos = false;
                                            o.token_capacity = 1;
                                          }),
                                          c)
                  .ok());
  EXPECT_TRUE(validate_prefilling_options(with([](auto& o) {
                                            o.token_capacity = 8;
                                            o.token_select = TokenSelect::kPerHead;
                                            o.chunk_mode = ChunkMode::kReuse;
                                          }),
                                          c)
                  .ok());
}

TEST(ChunkPlan, EveryContextTokenOnceWithABosAtEachChunkStart) {
  std::vector<int32_t> context(23);
  for (int i = 0; i < 23; ++i) context[i] = 100 + i;
  for (int size : {2, 3, 5, 8, 23, 24, 100}) {
    const auto chunks = plan_chunks(context, size, /*chunk_bos=*/true, 7);
    std::vector<int32_t> rebuilt;
    int expect_begin = 0;
    for (size_t j = 0; j < chunks.size(); ++j) {
      const PlannedChunk& c = chunks[j];
      ASSERT_FALSE(c.ids.empty());
      EXPECT_EQ(c.ids.front(), 7);
      EXPECT_TRUE(c.has_bos);
      EXPECT_LE(static_cast<int>(c.ids.size()), size);
      if (j + 1 < chunks.size()) {
        EXPECT_EQ(static_cast<int>(c.ids.size()), size);
      }
      EXPECT_EQ(c.context_begin, expect_begin);
      EXPECT_EQ(c.index, static_cast<int>(j));
      expect_begin = c.context_end;
      rebuilt.insert(rebuilt.end(), c.ids.begin() + 1, c.ids.end());
    }
    EXPECT_EQ(rebuilt, context) << "chunk_size " << size;
    EXPECT_EQ(chunks.size(), (23 + size - 2) / (size - 1));
  }
  const auto plain = plan_chunks(context, 10, /*chunk_bos=*/false, 7);
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_EQ(plain[0].ids.front(), 100);
  EXPECT_EQ(plain[2].ids.size(), 3u);
  EXPECT_TRUE(plan_chunks({}, 10, true, 7).empty());
}

TEST(ChunkPlan, CompressedPromptKeepsSourceOrderAndKeptTokens) {
  const std::vector<int32_t> context = {10, 11, 12, 13, 14, 15, 16};
  const auto chunks = plan_chunks(context, 3, true, 1);  // [1 10 11] [1 12 13] [1 14 15] [1 16]
  ASSERT_EQ(chunks.size(), 4u);
  const std::vector<int32_t> prefix = {90}, query = {91, 92};
  const std::vector<int> selected = {1, 3};
  EXPECT_EQ(compressed_prompt(prefix, chunks, selected, {}, query),
            (std::vector<int32_t>{90, 1, 12, 13, 1, 16, 91, 92}));
  const std::vector<std::vector<int>> kept = {{0, 2}, {0}};
  EXPECT_EQ(compressed_prompt(prefix, chunks, selected, kept, query),
            (std::vector<int32_t>{90, 1, 13, 1, 91, 92}));
  EXPECT_NE(hash_tokens(chunks[0].ids), hash_tokens(chunks[1].ids));
  EXPECT_EQ(hash_tokens(chunks[0].ids), hash_tokens(std::vector<int32_t>{1, 10, 11}));
  EXPECT_NE(hash_tokens(std::vector<int32_t>{0}), hash_tokens(std::vector<int32_t>{0, 0}));
}

TEST(ChunkSelection, TopKInSourceOrderTiesToTheEarlierChunk) {
  const std::vector<double> s = {-3.0, -1.0, -2.0, -1.0, -5.0};
  EXPECT_EQ(select_top_k_chunks(s, 2), (std::vector<int>{1, 3}));
  EXPECT_EQ(select_top_k_chunks(s, 3), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(select_top_k_chunks(s, 1), (std::vector<int>{1}));
  EXPECT_EQ(select_top_k_chunks(s, 99), (std::vector<int>{0, 1, 2, 3, 4}));  // K > chunks: all
}

TEST(TokenSparsity, MaxPoolAndTopCapacityKeepTheAnchor) {
  const std::vector<float> s = {0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 5.0f, 0.0f};
  const std::vector<float> pooled = max_pool_scores(s, 3);
  EXPECT_EQ(pooled, (std::vector<float>{1, 1, 1, 0, 0, 0, 0, 5, 5, 5}));
  EXPECT_EQ(max_pool_scores(s, 1), s);
  EXPECT_EQ(max_pool_scores(s, 7)[4], 1.0f);  // window [1, 7]
  EXPECT_EQ(max_pool_scores(s, 7)[5], 5.0f);  // window [2, 8]
  // Top 3: the anchor (index 0) always, then 7, 8 (ties by index among 7, 8, 9).
  EXPECT_EQ(top_tokens(pooled, 3, true), (std::vector<int>{0, 7, 8}));
  EXPECT_EQ(top_tokens(pooled, 3, false), (std::vector<int>{7, 8, 9}));
  EXPECT_EQ(top_tokens(pooled, 20, true).size(), 10u);
}

TEST(ChunkKvCache, HitsMissesLruEvictionAndPageLifetimes) {
  auto backend = kernels::make_cpu_backend(1);
  auto pool = KvPool::create(backend.get(), 1, 1, 8, {.page_size = 4, .max_bytes = 64 * 1024});
  ASSERT_TRUE(pool.ok()) << pool.status();
  KvPool& p = **pool;
  auto entry = [&](int pages, int32_t token) {
    auto allocated = p.allocate(pages);
    EXPECT_TRUE(allocated.ok());
    auto kv = std::make_shared<ChunkKv>(&p, *allocated, std::vector<int32_t>{1},
                                        std::vector<int32_t>(pages * 4 - 1, token), true);
    p.release(*allocated);  // the entry holds the only reference now
    return kv;
  };
  const std::vector<int32_t> prefix = {1};
  ChunkKvCache cache(/*max_pages=*/5);
  auto a = entry(2, 10), b = entry(2, 11), c = entry(2, 12);
  const ChunkKvKey ka{"m", hash_tokens(prefix), hash_tokens(a->chunk_ids())};
  const ChunkKvKey kb{"m", hash_tokens(prefix), hash_tokens(b->chunk_ids())};
  const ChunkKvKey kc{"m", hash_tokens(prefix), hash_tokens(c->chunk_ids())};
  const std::vector<int32_t> a_pages(a->pages().begin(), a->pages().end());
  cache.insert(ka, a);
  cache.insert(kb, b);
  EXPECT_EQ(cache.lookup(ka, prefix, a->chunk_ids()), a);  // a is now the most recent
  EXPECT_EQ(cache.lookup({"other-model", ka.prefix_hash, ka.chunk_hash}, prefix, a->chunk_ids()),
            nullptr);
  EXPECT_EQ(cache.lookup(ka, prefix, b->chunk_ids()), nullptr);  // same key, other tokens
  cache.insert(kc, c);                                           // 6 pages > 5: evict b
  ChunkKvCacheStats st = cache.stats();
  EXPECT_EQ(st.hits, 1);
  EXPECT_EQ(st.misses, 2);
  EXPECT_EQ(st.insertions, 3);
  EXPECT_EQ(st.evictions, 1);
  EXPECT_EQ(st.entries, 2);
  EXPECT_EQ(st.pages, 4);
  EXPECT_EQ(cache.lookup(kb, prefix, b->chunk_ids()), nullptr);
  EXPECT_NE(cache.lookup(kc, prefix, c->chunk_ids()), nullptr);
  // Evicted b is still alive while held here; its pages free with the last holder.
  const int64_t used = p.stats().used_pages;
  EXPECT_EQ(used, 6);
  b.reset();
  EXPECT_EQ(p.stats().used_pages, 4);
  a.reset();
  EXPECT_EQ(p.ref_count(a_pages[0]), 1);  // the cache's reference
  cache.clear();
  c.reset();
  EXPECT_EQ(p.stats().used_pages, 0);
}

}  // namespace
}  // namespace dllm
