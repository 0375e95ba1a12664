// Focus-dLLM CPU kernels and selection rules against brute force.
#include "kernels/cpu/focus_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "common/sparse/focus_attention.h"
#include "kernels/cpu/cpu_kernels.h"

namespace dllm {
namespace {

constexpr int kHeads = 4, kKvHeads = 2, kHd = 16, kKeys = 70, kRows = 5, kPrompt = 50, kBlock = 8;

struct Inputs {
  std::vector<float> q, k, v;
  std::vector<int32_t> pages;
  kernels::KvView kv;
};

// Random q and a paged K/V (pages of 8 slots in shuffled order).
Inputs make_inputs(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Inputs in;
  in.q.resize(kRows * kHeads * kHd);
  for (float& x : in.q) x = n(rng);
  const int pages = (kKeys + 7) / 8;
  in.k.resize(pages * 8 * kKvHeads * kHd);
  in.v.resize(in.k.size());
  for (float& x : in.k) x = n(rng);
  for (float& x : in.v) x = n(rng);
  in.pages.resize(pages);
  std::iota(in.pages.begin(), in.pages.end(), 0);
  std::shuffle(in.pages.begin(), in.pages.end(), rng);
  in.kv = {in.k.data(), in.v.data(), kernels::DType::kF32, in.pages.data(), 8};
  return in;
}

const float* key(const Inputs& in, int slot, int kvh) {
  return in.k.data() + in.kv.row_offset(slot, kKvHeads * kHd) + kvh * kHd;
}

kernels::AttentionParams dense_params(const Inputs& in, float* out, const uint8_t* mask) {
  kernels::AttentionParams p;
  p.q = in.q.data();
  p.kv = in.kv;
  p.out = out;
  p.num_q = kRows;
  p.num_keys = kKeys;
  p.num_heads = kHeads;
  p.num_kv_heads = kKvHeads;
  p.head_dim = kHd;
  p.scale = 0.25f;
  p.key_mask = mask;
  return p;
}

kernels::cpu::SparseAttentionParams sparse_params(const Inputs& in, float* out,
                                                  const std::vector<int32_t>& blocks,
                                                  const std::vector<int32_t>& tokens) {
  return {.q = in.q.data(),
          .kv = in.kv,
          .out = out,
          .num_q = kRows,
          .num_heads = kHeads,
          .num_kv_heads = kKvHeads,
          .head_dim = kHd,
          .scale = 0.25f,
          .blocks = blocks.data(),
          .num_blocks = static_cast<int>(blocks.size()),
          .block_size = kBlock,
          .prompt_len = kPrompt,
          .tokens = tokens.data(),
          .num_tokens = static_cast<int>(tokens.size()),
          .response_begin = kPrompt,
          .response_end = kKeys};
}

TEST(FocusKernels, SparseAttentionOverEveryKeyIsDenseBitForBit) {
  Inputs in = make_inputs(1);
  kernels::cpu::ThreadPool pool(2);
  std::vector<float> dense(kRows * kHeads * kHd), sparse(dense.size());
  kernels::cpu::attention(pool, dense_params(in, dense.data(), nullptr));
  std::vector<int32_t> blocks(7);  // 50 prompt slots = 6 full blocks + 2
  std::iota(blocks.begin(), blocks.end(), 0);
  kernels::cpu::sparse_attention(sparse_params(in, sparse.data(), blocks, {}));
  EXPECT_EQ(dense, sparse);
}

TEST(FocusKernels, SparseAttentionEqualsDenseRestrictedToTheKeySet) {
  Inputs in = make_inputs(2);
  kernels::cpu::ThreadPool pool(2);
  const std::vector<int32_t> blocks = {1, 4, 6}, tokens = {0, 3, 17, 47};
  std::vector<uint8_t> mask(kKeys, 0);
  for (int b : blocks)
    for (int s = b * kBlock; s < std::min(kPrompt, (b + 1) * kBlock); ++s) mask[s] = 1;
  for (int t : tokens) mask[t] = 1;
  for (int s = kPrompt; s < kKeys; ++s) mask[s] = 1;
  std::vector<float> dense(kRows * kHeads * kHd), sparse(dense.size());
  kernels::cpu::attention(pool, dense_params(in, dense.data(), mask.data()));
  kernels::cpu::sparse_attention(sparse_params(in, sparse.data(), blocks, tokens));
  for (size_t i = 0; i < dense.size(); ++i) EXPECT_NEAR(dense[i], sparse[i], 1e-6) << i;
}

TEST(FocusKernels, AttentionMassIsTheMeanSoftmax) {
  Inputs in = make_inputs(3);
  std::vector<float> mass(kKeys);
  kernels::cpu::attention_mass_per_key({.q = in.q.data(),
                                        .kv = in.kv,
                                        .num_q = kRows,
                                        .num_keys = kKeys,
                                        .num_heads = kHeads,
                                        .num_kv_heads = kKvHeads,
                                        .head_dim = kHd,
                                        .scale = 0.25f,
                                        .out = mass.data()});
  std::vector<double> expect(kKeys, 0.0);
  for (int r = 0; r < kRows; ++r)
    for (int h = 0; h < kHeads; ++h) {
      std::vector<double> s(kKeys);
      for (int j = 0; j < kKeys; ++j) {
        double d = 0;
        for (int e = 0; e < kHd; ++e)
          d += double{in.q[(r * kHeads + h) * kHd + e]} * key(in, j, h / 2)[e];
        s[j] = std::exp(d * 0.25);
      }
      const double sum = std::accumulate(s.begin(), s.end(), 0.0);
      for (int j = 0; j < kKeys; ++j) expect[j] += s[j] / sum / (kRows * kHeads);
    }
  double total = 0;
  for (int j = 0; j < kKeys; ++j) {
    EXPECT_NEAR(mass[j], expect[j], 1e-6);
    total += mass[j];
  }
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(FocusKernels, BlockKeysAndScoresMatchBruteForce) {
  Inputs in = make_inputs(4);
  const int blocks = (kPrompt + kBlock - 1) / kBlock;
  std::vector<float> reps(blocks * kKvHeads * kHd), scores(blocks);
  kernels::cpu::block_representative_keys({.kv = in.kv,
                                           .num_slots = kPrompt,
                                           .block_size = kBlock,
                                           .num_kv_heads = kKvHeads,
                                           .head_dim = kHd,
                                           .out = reps.data()});
  for (int b = 0; b < blocks; ++b)
    for (int kvh = 0; kvh < kKvHeads; ++kvh)
      for (int e = 0; e < kHd; ++e) {
        double sum = 0;
        const int end = std::min(kPrompt, (b + 1) * kBlock);
        for (int s = b * kBlock; s < end; ++s) sum += key(in, s, kvh)[e];
        EXPECT_NEAR(reps[(b * kKvHeads + kvh) * kHd + e], sum / (end - b * kBlock), 1e-5);
      }
  const std::vector<int32_t> rows = {1, 3};
  kernels::cpu::block_scores({.q = in.q.data(),
                              .rows = rows.data(),
                              .num_rows = 2,
                              .block_keys = reps.data(),
                              .num_blocks = blocks,
                              .num_heads = kHeads,
                              .num_kv_heads = kKvHeads,
                              .head_dim = kHd,
                              .scale = 0.25f,
                              .out = scores.data()});
  for (int b = 0; b < blocks; ++b) {
    double best = -1e30;
    for (int r : rows) {
      double mean = 0;
      for (int h = 0; h < kHeads; ++h)
        for (int e = 0; e < kHd; ++e)
          mean += double{in.q[(r * kHeads + h) * kHd + e]} * reps[(b * kKvHeads + h / 2) * kHd + e];
      best = std::max(best, mean * 0.25 / kHeads);
    }
    EXPECT_NEAR(scores[b], best, 1e-5);
  }
}

TEST(FocusSelection, SinksAreTheTopPromptKeys) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> mass(kKeys);
  for (float& m : mass) m = u(rng);
  mass[60] = 100.0f;  // a response key never becomes a sink
  const std::vector<int32_t> sinks = choose_sinks(mass, kPrompt, 6);
  std::vector<std::pair<float, int>> all;
  for (int j = 0; j < kPrompt; ++j) all.push_back({-mass[j], j});
  std::sort(all.begin(), all.end());
  std::vector<int32_t> expect;
  for (int i = 0; i < 6; ++i) expect.push_back(all[i].second);
  std::sort(expect.begin(), expect.end());
  EXPECT_EQ(sinks, expect);
  EXPECT_EQ(choose_sinks(mass, kPrompt, 1000).size(), static_cast<size_t>(kPrompt));
}

TEST(FocusSelection, BlocksAreTheTopOnesWithinTheBudget) {
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> u(-1, 1);
  const int blocks = (kPrompt + kBlock - 1) / kBlock;
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> scores(blocks);
    for (float& s : scores) s = u(rng);
    std::vector<int32_t> sinks = {2, 9, 10, 33};
    const int budget = 4 + trial % 40;
    // Brute force: walk blocks best first, count distinct kept slots, stop at the first misfit.
    std::vector<int> order(blocks);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
    std::vector<uint8_t> kept(kPrompt, 0);
    for (int s : sinks) kept[s] = 1;
    std::vector<int32_t> expect;
    for (int b : order) {
      std::vector<uint8_t> next = kept;
      for (int s = b * kBlock; s < std::min(kPrompt, (b + 1) * kBlock); ++s) next[s] = 1;
      if (std::count(next.begin(), next.end(), 1) > budget) break;
      kept = next;
      expect.push_back(b);
    }
    std::sort(expect.begin(), expect.end());
    EXPECT_EQ(choose_blocks(scores, sinks, kBlock, kPrompt, budget), expect) << budget;
  }
  std::vector<float> flat(blocks, 0.0f);
  EXPECT_EQ(choose_blocks(flat, {}, kBlock, kPrompt, kPrompt).size(), static_cast<size_t>(blocks));
}

}  // namespace
}  // namespace dllm
