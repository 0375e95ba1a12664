// Prefilling-dLLM reuse mode on the golden tiny models: RoPE re-rotation equals encoding at the
// new position, chunk K/V cache hits return identical bytes and skip the encode, the stitched
// decode cache equals a brute-force assembly, and generation over a frozen prompt follows it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "common/generate/generate.h"
#include "common/sparse/chunk_scoring.h"
#include "common/sparse/prefilling.h"
#include "common/sparse/prompt_stitching.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/prefilling_kernels.h"
#include "tests/unit/prefilling_test_util.h"

namespace dllm {
namespace {

using testing::cat;
using testing::read_kv_row;
using testing::tiny_model;
using testing::token_run;

std::vector<float> inv_freq_of(const ModelConfig& c) {
  const std::vector<double> inv = c.rope_inv_freq();
  return std::vector<float>(inv.begin(), inv.end());
}

// The kernel against its definition: K roped at `a`, moved to `b`, equals K roped at `b`.
TEST(Rerotation, KernelEqualsRopeAtTheNewPosition) {
  auto be = kernels::make_cpu_backend(1);
  const int rows = 5, kvh = 2, hd = 16, elems = kvh * hd;
  ModelConfig c;
  c.head_dim = hd;
  c.rope_theta = 1e6;
  const std::vector<float> inv = inv_freq_of(c);
  std::vector<float> raw(rows * elems);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = std::sin(0.37f * i) * 1.5f;
  const std::vector<int32_t> from = {0, 3, 100, 1500, 2047}, to = {7, 0, 2000, 1501, 64};
  std::vector<float> at_from = raw, at_to = raw;
  be->rope(at_from.data(), rows, kvh, hd, from.data(), inv.data());
  be->rope(at_to.data(), rows, kvh, hd, to.data(), inv.data());
  std::vector<float> v(rows * elems, 0.5f), out_k(rows * elems), out_v(rows * elems);
  std::vector<int32_t> slots = {0, 1, 2, 3, 4};
  kernels::cpu::KvRerotateParams p{.src = {.k = at_from.data(), .v = v.data()},
                                   .dst = {.k = out_k.data(), .v = out_v.data()},
                                   .num_rows = rows,
                                   .num_kv_heads = kvh,
                                   .head_dim = hd,
                                   .src_slots = slots.data(),
                                   .dst_slots = slots.data(),
                                   .from_positions = from.data(),
                                   .to_positions = to.data(),
                                   .inv_freq = inv.data()};
  kernels::cpu::rerotate_kv_rows(p);
  for (size_t i = 0; i < out_k.size(); ++i) ASSERT_NEAR(out_k[i], at_to[i], 1e-5) << i;
  EXPECT_EQ(out_v, v);
  // In place, bf16 storage: within bf16 rounding; one head only leaves the other untouched.
  std::vector<uint16_t> k16(rows * elems), v16(rows * elems, 0);
  for (size_t i = 0; i < k16.size(); ++i) k16[i] = kernels::cpu::f32_to_bf16(at_from[i]);
  const std::vector<uint16_t> before = k16;
  const std::vector<int32_t> heads(rows, 1);
  kernels::KvView view{.k = k16.data(), .v = v16.data(), .dtype = kernels::DType::kBF16};
  p.src = p.dst = view;
  p.heads = heads.data();
  kernels::cpu::rerotate_kv_rows(p);
  for (int r = 0; r < rows; ++r)
    for (int e = 0; e < elems; ++e) {
      const size_t i = r * elems + e;
      if (e < hd) {
        EXPECT_EQ(k16[i], before[i]);
      } else {
        EXPECT_NEAR(kernels::cpu::bf16_to_f32(k16[i]), at_to[i], 2e-2) << i;
      }
    }
}

// Through the model: a causal sequence encoded at positions shifted by Δ has the same K/V up to
// the rotation (RoPE attention is relative), at every layer.
TEST(Rerotation, ReRotatedCacheEqualsEncodingAtTheNewPositions) {
  for (const std::string& dir : {testing::kLladaTiny, testing::kDreamTiny}) {
    Transformer& m = tiny_model(dir);
    const ModelConfig& c = m.config();
    const int n = 40, delta = 77, elems = c.num_kv_heads * c.head_dim;
    const std::vector<int32_t> ids = token_run(n, 70);
    std::vector<int32_t> slots(n), pos_a(n), pos_b(n);
    for (int i = 0; i < n; ++i) slots[i] = i, pos_a[i] = i, pos_b[i] = i + delta;
    auto a = m.new_kv_cache(n), b = m.new_kv_cache(n), moved = m.new_kv_cache(n);
    ASSERT_TRUE(a.ok() && b.ok() && moved.ok());
    std::vector<std::vector<float>> out;
    SequenceForward fa{.ids = ids,
                       .positions = pos_a,
                       .slots = slots,
                       .cache = a->get(),
                       .attend_len = n,
                       .causal = true,
                       .logit_rows = {slots.data(), 1}};
    SequenceForward fb = fa;
    fb.positions = pos_b;
    fb.cache = b->get();
    ASSERT_TRUE(m.forward({&fa, 1}, &out).ok());
    ASSERT_TRUE(m.forward({&fb, 1}, &out).ok());
    const std::vector<float> inv = inv_freq_of(c);
    for (int layer = 0; layer < c.num_layers; ++layer) {
      kernels::cpu::KvRerotateParams p{.src = m.kv_cache_layer(**a, layer),
                                       .dst = m.kv_cache_layer(**moved, layer),
                                       .num_rows = n,
                                       .num_kv_heads = c.num_kv_heads,
                                       .head_dim = c.head_dim,
                                       .src_slots = slots.data(),
                                       .dst_slots = slots.data(),
                                       .from_positions = pos_a.data(),
                                       .to_positions = pos_b.data(),
                                       .inv_freq = inv.data()};
      kernels::cpu::rerotate_kv_rows(p);
      for (int s = 0; s < n; ++s)
        for (bool k : {true, false}) {
          const auto got = read_kv_row(m.kv_cache_layer(**moved, layer), s, elems, k);
          const auto want = read_kv_row(m.kv_cache_layer(**b, layer), s, elems, k);
          for (int e = 0; e < elems; ++e)
            ASSERT_NEAR(got[e], want[e], 1e-5)
                << dir << " layer " << layer << " slot " << s << (k ? " K" : " V") << " elem " << e;
        }
    }
  }
}

PrefillingRequest make_request(const std::vector<int32_t>& prefix,
                               const std::vector<int32_t>& context,
                               const std::vector<int32_t>& query, const Transformer& m,
                               int32_t bos) {
  PrefillingRequest r{.prefix = prefix, .context = context, .query = query};
  const bool dream = m.config().family == ModelFamily::kDream;
  r.generation.sampler = dream ? Sampler::kDreamEntropy : Sampler::kLladaLowConfidence;
  r.generation.gen_length = 16;
  r.generation.block_length = dream ? 0 : 8;
  r.generation.steps = 16;
  r.prefilling.chunk_size = 32;
  r.prefilling.top_k = 2;
  r.prefilling.score_batch = 3;
  r.prefilling.bos_token_id = bos;
  return r;
}

// A document asked about twice is encoded once: the second request hits every chunk, runs no
// encode forward, sees byte-identical K/V, and still scores exactly.
TEST(ChunkKvCacheReuse, SecondRequestHitsEveryChunkWithIdenticalKv) {
  Transformer& m = tiny_model(testing::kLladaTiny);
  const ModelConfig& c = m.config();
  const int elems = c.num_kv_heads * c.head_dim;
  const std::vector<int32_t> prefix = token_run(3, 80), context = token_run(130, 81),
                             q1 = token_run(5, 82), q2 = token_run(6, 83);
  ChunkKvCache cache(1 << 20);
  PrefillingRequest r1 = make_request(prefix, context, q1, m, testing::kLladaBos);
  auto first = generate_prefilling(m, r1, &cache);
  ASSERT_TRUE(first.ok()) << first.status();
  const int n = static_cast<int>(first->report.chunks.size());
  EXPECT_EQ(first->report.chunks_encoded, n);
  EXPECT_EQ(first->report.chunk_cache_hits, 0);
  EXPECT_EQ(cache.stats().misses, n);
  EXPECT_EQ(cache.stats().entries, n);

  // Snapshot every entry's K/V bytes, and a fresh encode of the same chunks to compare.
  const auto chunks = plan_chunks(context, 32, true, testing::kLladaBos);
  std::vector<std::shared_ptr<const ChunkKv>> entries;
  std::vector<const PlannedChunk*> ptrs;
  for (const PlannedChunk& ch : chunks) {
    entries.push_back(
        cache.lookup({"model", hash_tokens(prefix), hash_tokens(ch.ids)}, prefix, ch.ids));
    ASSERT_NE(entries.back(), nullptr);
    ptrs.push_back(&ch);
  }
  auto fresh = encode_chunks(m, prefix, ptrs);
  ASSERT_TRUE(fresh.ok());
  KvPool& pool = **m.kv_pool();
  auto bytes = [&](const ChunkKv& kv) {
    std::vector<float> all;
    for (int layer = 0; layer < c.num_layers; ++layer)
      for (int s = 0; s < kv.slots(); ++s)
        for (bool k : {true, false}) {
          const auto row = read_kv_row(pool.layer_view(layer, kv.pages().data()), s, elems, k);
          all.insert(all.end(), row.begin(), row.end());
        }
    return all;
  };
  std::vector<std::vector<float>> snapshot;
  for (int i = 0; i < n; ++i) {
    snapshot.push_back(bytes(*entries[i]));
    const std::vector<float> f = bytes(*(*fresh)[i]);
    ASSERT_EQ(snapshot.back().size(), f.size());
    EXPECT_EQ(std::memcmp(snapshot.back().data(), f.data(), f.size() * sizeof(float)), 0)
        << "chunk " << i;
  }
  const ChunkKvCacheStats before = cache.stats();

  PrefillingRequest r2 = make_request(prefix, context, q2, m, testing::kLladaBos);
  auto second = generate_prefilling(m, r2, &cache);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->report.chunks_encoded, 0);
  EXPECT_EQ(second->report.encode_forwards, 0);
  EXPECT_EQ(second->report.chunk_cache_hits, n);
  EXPECT_EQ(cache.stats().hits - before.hits, n);
  EXPECT_EQ(cache.stats().misses, before.misses);
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(second->report.chunks[i].cache_hit);
    const std::vector<float> now = bytes(*entries[i]);
    EXPECT_EQ(std::memcmp(now.data(), snapshot[i].data(), now.size() * sizeof(float)), 0);
    auto draft = predict_draft(m, prefix, q2, 4);
    EXPECT_NEAR(second->report.chunks[i].score,
                testing::brute_force_score(m, prefix, chunks[i].ids, q2, *draft), 2e-5);
  }
  // Another prefix is another key.
  const std::vector<int32_t> other_prefix = token_run(3, 84);
  PrefillingRequest r3 = make_request(other_prefix, context, q2, m, testing::kLladaBos);
  auto third = generate_prefilling(m, r3, &cache);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->report.chunks_encoded, n);
}

