// prefilling+focus (issue 4 item 6) on the golden tiny LLaDA and the bundled models/llada-tiny:
// with every chunk kept and nothing pruned by focus it is prefilling's dual block cache token for
// token (reprefill and reuse); a sparse run computes fewer rows; bad combinations are refused,
// in the library and on the `dllm` command line.
#include "common/sparse/focus_on_prefilling.h"

#include <gtest/gtest.h>

#include "tests/unit/focus_test_util.h"

#include "tests/unit/cli_process.h"
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/sparse/focus_generate.h"
#include "common/sparse/sparse_policy.h"
#include "tests/unit/prefilling_test_util.h"

namespace dllm {
namespace {

using testing::tiny_model;
using testing::token_run;

struct Fixture {
  std::vector<int32_t> prefix, context, query;
};

Fixture fixture(int context_len, uint64_t seed) {
  return {token_run(4, seed), token_run(context_len, seed + 1), token_run(5, seed + 2)};
}

PrefillingRequest request_for(const Fixture& f, ChunkMode mode, int top_k, double threshold = 0) {
  GenerationOptions g;
  g.gen_length = 16;
  g.block_length = 8;
  g.steps = 16;
  g.threshold = threshold;
  g.cache = KvCacheMode::kDual;
  PrefillingRequest r{.prefix = f.prefix, .context = f.context, .query = f.query, .generation = g};
  r.prefilling.chunk_size = 32;
  r.prefilling.score_batch = 4;
  r.prefilling.bos_token_id = testing::kLladaBos;
  r.prefilling.top_k = top_k;
  r.prefilling.chunk_mode = mode;
  return r;
}

using testing_focus::everything;

FocusOptions sparse() {
  FocusOptions f;
  f.rho = 1;
  f.window = 0;
  f.sinks = 4;
  f.kv_block = 8;
  f.kv_budget = 24;
  f.sink_layer = 0;
  f.mass_recall_every = 1;
  return f;
}

void expect_nothing_pruned_equals_prefilling(const std::string& dir, ChunkMode mode,
                                             double threshold) {
  SCOPED_TRACE(dir + (mode == ChunkMode::kReuse ? " reuse" : " reprefill") + " threshold " +
               std::to_string(threshold));
  Transformer& m = tiny_model(dir);
  const Fixture f = fixture(100, 20);  // 4 chunks of 31 + BOS
  const PrefillingRequest r = request_for(f, mode, /*top_k=*/100, threshold);
  auto base = generate_prefilling(m, r);
  ASSERT_TRUE(base.ok()) << base.status();
  ASSERT_FALSE(base->report.dense_fallback);
  ASSERT_EQ(base->report.selected.size(), 4u);
  FocusCounters c;
  auto combo = generate_prefilling_focus(m, r, everything(), &c);
  ASSERT_TRUE(combo.ok()) << combo.status();
  EXPECT_EQ(combo->report.selected, base->report.selected);
  EXPECT_EQ(combo->report.prompt, base->report.prompt);
  EXPECT_EQ(combo->report.frozen_len, base->report.frozen_len);
  EXPECT_EQ(combo->generation.generated, base->generation.generated);
  EXPECT_EQ(combo->generation.sequence, base->generation.sequence);
  EXPECT_EQ(combo->generation.counters.rows_computed, base->generation.counters.rows_computed);
  EXPECT_EQ(c.focused_steps, 0);
  EXPECT_GT(c.dense_block_steps, 0);
  EXPECT_GT(c.mass_samples, 0);
  EXPECT_NEAR(c.mass_recall(), 1.0, 1e-5);
}

TEST(FocusOnPrefilling, NothingPrunedEqualsPrefillingReprefillDual) {
  for (const std::string& dir : {testing::kLladaTiny, testing::kBundledLlada}) {
    expect_nothing_pruned_equals_prefilling(dir, ChunkMode::kReprefill, 0.0);
    expect_nothing_pruned_equals_prefilling(dir, ChunkMode::kReprefill, 0.3);
  }
}

TEST(FocusOnPrefilling, NothingPrunedEqualsPrefillingReuseDual) {
  expect_nothing_pruned_equals_prefilling(testing::kLladaTiny, ChunkMode::kReuse, 0.0);
}

TEST(FocusOnPrefilling, SparseRunComputesFewerRows) {
  for (ChunkMode mode : {ChunkMode::kReprefill, ChunkMode::kReuse}) {
    Transformer& m = tiny_model(testing::kLladaTiny);
    const Fixture f = fixture(130, 7);  // 5 chunks, keep 2
    const PrefillingRequest r = request_for(f, mode, /*top_k=*/2);
    auto base = generate_prefilling(m, r);
    ASSERT_TRUE(base.ok()) << base.status();
    FocusCounters c;
    auto combo = generate_prefilling_focus(m, r, sparse(), &c);
    ASSERT_TRUE(combo.ok()) << combo.status();
    EXPECT_EQ(combo->report.selected.size(), 2u);
    EXPECT_EQ(combo->report.prompt, base->report.prompt);  // the same compressed prompt
    EXPECT_EQ(combo->generation.generated.size(), 16u);
    EXPECT_GT(c.focused_steps, 0);
    EXPECT_LT(combo->generation.counters.rows_computed, base->generation.counters.rows_computed);
    EXPECT_GE(c.pcgi_recall(), 0.0);
    EXPECT_LE(c.pcgi_recall(), 1.0);
  }
}

TEST(FocusOnPrefilling, ShortContextFallsBackToFocusOverTheWholePrompt) {
  Transformer& m = tiny_model(testing::kLladaTiny);
  const Fixture f = fixture(20, 3);  // one chunk
  const PrefillingRequest r = request_for(f, ChunkMode::kReprefill, 4);
  FocusCounters c;
  auto combo = generate_prefilling_focus(m, r, everything(), &c);
  ASSERT_TRUE(combo.ok()) << combo.status();
  EXPECT_TRUE(combo->report.dense_fallback);
  auto focus = generate_focus(m, combo->report.prompt, r.generation, everything());
  ASSERT_TRUE(focus.ok()) << focus.status();
  EXPECT_EQ(combo->generation.sequence, focus->sequence);
}

TEST(FocusOnPrefilling, BadCombinationsAreRefused) {
  Transformer& m = tiny_model(testing::kLladaTiny);
  const Fixture f = fixture(100, 20);
  PrefillingRequest r = request_for(f, ChunkMode::kReprefill, 2);
  r.generation.cfg_scale = 1.0;  // focus runs no cfg
  EXPECT_EQ(generate_prefilling_focus(m, r, everything()).status().code(),
            absl::StatusCode::kInvalidArgument);
  r = request_for(f, ChunkMode::kReprefill, 2);
  FocusOptions bad = everything();
  bad.rho = 0.5;
  EXPECT_EQ(generate_prefilling_focus(m, r, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  r.prefilling.chunk_size = 1;  // a bad prefilling option is refused too
  EXPECT_EQ(generate_prefilling_focus(m, r, everything()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FocusOnPrefilling, PolicyName) {
  auto p = parse_sparse_policy("prefilling+focus");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, SparsePolicy::kPrefillingFocus);
  EXPECT_STREQ(sparse_policy_name(*p), "prefilling+focus");
  EXPECT_FALSE(parse_sparse_policy("focus+prefilling").ok());
}

// ---- the `dllm generate` command line ----

using testing_cli::CliRun;
using testing_cli::run_dllm;

const std::string kGenerate = "generate --model " + testing::kBundledLlada +
                              " --gen-length 8 --block-length 4 --threads 2 --prompt 'What is it?'";
const std::string kContext =
    " --context 'The quick brown fox jumps over the lazy dog. A second sentence follows here, and "
    "a third one, so that the document is cut into several chunks of sixteen tokens.'";

TEST(FocusOnPrefillingCli, RunsWithBothFlagFamilies) {
  const CliRun r = run_dllm(kGenerate + kContext +
                            " --policy prefilling+focus --chunk-size 16 --top-k 2 --rho 1 "
                            "--window 0 --kv-block 8 --kv-budget 16 --sinks 4 --sink-layer 0");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("prefilling: selected chunks"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("focus: "), std::string::npos) << r.err;
}

TEST(FocusOnPrefillingCli, BadCombinationsAreErrors) {
  for (const std::string& args :
       {kGenerate + kContext + " --policy prefilling --rho 2",
        kGenerate + kContext + " --policy focus --top-k 2",
        kGenerate + kContext + " --policy dense --chunk-mode reuse",
        kGenerate + " --policy prefilling+focus --rho 2",  // no document
        kGenerate + kContext + " --policy prefilling+focus --chunk-size 16 --cfg-scale 1",
        kGenerate + kContext + " --policy prefilling+focus --kv-budget 8 --kv-ratio 0.5"}) {
    const CliRun r = run_dllm(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("dllm: error:", 0), 0u) << args << "\n" << r.err;
  }
}

}  // namespace
}  // namespace dllm
