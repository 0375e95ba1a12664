// End to end: Focus-dLLM (--policy focus) generates the same tokens on CUDA as on the CPU for the
// golden tiny checkpoints. Their weights are fp32, so K/V stay fp32 on both backends: the two
// differ only by fp32 summation order, which leaves the argmax, the sinks and the block ranking
// alike unless two candidates tie to that precision.
#include <cstdint>
#include <string>
#include <vector>

#include "common/model/load_model.h"
#include "common/sparse/focus_generate.h"
#include "tests/gpu/gpu_test_util.h"

namespace dllm::gpu_test {
namespace {

class FocusGenerateTest : public CudaVsCpuTest {
 protected:
  void load(const std::string& model) {
    const std::string dir = golden_dir() + "/" + model + "/checkpoint";
    auto g = load_transformer(dir, gpu());
    auto c = load_transformer(dir, cpu());
    ASSERT_TRUE(g.ok()) << g.status();
    ASSERT_TRUE(c.ok()) << c.status();
    on_gpu_ = std::move(*g);
    on_cpu_ = std::move(*c);
  }
  std::unique_ptr<Transformer> on_gpu_, on_cpu_;
};

GenerationOptions llada_options(double threshold) {
  GenerationOptions o;
  o.gen_length = 32;
  o.block_length = 8;
  o.steps = 32;
  o.threshold = threshold;
  o.cache = KvCacheMode::kDual;
  return o;
}

struct Case {
  const char* name;
  int kv_budget, kv_block, sinks;
  double threshold;
  FocusRefresh refresh;
};

TEST_F(FocusGenerateTest, CudaGeneratesTheCpuTokensLlada) {
  if (IsSkipped()) return;
  load("llada-tiny");
  if (HasFatalFailure()) return;
  const Case cases[] = {
      {"budget=everything", 1 << 20, 8, 4, 0.0, FocusRefresh::kBlock},
      {"budget=everything+threshold", 1 << 20, 8, 4, 0.3, FocusRefresh::kBlock},
      {"budget=everything+frozen-prompt", 1 << 20, 16, 8, 0.0, FocusRefresh::kFrozenPrompt},
      {"budget=24", 24, 8, 4, 0.0, FocusRefresh::kBlock},
      {"budget=40+frozen-prompt", 40, 8, 6, 0.0, FocusRefresh::kFrozenPrompt},
  };
  int compared = 0;
  for (uint64_t seed : {3u, 11u}) {
    const std::vector<int32_t> prompt = token_run(90, seed);
    for (const Case& k : cases) {
      SCOPED_TRACE(testing::Message() << k.name << " seed " << seed);
      FocusOptions f;
      f.rho = 2;
      f.kv_budget = k.kv_budget;
      f.kv_block = k.kv_block;
      f.sinks = k.sinks;
      f.refresh = k.refresh;
      f.mass_recall_every = 1;
      const GenerationOptions o = llada_options(k.threshold);
      FocusCounters cg, cc;
      auto g = generate_focus(*on_gpu_, prompt, o, f, &cg);
      auto c = generate_focus(*on_cpu_, prompt, o, f, &cc);
      ASSERT_TRUE(c.ok()) << c.status();
      ASSERT_TRUE(g.ok()) << g.status();
      EXPECT_EQ(g->sequence, c->sequence);
      EXPECT_GT(cg.focused_steps, 0);
      EXPECT_EQ(cg.focused_steps, cc.focused_steps);
      EXPECT_EQ(cg.sink_steps, cc.sink_steps);
      EXPECT_NEAR(cg.sink_overlap(), cc.sink_overlap(), 1e-9);
      EXPECT_EQ(cg.mass_samples, cc.mass_samples);
      EXPECT_NEAR(cg.mass_recall(), cc.mass_recall(), 1e-5);
      if (k.kv_budget >= static_cast<int>(prompt.size())) {
        EXPECT_NEAR(cg.mass_recall(), 1.0, 1e-5);  // every key kept
        // Nothing pruned: the tokens of the same focus schedule with every layer dense.
        FocusOptions dense_layers = f;
        dense_layers.dense_tail = on_gpu_->config().num_layers;
        auto dense = generate_focus(*on_gpu_, prompt, o, dense_layers);
        ASSERT_TRUE(dense.ok()) << dense.status();
        EXPECT_EQ(g->sequence, dense->sequence);
      } else {
        EXPECT_LT(cg.mass_recall(), 1.0);
      }
      ++compared;
    }
  }
  EXPECT_EQ(compared, 10);
}

}  // namespace
}  // namespace dllm::gpu_test