// Rotates a post-RoPE row from position a to b the long way: undo RoPE at a, apply it at b.
void reference_rotate(std::vector<float>& k, int heads, int hd, const std::vector<float>& inv,
                      int a, int b) {
  for (int h = 0; h < heads; ++h)
    for (int j = 0; j < hd / 2; ++j) {
      float* x = k.data() + h * hd;
      const double ta = static_cast<float>(a) * inv[j], tb = static_cast<float>(b) * inv[j];
      const double u = x[j] * std::cos(ta) + x[j + hd / 2] * std::sin(ta);
      const double w = x[j + hd / 2] * std::cos(ta) - x[j] * std::sin(ta);
      x[j] = static_cast<float>(u * std::cos(tb) - w * std::sin(tb));
      x[j + hd / 2] = static_cast<float>(w * std::cos(tb) + u * std::sin(tb));
    }
}

// The decode cache of reuse mode equals one assembled by hand from independently encoded
// chunks; generation over it equals generation over the hand-made cache.
void check_reuse(const std::string& dir, int32_t bos, KvCacheMode mode) {
  Transformer& m = tiny_model(dir);
  const ModelConfig& c = m.config();
  const int elems = c.num_kv_heads * c.head_dim;
  // 5 chunks of BOS + 31 tokens (prefix + chunk crosses a page boundary).
  const std::vector<int32_t> prefix = token_run(70, 90), context = token_run(155, 91),
                             query = token_run(6, 92);
  PrefillingRequest r = make_request(prefix, context, query, m, bos);
  r.prefilling.chunk_mode = ChunkMode::kReuse;
  r.generation.cache = mode;
  auto sel = select_prefilling_chunks(m, r, nullptr, /*keep_kv=*/true);
  ASSERT_TRUE(sel.ok()) << sel.status();
  ASSERT_EQ(sel->selected.size(), 2u);
  const int extra = 6 + 16;
  auto stitched = stitch_prompt_cache(m, sel->selected_kv, {}, extra);
  ASSERT_TRUE(stitched.ok()) << stitched.status();
  const int P = 70, F = P + 64;
  EXPECT_EQ(stitched->frozen_len, F);
  // The prefix's whole page is shared; with the first chunk at its own place more may be.
  EXPECT_EQ(stitched->shared_pages, sel->selected[0] == 0 ? (P + 32) / 64 : P / 64);

  // By hand: encode prefix + chunk alone (no cache of ours), rotate chunk rows to P + 32 j + i.
  auto hand = m.new_kv_cache(F + extra);
  ASSERT_TRUE(hand.ok());
  const std::vector<float> inv = inv_freq_of(c);
  std::vector<int32_t> expect_ids = prefix;
  for (size_t j = 0; j < 2; ++j) {
    const PlannedChunk& ch = sel->chunks[sel->selected[j]];
    expect_ids.insert(expect_ids.end(), ch.ids.begin(), ch.ids.end());
    const std::vector<int32_t> seq = cat({prefix, ch.ids});
    std::vector<int32_t> pos(seq.size());
    std::iota(pos.begin(), pos.end(), 0);
    auto enc = m.new_kv_cache(static_cast<int>(seq.size()));
    ASSERT_TRUE(enc.ok());
    SequenceForward f{.ids = seq,
                      .positions = pos,
                      .cache = enc->get(),
                      .attend_len = static_cast<int>(seq.size()),
                      .causal = true,
                      .logit_rows = {pos.data(), 1}};
    std::vector<std::vector<float>> out;
    ASSERT_TRUE(m.forward({&f, 1}, &out).ok());
    for (int layer = 0; layer < c.num_layers; ++layer) {
      const kernels::KvView src = m.kv_cache_layer(**enc, layer),
                            dst = m.kv_cache_layer(**hand, layer);
      for (int s = (j == 0 ? 0 : P); s < static_cast<int>(seq.size()); ++s) {
        const int to = s < P ? s : P + 32 * static_cast<int>(j) + (s - P);
        std::vector<float> k = read_kv_row(src, s, elems, true),
                           v = read_kv_row(src, s, elems, false);
        reference_rotate(k, c.num_kv_heads, c.head_dim, inv, s, to);
        std::memcpy(static_cast<float*>(dst.k) + dst.row_offset(to, elems), k.data(), elems * 4);
        std::memcpy(static_cast<float*>(dst.v) + dst.row_offset(to, elems), v.data(), elems * 4);
      }
    }
  }
  EXPECT_EQ(stitched->ids, expect_ids);
  for (int layer = 0; layer < c.num_layers; ++layer)
    for (int s = 0; s < F; ++s)
      for (bool k : {true, false}) {
        const auto got = read_kv_row(m.kv_cache_layer(*stitched->cache, layer), s, elems, k);
        const auto want = read_kv_row(m.kv_cache_layer(**hand, layer), s, elems, k);
        for (int e = 0; e < elems; ++e)
          ASSERT_NEAR(got[e], want[e], 1e-5) << "layer " << layer << " slot " << s << " elem " << e;
      }

  auto got = generate_prefilling(m, r);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->report.frozen_len, F);
  EXPECT_EQ(got->report.prompt, cat({expect_ids, query}));
  auto want = generate_with_frozen_prompt(m, got->report.prompt, r.generation,
                                          FrozenPromptCache{std::move(*hand), F});
  ASSERT_TRUE(want.ok()) << want.status();
  EXPECT_EQ(got->generation.generated, want->generated);
  // Rows run per step: only query + generated region, never the stitched prompt.
  EXPECT_LE(got->generation.counters.rows_computed,
            got->generation.counters.forward_passes * static_cast<int64_t>(6 + 16));
}

