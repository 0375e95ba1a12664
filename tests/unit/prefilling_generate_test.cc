// Prefilling-dLLM end to end on the golden tiny models: with every chunk kept the output is dense
// generation on the same BOS-anchored prompt token for token; top-K and token sparsity generate
// over exactly the compressed prompt; short contexts fall back; bad requests are refused; chat
// prompts split around the context.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/sparse/chunk_scoring.h"
#include "common/sparse/prefilling.h"
#include "common/sparse/prefilling_prompt.h"
#include "common/tokenizer/tokenizer.h"
#include "tests/unit/prefilling_test_util.h"

namespace dllm {
namespace {

using testing::cat;
using testing::tiny_model;
using testing::token_run;

struct Fixture {
  std::vector<int32_t> prefix, context, query;
};

Fixture fixture(int context_len, uint64_t seed) {
  return {token_run(4, seed), token_run(context_len, seed + 1), token_run(5, seed + 2)};
}

GenerationOptions options_for(const Transformer& m, KvCacheMode cache) {
  GenerationOptions g;
  const bool dream = m.config().family == ModelFamily::kDream;
  g.sampler = dream ? Sampler::kDreamEntropy : Sampler::kLladaLowConfidence;
  g.gen_length = 16;
  g.block_length = dream ? 0 : 8;
  g.steps = 16;
  g.cache = cache;
  return g;
}

PrefillingRequest request_for(const Fixture& f, const GenerationOptions& g, int32_t bos) {
  PrefillingRequest r{.prefix = f.prefix, .context = f.context, .query = f.query, .generation = g};
  r.prefilling.chunk_size = 32;
  r.prefilling.score_batch = 4;
  r.prefilling.bos_token_id = bos;
  return r;
}

// prefix ++ [BOS] + 31 context tokens ++ ... ++ query, built by hand.
std::vector<int32_t> anchored_prompt(const Fixture& f, int32_t bos, int content,
                                     const std::vector<int>& chunks) {
  std::vector<int32_t> out = f.prefix;
  for (int c : chunks) {
    out.push_back(bos);
    const int b = c * content, e = std::min<int>(f.context.size(), b + content);
    out.insert(out.end(), f.context.begin() + b, f.context.begin() + e);
  }
  out.insert(out.end(), f.query.begin(), f.query.end());
  return out;
}

void check_all_chunks_equal_dense(const std::string& dir, int32_t bos, KvCacheMode cache) {
  Transformer& m = tiny_model(dir);
  const Fixture f = fixture(100, 20);  // 4 chunks of 31 + BOS (the last holds 7)
  PrefillingRequest r = request_for(f, options_for(m, cache), bos);
  r.prefilling.top_k = 100;  // K > chunks keeps all
  auto got = generate_prefilling(m, r);
  ASSERT_TRUE(got.ok()) << got.status();
  const PrefillingReport& rep = got->report;
  ASSERT_FALSE(rep.dense_fallback);
  ASSERT_EQ(rep.chunks.size(), 4u);
  EXPECT_EQ(rep.selected, (std::vector<int>{0, 1, 2, 3}));
  const std::vector<int32_t> expect = anchored_prompt(f, bos, 31, {0, 1, 2, 3});
  EXPECT_EQ(rep.prompt, expect);
  // Every context token exactly once: drop the anchors and the full prompt comes back.
  std::vector<int32_t> unanchored = f.prefix;
  for (const ChunkReport& c : rep.chunks)
    unanchored.insert(unanchored.end(), f.context.begin() + c.context_begin,
                      f.context.begin() + c.context_end);
  unanchored.insert(unanchored.end(), f.query.begin(), f.query.end());
  EXPECT_EQ(unanchored, cat({f.prefix, f.context, f.query}));
  EXPECT_EQ(std::count(rep.prompt.begin(), rep.prompt.end(), bos), 4);

  auto dense = generate(m, expect, r.generation);
  ASSERT_TRUE(dense.ok()) << dense.status();
  EXPECT_EQ(got->generation.generated, dense->generated);
  EXPECT_EQ(got->generation.sequence, dense->sequence);
}

TEST(PrefillingGenerate, AllChunksReprefillEqualsDenseLlada) {
  for (KvCacheMode c : {KvCacheMode::kNone, KvCacheMode::kPrefix, KvCacheMode::kDual})
    check_all_chunks_equal_dense(testing::kLladaTiny, testing::kLladaBos, c);
}

TEST(PrefillingGenerate, AllChunksReprefillEqualsDenseDream) {
  for (KvCacheMode c : {KvCacheMode::kNone, KvCacheMode::kDual})
    check_all_chunks_equal_dense(testing::kDreamTiny, 500, c);
}

TEST(PrefillingGenerate, TopKReprefillRunsOnTheBruteForceSelection) {
  for (const auto& [dir, bos] :
       {std::pair{testing::kLladaTiny, testing::kLladaBos}, std::pair{testing::kDreamTiny, 500}}) {
    Transformer& m = tiny_model(dir);
    const Fixture f = fixture(160, 30);  // 6 chunks
    PrefillingRequest r = request_for(f, options_for(m, KvCacheMode::kPrefix), bos);
    r.prefilling.top_k = 2;
    auto got = generate_prefilling(m, r);
    ASSERT_TRUE(got.ok()) << got.status();
    const PrefillingReport& rep = got->report;
    // Brute-force scores and selection.
    auto draft = predict_draft(m, f.prefix, f.query, 4);
    ASSERT_TRUE(draft.ok());
    EXPECT_EQ(rep.draft, draft->ids);
    std::vector<double> brute;
    for (const ChunkReport& c : rep.chunks) {
      std::vector<int32_t> ids = {bos};
      ids.insert(ids.end(), f.context.begin() + c.context_begin, f.context.begin() + c.context_end);
      brute.push_back(testing::brute_force_score(m, f.prefix, ids, f.query, *draft));
      EXPECT_NEAR(c.score, brute.back(), 2e-5);
    }
    std::vector<int> order(brute.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return brute[a] != brute[b] ? brute[a] > brute[b] : a < b; });
    std::vector<int> expect_sel(order.begin(), order.begin() + 2);
    std::sort(expect_sel.begin(), expect_sel.end());
    EXPECT_EQ(rep.selected, expect_sel);
    for (size_t c = 0; c < rep.chunks.size(); ++c)
      EXPECT_EQ(rep.chunks[c].selected, std::find(expect_sel.begin(), expect_sel.end(),
                                                  static_cast<int>(c)) != expect_sel.end());
    const std::vector<int32_t> expect = anchored_prompt(f, bos, 31, expect_sel);
    EXPECT_EQ(rep.prompt, expect);
    auto dense = generate(m, expect, r.generation);
    ASSERT_TRUE(dense.ok());
    EXPECT_EQ(got->generation.generated, dense->generated);
    EXPECT_EQ(rep.chunks_encoded, 6);
    EXPECT_EQ(rep.num_targets, 5 + 2);
  }
}

TEST(PrefillingGenerate, ContextOfOneChunkFallsBackToDense) {
  Transformer& m = tiny_model(testing::kLladaTiny);
  const Fixture f = fixture(31, 40);  // exactly one chunk's content
  PrefillingRequest r = request_for(f, options_for(m, KvCacheMode::kNone), testing::kLladaBos);
  auto got = generate_prefilling(m, r);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->report.dense_fallback);
  EXPECT_NE(got->report.note.find("one chunk"), std::string::npos) << got->report.note;
  const std::vector<int32_t> full = cat({f.prefix, f.context, f.query});
  EXPECT_EQ(got->report.prompt, full);
  auto dense = generate(m, full, r.generation);
  ASSERT_TRUE(dense.ok());
  EXPECT_EQ(got->generation.generated, dense->generated);
  EXPECT_EQ(got->report.draft_forwards, 0);
}

