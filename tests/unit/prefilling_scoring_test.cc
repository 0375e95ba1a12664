// Prefilling-dLLM selection on the golden tiny models against brute force: the draft, every
// chunk's score (separate full forwards per chunk / per masked target, no sharing), top-K, the
// shared-page layout (read-only pages, gap masking, no leaks), token attention scores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/sparse/chunk_scoring.h"
#include "common/sparse/suffix_cache.h"
#include "common/sparse/token_sparsity.h"
#include "kernels/cpu/prefilling_kernels.h"
#include "tests/unit/prefilling_test_util.h"

namespace dllm {
namespace {

using testing::brute_force_score;
using testing::cat;
using testing::tiny_model;
using testing::token_run;

// The draft by its definition, written out independently.
Draft reference_draft(Transformer& m, std::span<const int32_t> prefix,
                      std::span<const int32_t> query, int n) {
  const ModelConfig& c = m.config();
  const int shift = c.family == ModelFamily::kDream ? 1 : 0;
  const int base = static_cast<int>(prefix.size() + query.size()), width = c.embedding_rows;
  std::vector<int32_t> seq = cat({prefix, query});
  seq.resize(base + n, c.mask_token_id);
  auto best = [&](const std::vector<float>& logits, int row, double* prob) {
    const float* r = logits.data() + static_cast<size_t>(row) * width;
    int arg = -1;
    for (int v = 0; v < width; ++v)
      if (v != c.mask_token_id && (arg < 0 || r[v] > r[arg])) arg = v;
    *prob = std::exp(testing::reference_log_prob({r, static_cast<size_t>(width)}, arg));
    return static_cast<int32_t>(arg);
  };
  Draft d;
  d.ids.assign(n, c.mask_token_id);
  double p = 0;
  d.ids[0] = seq[base] = best(testing::full_forward(m, seq, false, {}), base - shift, &p);
  d.committed.push_back(0);
  const std::vector<float> logits = testing::full_forward(m, seq, false, {});
  int slot = -1;
  double best_p = -1;
  for (int s = 1; s < n; ++s) {
    const int32_t t = best(logits, base + s - shift, &p);
    if (p > best_p) best_p = p, slot = s, d.ids[s] = t;
  }
  for (int s = 1; s < n; ++s)
    if (s != slot) d.ids[s] = c.mask_token_id;
  d.committed.push_back(slot);
  return d;
}

// Selected iff fewer than k chunks beat it (higher score, or equal and earlier).
std::vector<int> reference_top_k(const std::vector<double>& s, int k) {
  std::vector<int> out;
  for (size_t i = 0; i < s.size(); ++i) {
    int better = 0;
    for (size_t j = 0; j < s.size(); ++j) better += s[j] > s[i] || (s[j] == s[i] && j < i);
    if (better < k) out.push_back(static_cast<int>(i));
  }
  return out;
}

struct Case {
  std::string model;
  int32_t bos;
  int chunk_size;
  int score_batch;
};

void check_scores(const Case& k) {
  Transformer& m = tiny_model(k.model);
  const std::vector<int32_t> prefix = token_run(5, 1), context = token_run(150, 2),
                             query = token_run(6, 3);
  const std::vector<PlannedChunk> chunks = plan_chunks(context, k.chunk_size, true, k.bos);
  ASSERT_GE(chunks.size(), 2u);

  absl::StatusOr<Draft> draft = predict_draft(m, prefix, query, 4);
  ASSERT_TRUE(draft.ok()) << draft.status();
  const Draft ref = reference_draft(m, prefix, query, 4);
  EXPECT_EQ(draft->ids, ref.ids);
  EXPECT_EQ(draft->committed, ref.committed);
  EXPECT_EQ(draft->forwards, 2);

  const int64_t used_before = (*m.kv_pool())->stats().used_pages;
  ChunkScoringInput in{.prefix = prefix,
                       .chunks = chunks,
                       .query = query,
                       .draft = &*draft,
                       .score_batch = k.score_batch,
                       .model_id = "tiny"};
  absl::StatusOr<ChunkScoring> s = score_chunks(m, nullptr, in);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->num_targets, 6 + 2);
  EXPECT_EQ(s->chunks_encoded, static_cast<int64_t>(chunks.size()));
  EXPECT_EQ(s->encode_forwards,
            static_cast<int64_t>((chunks.size() + k.score_batch - 1) / k.score_batch));
  std::vector<double> brute;
  for (const PlannedChunk& c : chunks)
    brute.push_back(brute_force_score(m, prefix, c.ids, query, *draft));
  for (size_t c = 0; c < chunks.size(); ++c)
    EXPECT_NEAR(s->scores[c], brute[c], 2e-5) << "chunk " << c;
  for (int top : {1, 2, 3, 100})
    EXPECT_EQ(select_top_k_chunks(s->scores, top), reference_top_k(brute, top)) << "K " << top;
  // Nothing kept (keep_top_k 0): every page is back in the pool.
  for (const auto& kv : s->kv) EXPECT_EQ(kv, nullptr);
  EXPECT_EQ((*m.kv_pool())->stats().used_pages, used_before);
}

// Prefix + chunk inside one page (the suffix after a masked gap), and across pages.
TEST(ChunkScoring, LladaLeaveOneOutEqualsBruteForce) {
  check_scores({testing::kLladaTiny, testing::kLladaBos, 40, 3});
  check_scores({testing::kLladaTiny, testing::kLladaBos, 100, 8});
}

TEST(ChunkScoring, DreamShiftedEqualsBruteForce) {
  check_scores({testing::kDreamTiny, 500, 40, 3});
  check_scores({testing::kDreamTiny, 500, 100, 1});
}

TEST(ChunkScoring, KeepsTheTopKChunkKvAndBatchSizeChangesNothing) {
  Transformer& m = tiny_model(testing::kLladaTiny);
  const std::vector<int32_t> prefix = token_run(3, 4), context = token_run(120, 5),
                             query = token_run(4, 6);
  const auto chunks = plan_chunks(context, 30, true, testing::kLladaBos);
  auto draft = predict_draft(m, prefix, query, 3);
  ASSERT_TRUE(draft.ok());
  std::vector<std::vector<double>> scores;
  for (const auto& [batch, variants] : {std::pair{1, 64}, {2, 1}, {16, 5}, {3, 1000}}) {
    ChunkScoringInput in{.prefix = prefix,
                         .chunks = chunks,
                         .query = query,
                         .draft = &*draft,
                         .score_batch = batch,
                         .variant_batch = variants,
                         .keep_top_k = 2};
    auto s = score_chunks(m, nullptr, in);
    ASSERT_TRUE(s.ok()) << s.status();
    const std::vector<int> top = select_top_k_chunks(s->scores, 2);
    for (size_t c = 0; c < chunks.size(); ++c) {
      const bool kept = std::find(top.begin(), top.end(), static_cast<int>(c)) != top.end();
      EXPECT_EQ(s->kv[c] != nullptr, kept) << "chunk " << c;
    }
    scores.push_back(s->scores);
  }
  for (size_t c = 0; c < chunks.size(); ++c) {
    EXPECT_NEAR(scores[0][c], scores[1][c], 1e-9);
    EXPECT_NEAR(scores[0][c], scores[2][c], 1e-9);
    EXPECT_NEAR(scores[0][c], scores[3][c], 1e-9);
  }
}

TEST(SharedPages, AreReadOnlyForTheCacheThatBorrowsThem) {
  Transformer& m = tiny_model(testing::kLladaTiny);
  const std::vector<int32_t> prefix = token_run(2, 7);
  const auto chunks = plan_chunks(token_run(70, 8), 80, true, testing::kLladaBos);
  std::vector<const PlannedChunk*> one = {&chunks[0]};
  auto kv = encode_chunks(m, prefix, one);
  ASSERT_TRUE(kv.ok()) << kv.status();
  const ChunkKv& chunk = *(*kv)[0];
  EXPECT_EQ(chunk.slots(), 73);
  ASSERT_EQ(chunk.pages().size(), 2u);
  KvPool& pool = **m.kv_pool();
  EXPECT_EQ(pool.ref_count(chunk.pages()[0]), 1);
  {
    const SuffixLayout l = suffix_layout(chunk, pool.page_size(), 3);
    EXPECT_EQ(l.boundary, 128);
    EXPECT_EQ(l.slots, (std::vector<int32_t>{128, 129, 130}));
    EXPECT_EQ(l.positions, (std::vector<int32_t>{73, 74, 75}));
    EXPECT_EQ(std::count(l.key_mask.begin(), l.key_mask.end(), 0), 128 - 73);
    auto cache = new_suffix_cache(m, chunk, l);
    ASSERT_TRUE(cache.ok());
    EXPECT_EQ(pool.ref_count(chunk.pages()[0]), 2);
    EXPECT_EQ(m.kv_cache_pages(**cache).first(2)[1], chunk.pages()[1]);
    // A row written into a shared page is refused.
    const std::vector<int32_t> ids = {5}, pos = {73}, bad_slot = {127};
    SequenceForward f{
        .ids = ids, .positions = pos, .slots = bad_slot, .cache = cache->get(), .attend_len = 131};
    std::vector<std::vector<float>> out;
    absl::Status st = m.forward({&f, 1}, &out);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("read-only"), std::string::npos) << st.message();
  }
  EXPECT_EQ(pool.ref_count(chunk.pages()[0]), 1);
}