TEST(ReuseMode, StitchedCacheEqualsHandAssemblyLlada) {
  check_reuse(testing::kLladaTiny, testing::kLladaBos, KvCacheMode::kNone);
  check_reuse(testing::kLladaTiny, testing::kLladaBos, KvCacheMode::kDual);
}

TEST(ReuseMode, StitchedCacheEqualsHandAssemblyDream) {
  check_reuse(testing::kDreamTiny, 500, KvCacheMode::kPrefix);
}

// Token capacity in reuse mode: global and per (layer, KV head) selections are stitched at
// contiguous positions, each kept row re-rotated from where it was encoded.
TEST(ReuseMode, TokenCapacityGlobalAndPerHead) {
  Transformer& m = tiny_model(testing::kDreamTiny);
  const ModelConfig& c = m.config();
  const int elems = c.num_kv_heads * c.head_dim, hd = c.head_dim;
  const std::vector<int32_t> prefix = token_run(5, 95), context = token_run(150, 96),
                             query = token_run(9, 97);
  const std::vector<float> inv = inv_freq_of(c);
  for (TokenSelect select : {TokenSelect::kGlobal, TokenSelect::kPerHead}) {
    PrefillingRequest r = make_request(prefix, context, query, m, 500);
    r.prefilling.chunk_mode = ChunkMode::kReuse;
    r.prefilling.token_capacity = 12;
    r.prefilling.token_select = select;
    auto sel = select_prefilling_chunks(m, r, nullptr, true);
    ASSERT_TRUE(sel.ok()) << sel.status();
    auto stitched = stitch_prompt_cache(m, sel->selected_kv, sel->tokens, 30);
    ASSERT_TRUE(stitched.ok()) << stitched.status();
    EXPECT_EQ(stitched->frozen_len, 5 + 2 * 12);
    for (size_t j = 0; j < 2; ++j) {
      const ChunkTokenSelection& t = sel->tokens[j];
      const int lists = select == TokenSelect::kGlobal ? 1 : c.num_layers * c.num_kv_heads;
      ASSERT_EQ(select == TokenSelect::kGlobal ? 0u : t.per_head.size(),
                select == TokenSelect::kGlobal ? 0u : static_cast<size_t>(lists));
      for (int lh = 0; lh < lists; ++lh) {
        const std::vector<int>& kept = select == TokenSelect::kGlobal ? t.global : t.per_head[lh];
        ASSERT_EQ(kept.size(), 12u);
        EXPECT_EQ(kept.front(), 0);  // the BOS anchor
        EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
        const int layer = select == TokenSelect::kGlobal ? 0 : lh / c.num_kv_heads;
        const int h0 = select == TokenSelect::kGlobal ? 0 : lh % c.num_kv_heads;
        const int h1 = select == TokenSelect::kGlobal ? c.num_kv_heads : h0 + 1;
        const ChunkKv& src = *sel->selected_kv[j];
        for (size_t k = 0; k < kept.size(); ++k) {
          const int from = 5 + kept[k], to = 5 + 12 * static_cast<int>(j) + static_cast<int>(k);
          std::vector<float> want =
              read_kv_row((*m.kv_pool())->layer_view(layer, src.pages().data()), from, elems, true);
          reference_rotate(want, c.num_kv_heads, hd, inv, from, to);
          const auto got = read_kv_row(m.kv_cache_layer(*stitched->cache, layer), to, elems, true);
          for (int e = h0 * hd; e < h1 * hd; ++e) ASSERT_NEAR(got[e], want[e], 1e-5);
        }
      }
    }
    auto gen = generate_prefilling(m, r);
    ASSERT_TRUE(gen.ok()) << gen.status();
    EXPECT_EQ(gen->report.frozen_len, 5 + 2 * 12);
    EXPECT_EQ(gen->generation.generated.size(), 16u);
  }
}

