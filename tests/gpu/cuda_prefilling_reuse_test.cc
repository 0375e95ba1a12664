// End to end: Prefilling-dLLM's reuse mode (stitched chunk K/V) with and without intra-chunk token
// sparsity generates the same tokens on CUDA as on the CPU for the bundled tiny LLaDA. Its weights
// are fp32, so the K/V pools are fp32 on both backends and nothing is rounded to bf16: the two
// differ only by fp32 summation order (logits within ~1e-5), which leaves the argmax, the chunk
// ranking and the token ranking alike unless two candidates tie to that precision.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/model/load_model.h"
#include "common/sparse/prefilling.h"
#include "tests/gpu/gpu_test_util.h"

namespace dllm::gpu_test {
namespace {

// models/llada-tiny: DLLM_TINY_MODEL in the environment (a bundle) wins over the source tree.
std::string tiny_model_dir() {
  const char* env = std::getenv("DLLM_TINY_MODEL");
  return env != nullptr && *env != '\0' ? env : DLLM_SOURCE_DIR "/models/llada-tiny";
}

constexpr int32_t kBos = 491;  // <|startoftext|> of models/llada-tiny (its config names none)

struct Case {
  const char* name;
  int token_capacity;
  TokenSelect select;
  KvCacheMode cache;
  double threshold;
};

class PrefillingReuseTest : public CudaVsCpuTest {
 protected:
  void SetUp() override {
    CudaVsCpuTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(std::filesystem::exists(tiny_model_dir() + "/config.json")) << tiny_model_dir();
    auto g = load_transformer(tiny_model_dir(), gpu());
    auto c = load_transformer(tiny_model_dir(), cpu());
    ASSERT_TRUE(g.ok()) << g.status();
    ASSERT_TRUE(c.ok()) << c.status();
    on_gpu_ = std::move(*g);
    on_cpu_ = std::move(*c);
  }

  PrefillingRequest request(const Case& k, const std::vector<int32_t>& prefix,
                            const std::vector<int32_t>& context,
                            const std::vector<int32_t>& query) {
    PrefillingRequest r{.prefix = prefix, .context = context, .query = query};
    r.prefilling.chunk_size = 32;
    r.prefilling.top_k = 3;
    r.prefilling.score_batch = 4;
    r.prefilling.bos_token_id = kBos;
    r.prefilling.chunk_mode = ChunkMode::kReuse;
    r.prefilling.token_capacity = k.token_capacity;
    r.prefilling.token_select = k.select;
    r.generation.gen_length = 16;
    r.generation.block_length = 8;
    r.generation.steps = 16;
    r.generation.cache = k.cache;
    r.generation.threshold = k.threshold;
    return r;
  }

  std::unique_ptr<Transformer> on_gpu_, on_cpu_;
};

TEST_F(PrefillingReuseTest, CudaGeneratesTheCpuTokens) {
  const Case cases[] = {
      {"reuse", 0, TokenSelect::kGlobal, KvCacheMode::kNone, 0.0},
      {"reuse+prefix-cache", 0, TokenSelect::kGlobal, KvCacheMode::kPrefix, 0.0},
      {"reuse+capacity16", 16, TokenSelect::kGlobal, KvCacheMode::kNone, 0.0},
      {"reuse+capacity9+dual", 9, TokenSelect::kGlobal, KvCacheMode::kDual, 0.0},
      {"reuse+capacity12+per-head", 12, TokenSelect::kPerHead, KvCacheMode::kNone, 0.0},
      {"reuse+capacity20+threshold", 20, TokenSelect::kGlobal, KvCacheMode::kPrefix, 0.5},
  };
  int compared = 0;
  for (uint64_t seed : {1u, 2u, 3u}) {
    const std::vector<int32_t> prefix = token_run(4, seed), context = token_run(190, seed + 10),
                               query = token_run(6, seed + 20);
    for (const Case& k : cases) {
      SCOPED_TRACE(testing::Message() << k.name << " seed " << seed);
      const PrefillingRequest r = request(k, prefix, context, query);
      auto g = generate_prefilling(*on_gpu_, r, nullptr);
      auto c = generate_prefilling(*on_cpu_, r, nullptr);
      ASSERT_TRUE(c.ok()) << c.status();
      ASSERT_TRUE(g.ok()) << g.status();
      ASSERT_FALSE(c->report.dense_fallback);
      EXPECT_GT(c->report.frozen_len, 0) << "reuse mode stitched nothing";
      EXPECT_EQ(g->report.draft, c->report.draft);
      EXPECT_EQ(g->report.selected, c->report.selected);
      ASSERT_EQ(g->report.chunks.size(), c->report.chunks.size());
      for (size_t i = 0; i < c->report.chunks.size(); ++i) {
        EXPECT_NEAR(g->report.chunks[i].score, c->report.chunks[i].score,
                    1e-4 * std::max(1.0, std::fabs(c->report.chunks[i].score)))
            << "chunk " << i;
        EXPECT_EQ(g->report.chunks[i].kept_tokens, c->report.chunks[i].kept_tokens);
      }
      // The compressed prompt holds the kept tokens: equal prompts mean equal token selections.
      EXPECT_EQ(g->report.prompt, c->report.prompt);
      EXPECT_EQ(g->report.frozen_len, c->report.frozen_len);
      EXPECT_EQ(g->generation.generated, c->generation.generated);
      ++compared;
    }
  }
  EXPECT_EQ(compared, 18);
}

// Per-head selection stitches different tokens per (layer, KV head); the report's prompt shows
// only layer 0 head 0, so compare the selections themselves too.
TEST_F(PrefillingReuseTest, PerHeadTokenSelectionsAgree) {
  const std::vector<int32_t> prefix = token_run(4, 7), context = token_run(150, 8),
                             query = token_run(6, 9);
  const Case k{"per-head", 10, TokenSelect::kPerHead, KvCacheMode::kNone, 0.0};
  const PrefillingRequest r = request(k, prefix, context, query);
  auto g = select_prefilling_chunks(*on_gpu_, r, nullptr, /*keep_kv=*/true);
  auto c = select_prefilling_chunks(*on_cpu_, r, nullptr, /*keep_kv=*/true);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(g->selected, c->selected);
  ASSERT_EQ(g->tokens.size(), c->tokens.size());
  for (size_t i = 0; i < c->tokens.size(); ++i) {
    ASSERT_EQ(c->tokens[i].per_head.size(),
              static_cast<size_t>(on_cpu_->config().num_layers * on_cpu_->config().num_kv_heads));
    EXPECT_EQ(g->tokens[i].per_head, c->tokens[i].per_head) << "chunk " << i;
  }
}

}  // namespace
}  // namespace dllm::gpu_test
