// Focus-dLLM end to end on the golden tiny models: equal to the dual block cache when nothing is
// pruned, PCGI row logic, instrumentation, and option validation.
#include "common/sparse/focus_generate.h"

#include <gtest/gtest.h>

#include "tests/unit/focus_test_util.h"

#include <string>
#include <vector>

#include "common/generate/generate.h"
#include "prefilling_test_util.h"

namespace dllm {
namespace {

using testing::kDreamTiny;
using testing::kLladaTiny;
using testing::tiny_model;
using testing::token_run;

GenerationOptions llada_options(double threshold = 0.0) {
  GenerationOptions o;
  o.gen_length = 32;
  o.block_length = 8;
  o.steps = 32;
  o.threshold = threshold;
  o.cache = KvCacheMode::kDual;
  return o;
}

GenerationOptions dream_options(Sampler sampler, double threshold = 0.0) {
  GenerationOptions o = llada_options(threshold);
  o.sampler = sampler;
  o.steps = 16;
  return o;
}

using testing_focus::everything;

void expect_equals_dual(const std::string& dir, const GenerationOptions& o) {
  Transformer& model = tiny_model(dir);
  const std::vector<int32_t> prompt = token_run(45, 7);
  auto dense = generate(model, prompt, o);
  ASSERT_TRUE(dense.ok()) << dense.status();
  FocusCounters c;
  auto focus = generate_focus(model, prompt, o, everything(), &c);
  ASSERT_TRUE(focus.ok()) << focus.status();
  EXPECT_EQ(focus->sequence, dense->sequence);
  EXPECT_EQ(focus->counters.rows_computed, dense->counters.rows_computed);
  EXPECT_EQ(c.focused_steps, 0);
  EXPECT_GT(c.dense_block_steps, 0);
  EXPECT_GT(c.mass_samples, 0);
  EXPECT_NEAR(c.mass_recall(), 1.0, 1e-5);  // every key kept
}

TEST(FocusGenerate, NothingPrunedEqualsDualCacheLlada) {
  expect_equals_dual(kLladaTiny, llada_options());
  expect_equals_dual(kLladaTiny, llada_options(0.3));
}

TEST(FocusGenerate, NothingPrunedEqualsDualCacheDream) {
  expect_equals_dual(kDreamTiny, dream_options(Sampler::kDreamMaskgitPlus));
  expect_equals_dual(kDreamTiny, dream_options(Sampler::kDreamEntropy));
  expect_equals_dual(kDreamTiny, dream_options(Sampler::kDreamTopkMargin, 0.3));
}

TEST(FocusGenerate, SparseRunFocusesFewerRowsAndReportsRecall) {
  for (const std::string& dir : {kLladaTiny, kDreamTiny}) {
    Transformer& model = tiny_model(dir);
    const bool dream = dir == kDreamTiny;
    const GenerationOptions o = dream ? dream_options(Sampler::kDreamMaskgitPlus) : llada_options();
    const std::vector<int32_t> prompt = token_run(64, 11);
    FocusOptions f;
    f.rho = 2;
    f.window = 1;
    f.sinks = 4;
    f.kv_block = 8;
    f.kv_budget = 20;
    f.mass_recall_every = 1;
    FocusCounters c;
    auto focus = generate_focus(model, prompt, o, f, &c);
    ASSERT_TRUE(focus.ok()) << focus.status();
    auto dense = generate(model, prompt, o);
    ASSERT_TRUE(dense.ok());
    EXPECT_EQ(focus->generated.size(), dense->generated.size());
    for (int32_t id : focus->generated) EXPECT_NE(id, model.config().mask_token_id);
    EXPECT_GT(c.focused_steps, 0) << dir;
    EXPECT_LT(focus->counters.rows_computed, dense->counters.rows_computed) << dir;
    EXPECT_GT(c.committed_focused, 0);
    EXPECT_GE(c.pcgi_recall(), 0.0);
    EXPECT_LE(c.pcgi_recall(), 1.0);
    EXPECT_GT(c.sink_steps, 0);
    EXPECT_GE(c.sink_overlap(), 0.0);
    EXPECT_LE(c.sink_overlap(), 1.0);
    EXPECT_GT(c.mass_samples, 0);
    EXPECT_GT(c.mass_recall(), 0.0);
    EXPECT_LT(c.mass_recall(), 1.0);  // 20 of 64 prompt keys kept
    // Frozen prompt and threshold decoding run too.
    f.refresh = FocusRefresh::kFrozenPrompt;
    GenerationOptions t = o;
    t.threshold = 0.5;
    auto frozen = generate_focus(model, prompt, t, f, &c);
    ASSERT_TRUE(frozen.ok()) << frozen.status();
    for (int32_t id : frozen->generated) EXPECT_NE(id, model.config().mask_token_id);
  }
}

// Focused steps (rho 2): sparse layers keeping every prompt key give the dense-layer tokens.
TEST(FocusGenerate, FullBudgetSparseLayersEqualDenseLayers) {
  for (const std::string& dir : {kLladaTiny, kDreamTiny}) {
    Transformer& model = tiny_model(dir);
    const GenerationOptions o =
        dir == kDreamTiny ? dream_options(Sampler::kDreamTopkMargin) : llada_options();
    const std::vector<int32_t> prompt = token_run(45, 3);
    FocusOptions sparse = everything();
    sparse.rho = 2;
    FocusOptions dense_layers = sparse;
    dense_layers.dense_tail = model.config().num_layers;
    FocusCounters c;
    auto a = generate_focus(model, prompt, o, sparse, &c);
    auto b = generate_focus(model, prompt, o, dense_layers);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_GT(c.focused_steps, 0);
    EXPECT_EQ(a->sequence, b->sequence) << dir;
  }
}

TEST(FocusPcgi, FocusSetIsTheMostConfidentMasks) {
  const std::vector<int> masked = {10, 11, 13, 14, 17};
  std::vector<double> conf(20, 0.0);
  conf[10] = 0.1, conf[11] = 0.9, conf[13] = 0.5, conf[14] = 0.5, conf[17] = 0.95;
  EXPECT_EQ(focus_set(masked, conf, 3), (std::vector<int>{11, 13, 17}));  // tie to 13
  EXPECT_EQ(focus_set(masked, conf, 10), masked);
}

TEST(FocusPcgi, ActiveRowsExpandUnclippedAndKeepDreamsPredictor) {
  // Window 1 around 8 and 15 of a block [8, 16): rows 7 and 16 are outside the block.
  EXPECT_EQ(active_rows(std::vector<int>{8, 15}, 1, false, 40),
            (std::vector<int32_t>{7, 8, 9, 14, 15, 16}));
  // Overlapping windows merge; the sequence ends clip.
  EXPECT_EQ(active_rows(std::vector<int>{0, 2, 39}, 1, false, 40),
            (std::vector<int32_t>{0, 1, 2, 3, 38, 39}));
  // Dream with window 0: row p - 1 predicts p.
  EXPECT_EQ(active_rows(std::vector<int>{8, 12}, 0, true, 40),
            (std::vector<int32_t>{7, 8, 11, 12}));
  EXPECT_EQ(active_rows(std::vector<int>{0}, 0, true, 40), (std::vector<int32_t>{0}));
  EXPECT_EQ(active_rows(std::vector<int>{10}, 2, true, 40),
            (std::vector<int32_t>{8, 9, 10, 11, 12}));
}

TEST(FocusPcgi, StepsRunTheActiveRowsOnly) {
  ModelConfig config;
  config.num_layers = 8;
  GenerationOptions g = llada_options();
  FocusOptions f;
  f.rho = 2;
  f.window = 1;
  FocusRowSelector sel(f, config, g, 20, 52);
  std::vector<int> masked = {20, 21, 22, 23, 24, 25, 26, 27};
  // Block entry: the dense forward (empty = the dense plan).
  EXPECT_TRUE(sel.choose_rows({true, 20, 28, 52, masked, 1}).empty());
  std::vector<double> conf = {0.1, 0.2, 0.9, 0.3, 0.1, 0.1, 0.8, 0.1};
  sel.observe(masked, conf, std::vector<int>{22});
  masked.erase(masked.begin() + 2);
  // n = 1, rho 2: focus {26, 23}, rows ∪ [p-1, p+1].
  EXPECT_EQ(sel.choose_rows({false, 20, 28, 52, masked, 1}),
            (std::vector<int32_t>{22, 23, 24, 25, 26, 27}));
  EXPECT_EQ(std::vector<int>(sel.last_focus().begin(), sel.last_focus().end()),
            (std::vector<int>{23, 26}));
  // rho · n covers every mask: the dense block step.
  EXPECT_TRUE(sel.choose_rows({false, 20, 28, 52, masked, 4}).empty());
}

TEST(FocusOptions, BadValuesAreInvalidArgument) {
  ModelConfig config;
  config.num_layers = 8;
  EXPECT_TRUE(validate_focus_options(FocusOptions{}, config).ok());
  auto bad = [&](auto mutate) {
    FocusOptions f;
    mutate(f);
    return validate_focus_options(f, config).code() == absl::StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(bad([](FocusOptions& f) { f.rho = 0.5; }));
  EXPECT_TRUE(bad([](FocusOptions& f) { f.window = -1; }));
  EXPECT_TRUE(bad([](FocusOptions& f) { f.sink_layer = 8; }));
  EXPECT_TRUE(bad([](FocusOptions& f) { f.sinks = -1; }));
  EXPECT_TRUE(bad([](FocusOptions& f) { f.kv_block = 0; }));
  EXPECT_TRUE(bad([](FocusOptions& f) { f.kv_budget = 0; }));
  EXPECT_TRUE(bad([](FocusOptions& f) { f.kv_ratio = 1.5; }));
  EXPECT_TRUE(bad([](FocusOptions& f) { f.dense_tail = 9; }));
  EXPECT_EQ(focus_sink_layer(FocusOptions{}, config), 2);
  FocusOptions r;
  r.kv_ratio = 0.25;
  EXPECT_EQ(focus_token_budget(r, 1000), 250);
  EXPECT_EQ(focus_token_budget(FocusOptions{}, 1000), 2048);
  EXPECT_EQ(*parse_focus_refresh("frozen-prompt"), FocusRefresh::kFrozenPrompt);
  EXPECT_FALSE(parse_focus_refresh("never").ok());
  GenerationOptions g;
  g.cache = KvCacheMode::kPrefix;
  EXPECT_EQ(validate_focus_generation(g).code(), absl::StatusCode::kInvalidArgument);
  g.cache = KvCacheMode::kDual;
  g.cfg_scale = 1.0;
  EXPECT_EQ(validate_focus_generation(g).code(), absl::StatusCode::kInvalidArgument);
  g.cfg_scale = 0.0;
  g.sampler = Sampler::kDreamOrigin;
  EXPECT_EQ(validate_focus_generation(g).code(), absl::StatusCode::kInvalidArgument);
  // Through generate_focus, against the real model.
  Transformer& model = tiny_model(kLladaTiny);
  FocusOptions f;
  f.sink_layer = 5;
  auto r2 = generate_focus(model, token_run(10, 1), llada_options(), f);
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dllm