// Global token capacity: every selected chunk keeps `capacity` tokens, BOS first, chosen by the
// pooled attention of the last query rows; generation runs over exactly that prompt.
TEST(PrefillingGenerate, GlobalTokenCapacityCompactsThePrompt) {
  Transformer& m = tiny_model(testing::kLladaTiny);
  const ModelConfig& c = m.config();
  const Fixture f = fixture(120, 50);
  PrefillingRequest r = request_for(f, options_for(m, KvCacheMode::kDual), testing::kLladaBos);
  r.prefilling.top_k = 2;
  r.prefilling.token_capacity = 10;
  auto sel = select_prefilling_chunks(m, r, nullptr, /*keep_kv=*/true);
  ASSERT_TRUE(sel.ok()) << sel.status();
  ASSERT_EQ(sel->tokens.size(), 2u);
  const std::vector<int32_t> suffix = cat({f.query, sel->draft.ids});
  auto attention = chunk_token_attention(m, sel->selected_kv, suffix, 5, 8, 4);
  ASSERT_TRUE(attention.ok());
  std::vector<std::vector<int>> kept;
  for (size_t j = 0; j < 2; ++j) {
    const int len = sel->selected_kv[j]->chunk_len();
    std::vector<float> total(len, 0.0f);
    for (int h = 0; h < c.num_layers * c.num_kv_heads; ++h)
      for (int t = 0; t < len; ++t) total[t] += (*attention)[j][h * len + t];
    std::vector<float> pooled(len);
    for (int t = 0; t < len; ++t)
      for (int u = std::max(0, t - 3); u <= std::min(len - 1, t + 3); ++u)
        pooled[t] = std::max(pooled[t], total[u]);
    std::vector<int> order(len - 1);
    std::iota(order.begin(), order.end(), 1);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return pooled[a] > pooled[b]; });
    std::vector<int> expect = {0};
    expect.insert(expect.end(), order.begin(), order.begin() + 9);
    std::sort(expect.begin(), expect.end());
    EXPECT_EQ(sel->tokens[j].global, expect) << "chunk " << j;
    kept.push_back(expect);
  }
  auto got = generate_prefilling(m, r);
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<int32_t> expect_prompt = f.prefix;
  for (size_t j = 0; j < 2; ++j)
    for (int t : kept[j]) expect_prompt.push_back(sel->chunks[sel->selected[j]].ids[t]);
  expect_prompt.insert(expect_prompt.end(), f.query.begin(), f.query.end());
  EXPECT_EQ(got->report.prompt, expect_prompt);
  EXPECT_EQ(got->report.prompt.size(), 4u + 2 * 10 + 5);
  EXPECT_EQ(got->report.chunks[got->report.selected[0]].kept_tokens, 10);
  auto dense = generate(m, expect_prompt, r.generation);
  ASSERT_TRUE(dense.ok());
  EXPECT_EQ(got->generation.generated, dense->generated);
}

