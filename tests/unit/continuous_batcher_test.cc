// Continuous batching: requests that join a running batch at different steps, and one that is
// cancelled mid-way, produce exactly what each produces alone; steps really are shared.
#include "common/generate/continuous_batcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/generate/generate.h"
#include "tests/unit/prefilling_test_util.h"

namespace dllm {
namespace {

const std::string kTiny = std::string(DLLM_SOURCE_DIR) + "/models/llada-tiny";

GenerationOptions options(int gen_length, int block, int steps) {
  GenerationOptions o;
  o.gen_length = gen_length;
  o.block_length = block;
  o.steps = steps;
  return o;
}

TEST(ContinuousBatcher, LateJoinersAndEarlyLeaversGetTheirSoloAnswers) {
  Transformer& model = testing::tiny_model(kTiny);
  const std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 20}, {7, 7, 3}, {40, 41, 42, 43, 44}};
  const std::vector<GenerationOptions> opts = {options(64, 16, 64), options(16, 8, 16),
                                               options(32, 32, 32)};
  std::vector<std::vector<int32_t>> solo;
  for (size_t i = 0; i < prompts.size(); ++i) {
    absl::StatusOr<GenerationResult> r = generate(model, prompts[i], opts[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    solo.push_back(r->generated);
  }

  std::mutex model_mutex;
  ContinuousBatcher batcher(model, model_mutex, ContinuousBatcherOptions{});
  std::vector<std::future<absl::StatusOr<GenerationResult>>> futures;
  // The first request runs alone until its first block is done; then the others join.
  std::atomic<int> first_blocks{0};
  for (size_t i = 0; i < prompts.size(); ++i) {
    BlockCallback on_block;
    if (i == 0) on_block = [&](int, std::span<const int32_t>) { first_blocks.fetch_add(1); };
    absl::StatusOr<std::unique_ptr<DenoisingSequence>> seq;
    {
      std::lock_guard<std::mutex> lock(model_mutex);
      seq = DenoisingSequence::create(model, prompts[i], {}, opts[i], on_block);
    }
    ASSERT_TRUE(seq.ok()) << seq.status();
    futures.push_back(batcher.submit(std::move(*seq), true, 64));
    if (i == 0)
      while (first_blocks.load() == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    absl::StatusOr<GenerationResult> r = futures[i].get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->generated, solo[i]) << "request " << i;
  }
  EXPECT_GE(batcher.max_batch_seen(), 2);
  EXPECT_LT(batcher.steps(), 64 + 16 + 32);  // shared steps: fewer than the three run one by one
  EXPECT_EQ(batcher.running(), 0);
  EXPECT_EQ(batcher.waiting(), 0);
}

TEST(ContinuousBatcher, ACancelledRequestLeavesAndTheOthersFinish) {
  Transformer& model = testing::tiny_model(kTiny);
  const std::vector<int32_t> prompt = {2, 3, 4};
  const GenerationOptions o = options(32, 8, 32);
  absl::StatusOr<GenerationResult> alone = generate(model, prompt, o);
  ASSERT_TRUE(alone.ok());

  std::mutex model_mutex;
  ContinuousBatcher batcher(model, model_mutex, ContinuousBatcherOptions{});
  std::atomic<bool> stop{false};
  GenerationOptions cancellable = o;
  cancellable.should_stop = [&] { return stop.load(); };
  std::atomic<int> blocks{0};
  auto a = DenoisingSequence::create(model, prompt, {}, cancellable,
                                     [&](int, std::span<const int32_t>) {
                                       if (blocks.fetch_add(1) == 0) stop = true;
                                     });
  auto b = DenoisingSequence::create(model, prompt, {}, o, {});
  ASSERT_TRUE(a.ok() && b.ok());
  auto fa = batcher.submit(std::move(*a), true, 40);
  auto fb = batcher.submit(std::move(*b), true, 40);
  absl::StatusOr<GenerationResult> ra = fa.get(), rb = fb.get();
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_TRUE(ra->cancelled);
  EXPECT_FALSE(rb->cancelled);
  EXPECT_EQ(rb->generated, alone->generated);
}

TEST(ContinuousBatcher, TheTokenBudgetKeepsLaterRequestsWaiting) {
  Transformer& model = testing::tiny_model(kTiny);
  std::mutex model_mutex;
  ContinuousBatcher batcher(model, model_mutex,
                            ContinuousBatcherOptions{.max_sequences = 8, .max_batch_tokens = 50});
  std::vector<std::future<absl::StatusOr<GenerationResult>>> futures;
  for (int i = 0; i < 3; ++i) {
    auto seq = DenoisingSequence::create(model, std::vector<int32_t>{1, 2, 3}, {},
                                         options(32, 8, 32), {});
    ASSERT_TRUE(seq.ok());
    futures.push_back(batcher.submit(std::move(*seq), true, 35));  // two never fit together
  }
  for (auto& f : futures) ASSERT_TRUE(f.get().ok());
  EXPECT_EQ(batcher.max_batch_seen(), 1);
}

}  // namespace
}  // namespace dllm