TEST(KeyAttentionScores, KernelEqualsNaiveSoftmax) {
  const int nq = 3, keys = 11, H = 4, KV = 2, hd = 8;
  std::vector<float> q(nq * H * hd), k(keys * KV * hd), v(k.size(), 0.0f);
  uint64_t x = 99;
  auto rnd = [&] {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return static_cast<float>(x % 2001) / 1000.0f - 1.0f;
  };
  for (float& f : q) f = rnd();
  for (float& f : k) f = rnd();
  std::vector<uint8_t> mask(keys, 1);
  mask[4] = 0;
  const std::vector<int32_t> slots = {6, 8, 10};
  std::vector<float> out(KV * keys, 0.0f);
  kernels::cpu::KeyAttentionScoreParams p{.q = q.data(),
                                          .kv = {.k = k.data(), .v = v.data()},
                                          .num_q = nq,
                                          .num_keys = keys,
                                          .num_heads = H,
                                          .num_kv_heads = KV,
                                          .head_dim = hd,
                                          .scale = 0.35f,
                                          .key_mask = mask.data(),
                                          .q_slots = slots.data(),
                                          .causal = true,
                                          .out = out.data()};
  kernels::cpu::accumulate_key_attention_scores(p);
  std::vector<double> ref(KV * keys, 0.0);
  for (int r = 0; r < nq; ++r)
    for (int h = 0; h < H; ++h) {
      const int g = h / (H / KV);
      std::vector<double> e(keys, 0.0);
      double sum = 0;
      for (int j = 0; j <= slots[r]; ++j) {
        if (!mask[j]) continue;
        double d = 0;
        for (int t = 0; t < hd; ++t) d += q[(r * H + h) * hd + t] * k[(j * KV + g) * hd + t];
        sum += e[j] = std::exp(d * 0.35);
      }
      for (int j = 0; j < keys; ++j) ref[g * keys + j] += e[j] / sum;
    }
  for (int i = 0; i < KV * keys; ++i) EXPECT_NEAR(out[i], ref[i], 1e-6) << i;
  EXPECT_EQ(out[4], 0.0f);
}