TEST(PrefillingGenerate, BadRequestsAreRefusedClearly) {
  Transformer& m = tiny_model(testing::kLladaTiny);
  const Fixture f = fixture(100, 60);
  auto expect_error = [&](PrefillingRequest r, absl::StatusCode code, const std::string& what) {
    auto got = generate_prefilling(m, r);
    ASSERT_FALSE(got.ok()) << what;
    EXPECT_EQ(got.status().code(), code) << got.status();
    EXPECT_NE(got.status().message().find(what), std::string::npos) << got.status().message();
  };
  const PrefillingRequest base =
      request_for(f, options_for(m, KvCacheMode::kNone), testing::kLladaBos);
  PrefillingRequest r = base;
  r.query = {};
  expect_error(r, absl::StatusCode::kInvalidArgument, "query");
  r = base;
  r.prefilling.bos_token_id = -1;  // golden llada-tiny's config has no BOS
  expect_error(r, absl::StatusCode::kInvalidArgument, "bos_token_id");
  r = base;
  r.prefilling.token_capacity = 8;
  r.prefilling.token_select = TokenSelect::kPerHead;
  expect_error(r, absl::StatusCode::kInvalidArgument, "chunk_mode reuse");
  r = base;
  r.prefilling.chunk_size = 1;
  expect_error(r, absl::StatusCode::kInvalidArgument, "chunk_size");
  r = base;
  r.generation.steps = 7;
  expect_error(r, absl::StatusCode::kInvalidArgument, "steps");
  r = base;
  std::vector<int32_t> masked = f.context;
  masked[10] = m.config().mask_token_id;
  r.context = masked;
  expect_error(r, absl::StatusCode::kInvalidArgument, "mask token");
}

TEST(PrefillingPrompt, ChatTemplateSplitsAroundTheContext) {
  auto tok = Tokenizer::load_from_dir(testing::kBundledLlada);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::string doc = "  the cat sat on the mat. ", question = "where is the cat? ";
  auto p =
      build_prefilling_prompt(**tok, ChatTemplateKind::kLladaInstruct, std::nullopt, doc, question);
  ASSERT_TRUE(p.ok()) << p.status();
  auto text = [&](const std::vector<int32_t>& ids) { return *(*tok)->decode(ids); };
  EXPECT_EQ(text(p->prefix), "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n");
  EXPECT_EQ(text(p->context), "the cat sat on the mat.");
  EXPECT_EQ(text(p->query),
            "\n\nwhere is the cat?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  // The three parts render the template of context + "\n\n" + question.
  const std::vector<ChatMessage> msgs = {{"user", "the cat sat on the mat.\n\nwhere is the cat?"}};
  EXPECT_EQ(text(cat({p->prefix, p->context, p->query})),
            render_chat(ChatTemplateKind::kLladaInstruct, msgs, true));
  auto plain = build_prefilling_prompt(**tok, std::nullopt, std::nullopt, doc, question);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->prefix.empty());
  EXPECT_EQ(text(plain->query), "\n\nwhere is the cat?");
  EXPECT_FALSE(build_prefilling_prompt(**tok, std::nullopt, std::nullopt, "  ", "q").ok());

  // The bundled model end to end, the BOS anchor taken from the tokenizer.
  Transformer& m = tiny_model(testing::kBundledLlada);
  std::string long_doc;
  for (int i = 0; i < 40; ++i) long_doc += "the cat sat on the mat and the dog ran. ";
  auto req_parts = build_prefilling_prompt(**tok, ChatTemplateKind::kLladaInstruct, std::nullopt,
                                           long_doc, question);
  ASSERT_TRUE(req_parts.ok());
  PrefillingRequest r{.prefix = req_parts->prefix,
                      .context = req_parts->context,
                      .query = req_parts->query,
                      .generation = options_for(m, KvCacheMode::kPrefix)};
  r.prefilling.chunk_size = 64;
  r.prefilling.top_k = 2;
  r.prefilling.bos_token_id = *(*tok)->token_to_id("<|startoftext|>");
  auto got = generate_prefilling(m, r);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_GT(got->report.chunks.size(), 2u);
  EXPECT_EQ(got->report.selected.size(), 2u);
  EXPECT_EQ(got->generation.generated.size(), 16u);
}

}  // namespace
}  // namespace dllm