// generate_with_frozen_prompt against a hand-written LLaDA low-confidence loop (one block, one
// token a step) over the same frozen cache; and with nothing frozen it is generate().
TEST(FrozenPrompt, FollowsAHandWrittenLoopAndEqualsGenerateWhenNothingIsFrozen) {
  Transformer& m = tiny_model(testing::kLladaTiny);
  const ModelConfig& c = m.config();
  const std::vector<int32_t> prompt = token_run(30, 99);
  const int F = 20, G = 8, n = 30 + G, width = c.embedding_rows;
  auto frozen_cache = [&]() {
    auto cache = m.new_kv_cache(n);
    EXPECT_TRUE(cache.ok());
    std::vector<int32_t> pos(F);
    std::iota(pos.begin(), pos.end(), 0);
    SequenceForward f{.ids = std::span<const int32_t>(prompt).first(F),
                      .positions = pos,
                      .cache = cache->get(),
                      .attend_len = F,
                      .logit_rows = {pos.data(), 1}};
    std::vector<std::vector<float>> out;
    EXPECT_TRUE(m.forward({&f, 1}, &out).ok());
    return std::move(*cache);
  };
  GenerationOptions o;
  o.gen_length = G;
  o.block_length = G;
  o.steps = G;
  auto got = generate_with_frozen_prompt(m, prompt, o, FrozenPromptCache{frozen_cache(), F});
  ASSERT_TRUE(got.ok()) << got.status();

  auto cache = frozen_cache();
  std::vector<int32_t> x = prompt;
  x.resize(n, c.mask_token_id);
  std::vector<int32_t> pos(n - F);
  std::iota(pos.begin(), pos.end(), F);
  for (int step = 0; step < G; ++step) {
    SequenceForward f{.ids = std::span<const int32_t>(x).subspan(F),
                      .positions = pos,
                      .cache = cache.get(),
                      .attend_len = n};
    std::vector<std::vector<float>> out;
    ASSERT_TRUE(m.forward({&f, 1}, &out).ok());
    int best_p = -1, best_t = -1;
    double best_conf = -1;
    for (int p = 30; p < n; ++p) {
      if (x[p] != c.mask_token_id) continue;
      std::span<const float> row(out[0].data() + static_cast<size_t>(p - F) * width, width);
      const int t = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
      const double conf = std::exp(testing::reference_log_prob(row, t));
      if (conf > best_conf) best_conf = conf, best_p = p, best_t = t;
    }
    x[best_p] = best_t;
  }
  EXPECT_EQ(got->sequence, x);
  EXPECT_EQ(got->counters.rows_computed, static_cast<int64_t>(G) * (n - F));

  for (KvCacheMode mode : {KvCacheMode::kPrefix, KvCacheMode::kDual}) {
    o.cache = mode;
    auto empty = m.new_kv_cache(n);
    ASSERT_TRUE(empty.ok());
    auto frozen =
        generate_with_frozen_prompt(m, prompt, o, FrozenPromptCache{std::move(*empty), 0});
    auto plain = generate(m, prompt, o);
    ASSERT_TRUE(frozen.ok() && plain.ok());
    EXPECT_EQ(frozen->sequence, plain->sequence);
  }
  // Bad frozen requests.
  GenerationOptions longer = o;
  longer.gen_length = longer.block_length = longer.steps = 64;
  auto small = m.new_kv_cache(10);  // one page: 64 slots < 30 + 64
  EXPECT_EQ(generate_with_frozen_prompt(m, prompt, longer, FrozenPromptCache{std::move(*small), 5})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(
      generate_with_frozen_prompt(m, prompt, o, FrozenPromptCache{frozen_cache(), 30}).ok());
  o.cfg_scale = 1.0;
  EXPECT_FALSE(
      generate_with_frozen_prompt(m, prompt, o, FrozenPromptCache{frozen_cache(), F}).ok());
}

}  // namespace
}  // namespace dllm