// Token attention through shared pages equals the same scores read off one contiguous causal
// pass over prefix + chunk + suffix.
TEST(TokenAttention, SharedPagesEqualOneContiguousPass) {
  Transformer& m = tiny_model(testing::kDreamTiny);
  const ModelConfig& c = m.config();
  const std::vector<int32_t> prefix = token_run(4, 9), query = token_run(10, 10),
                             draft = {c.mask_token_id, 17};
  const auto chunks = plan_chunks(token_run(50, 11), 30, true, 500);
  std::vector<const PlannedChunk*> ptrs = {&chunks[0], &chunks[1]};
  auto kv = encode_chunks(m, prefix, ptrs);
  ASSERT_TRUE(kv.ok());
  const std::vector<int32_t> suffix = cat({query, draft});
  auto got = chunk_token_attention(m, *kv, suffix, 10, 8, 4);
  ASSERT_TRUE(got.ok()) << got.status();
  for (size_t i = 0; i < 2; ++i) {
    const std::vector<int32_t> seq = cat({prefix, chunks[i].ids, suffix});
    const int n = static_cast<int>(seq.size()), base = 4 + static_cast<int>(chunks[i].ids.size());
    std::vector<int32_t> pos(n);
    std::iota(pos.begin(), pos.end(), 0);
    auto cache = m.new_kv_cache(n);
    ASSERT_TRUE(cache.ok());
    const int32_t last = n - 1;
    SequenceForward f{.ids = seq,
                      .positions = pos,
                      .cache = cache->get(),
                      .attend_len = n,
                      .causal = true,
                      .logit_rows = {&last, 1}};
    Transformer::QueryCapture cap;
    for (int r = base + 2; r < base + 10; ++r) cap.rows.push_back(r);
    std::vector<std::vector<float>> logits;
    ASSERT_TRUE(m.forward_capturing_queries({&f, 1}, {&cap, 1}, &logits).ok());
    const int len = static_cast<int>(chunks[i].ids.size());
    const int64_t qd = static_cast<int64_t>(c.num_heads) * c.head_dim;
    for (int layer = 0; layer < c.num_layers; ++layer) {
      std::vector<float> out(c.num_kv_heads * n, 0.0f);
      kernels::cpu::KeyAttentionScoreParams p{
          .q = cap.q.data() + layer * 8 * qd,
          .kv = m.kv_cache_layer(**cache, layer),
          .num_q = 8,
          .num_keys = n,
          .num_heads = c.num_heads,
          .num_kv_heads = c.num_kv_heads,
          .head_dim = c.head_dim,
          .scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim)),
          .q_slots = cap.rows.data(),
          .causal = true,
          .out = out.data()};
      kernels::cpu::accumulate_key_attention_scores(p);
      for (int h = 0; h < c.num_kv_heads; ++h)
        for (int t = 0; t < len; ++t)
          EXPECT_NEAR((*got)[i][(layer * c.num_kv_heads + h) * len + t], out[h * n + 4 + t], 1e-5)
              << "chunk " << i << " layer " << layer << " head " << h << " token " << t;
    }
  }
}

}  // namespace
}  // namespace dllm
