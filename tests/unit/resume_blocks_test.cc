// A sequence resumed after the first blocks of a run (what a decode node does when it takes
// over a request from a dead one) finishes with the run's tokens, for every cache mode.
#include <gtest/gtest.h>

#include "common/generate/denoising_sequence.h"
#include "common/generate/generate.h"
#include "tests/unit/prefilling_test_util.h"

namespace dllm {
namespace {

const std::string kTiny = std::string(DLLM_SOURCE_DIR) + "/models/llada-tiny";

absl::StatusOr<GenerationResult> run(Transformer& model, DenoisingSequence& seq) {
  DenoisingSequence* one[] = {&seq};
  while (true) {
    absl::StatusOr<bool> stepped = step_sequences(model, one);
    if (!stepped.ok()) return stepped.status();
    if (!*stepped) break;
  }
  return seq.take_result();
}

TEST(ResumeAfterBlocks, FinishesWithTheUninterruptedTokens) {
  Transformer& model = testing::tiny_model(kTiny);
  const std::vector<int32_t> prompt = {3, 14, 15, 92, 65};
  for (KvCacheMode cache : {KvCacheMode::kNone, KvCacheMode::kPrefix, KvCacheMode::kDual}) {
    GenerationOptions o;
    o.gen_length = 32;
    o.block_length = 8;
    o.steps = 32;
    o.cache = cache;
    absl::StatusOr<GenerationResult> full = generate(model, prompt, o);
    ASSERT_TRUE(full.ok()) << full.status();
    for (int blocks : {1, 3, 4}) {
      auto seq = DenoisingSequence::create(model, prompt, {}, o, {});
      ASSERT_TRUE(seq.ok());
      const std::vector<int32_t> committed(full->generated.begin(),
                                           full->generated.begin() + blocks * 8);
      ASSERT_TRUE((*seq)->resume_after_blocks(committed).ok());
      absl::StatusOr<GenerationResult> resumed = run(model, **seq);
      ASSERT_TRUE(resumed.ok()) << resumed.status();
      EXPECT_EQ(resumed->generated, full->generated) << "cache " << static_cast<int>(cache)
                                                     << ", after " << blocks << " blocks";
      EXPECT_EQ(resumed->counters.steps, (4 - blocks) * 8);  // only the remaining blocks ran
    }
  }
}

TEST(ResumeAfterBlocks, RefusesPartialBlocksAndMasks) {
  Transformer& model = testing::tiny_model(kTiny);
  GenerationOptions o;
  o.gen_length = 16;
  o.block_length = 8;
  o.steps = 16;
  auto seq = DenoisingSequence::create(model, std::vector<int32_t>{1, 2}, {}, o, {});
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ((*seq)->resume_after_blocks(std::vector<int32_t>(5, 7)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*seq)->resume_after_blocks(std::vector<int32_t>(8, model.config().mask_token_id))
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(resumable_schedule(GenerationOptions{.temperature = 0.5}));
  EXPECT_TRUE(resumable_schedule(GenerationOptions{}));
}

}  // namespace
}  // namespace dllm
