// The split-KV planner (host code, runs without a GPU): decode fills the GPU, prefill never
// splits, and every plan covers all keys with no empty split.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/split_kv_plan.h"

namespace dllm::kernels::cuda {
namespace {

constexpr int kRows = 32;       // query vectors per CTA, as the kernel
constexpr int kWave = 132 * 2;  // H100: 132 SMs × 2 resident CTAs

void expect_valid(const SplitKvPlan& p, int num_keys, int tile) {
  EXPECT_GE(p.num_splits, 1);
  EXPECT_LE(p.num_splits, kMaxSplits);
  EXPECT_EQ(p.keys_per_split % tile, 0);
  EXPECT_GE(static_cast<int64_t>(p.num_splits) * p.keys_per_split, num_keys);
  EXPECT_LT(static_cast<int64_t>(p.num_splits - 1) * p.keys_per_split, num_keys) << "empty split";
}

TEST(SplitKvPlan, DecodeOverLongContextFillsTheGpu) {
  for (int keys : {8192, 32768, 131072}) {
    const SplitKvPlan p = plan_split_kv(32, 1, 32, keys, kRows, 32, kWave);
    expect_valid(p, keys, 32);
    EXPECT_EQ(p.q_tiles, 1);
    const int ctas = p.q_tiles * 32 * p.num_splits;
    EXPECT_GE(ctas, kWave * 8 / 10) << keys << " keys";
  }
}

// The bf16 tensor-core kernel's decode shape: 64 query vectors and 32 keys per CTA tile.
TEST(SplitKvPlan, TensorCoreDecodeFillsTheGpu) {
  for (int keys : {8192, 32768, 131072}) {
    const SplitKvPlan p = plan_split_kv(32, 1, 32, keys, 64, 32, kWave);
    expect_valid(p, keys, 32);
    EXPECT_EQ(p.q_tiles, 1);
    EXPECT_GE(p.q_tiles * 32 * p.num_splits, kWave * 8 / 10) << keys << " keys";
  }
}

TEST(SplitKvPlan, GqaDecodeCountsGroupRowsPerTile) {
  const SplitKvPlan p = plan_split_kv(8, 7, 4, 70000, kRows, 32, kWave);  // 56 vectors → 2 tiles
  expect_valid(p, 70000, 32);
  EXPECT_EQ(p.q_tiles, 2);
  EXPECT_GE(p.q_tiles * 4 * p.num_splits, kWave * 8 / 10);
}

TEST(SplitKvPlan, PrefillDoesNotSplit) {
  const SplitKvPlan p = plan_split_kv(4096, 1, 32, 4096, kRows, 32, kWave);
  EXPECT_EQ(p.num_splits, 1);
  EXPECT_EQ(p.q_tiles, 128);
  expect_valid(p, 4096, 32);
}

TEST(SplitKvPlan, FewKeysDoNotSplit) {
  for (int keys : {1, 2, 63, 64, 65, 4 * 64 * 2 - 1}) {
    const SplitKvPlan p = plan_split_kv(1, 1, 1, keys, kRows, 64, kWave);
    expect_valid(p, keys, 64);
    EXPECT_LE(p.num_splits, std::max(1, (keys + 63) / 64 / kMinTilesPerSplit));
  }
}

TEST(SplitKvPlan, EverySplitHasAtLeastTheMinimumTiles) {
  for (int keys = 1; keys < 20000; keys = keys * 3 + 1) {
    const SplitKvPlan p = plan_split_kv(1, 1, 2, keys, kRows, 32, kWave);
    expect_valid(p, keys, 32);
    if (p.num_splits > 1) {
      EXPECT_GE(p.keys_per_split / 32, kMinTilesPerSplit) << keys;
    }
  }
}

}  // namespace
}  // namespace dllm::kernels::cuda
