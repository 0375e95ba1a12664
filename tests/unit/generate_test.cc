// Generation schedules against a fake model: schedules, cache exactness, threshold, batches, seeds,
// errors.
#include "common/generate/generate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <numeric>

#include "common/generate/cache_plan.h"
#include "common/generate/position_selection.h"
#include "common/generate/transfer_schedule.h"

namespace dllm {
namespace {

constexpr int kVocab = 64;
constexpr int32_t kMask = 63;
constexpr int32_t kEos = 60;
constexpr int32_t kEot = 61;

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// "K/V" of a slot is a hash of (token, position): caching it is exact, so any cache mode must
// reproduce the no-cache tokens. Logits of a row hash the row and every visible key, so wrong
// rows, positions, attend_len, masks or logit rows show up as different tokens.
class FakeKvCache : public KvCache {
 public:
  explicit FakeKvCache(int capacity) : slots(capacity, 0) {}
  int capacity() const override { return static_cast<int>(slots.size()); }
  std::vector<uint64_t> slots;
};

struct RecordedForward {
  int rows = 0;
  int first_position = 0;
  bool cached = false;
  int attend_len = 0;
  int logit_rows = 0;
  std::vector<int32_t> positions;
  std::vector<uint8_t> key_mask;
};

class FakeModel : public LanguageModel {
 public:
  explicit FakeModel(ModelFamily family) {
    config_.family = family;
    config_.vocab_size = kVocab;
    config_.embedding_rows = kVocab;
    config_.mask_token_id = kMask;
    config_.eos_token_id = kEos;
    config_.eot_token_id = kEot;
  }
  const ModelConfig& config() const override { return config_; }
  absl::StatusOr<std::unique_ptr<KvCache>> new_kv_cache(int capacity) override {
    return std::unique_ptr<KvCache>(std::make_unique<FakeKvCache>(capacity));
  }
  absl::Status forward(std::span<const SequenceForward> batch,
                       std::vector<std::vector<float>>* logits) override {
    ++forward_calls;
    batch_sizes.push_back(static_cast<int>(batch.size()));
    for (const SequenceForward& f : batch) logits->push_back(run(f));
    return absl::OkStatus();
  }

  int eos_from_position = INT_MAX;  // rows at or after it strongly predict EOS
  int forward_calls = 0;
  std::vector<int> batch_sizes;
  std::vector<RecordedForward> recorded;

 private:
  std::vector<float> run(const SequenceForward& f) {
    const int n = static_cast<int>(f.ids.size());
    recorded.push_back({n, n > 0 ? f.positions[0] : 0, f.cache != nullptr, f.attend_len,
                        static_cast<int>(f.logit_rows.size()),
                        std::vector<int32_t>(f.positions.begin(), f.positions.end()),
                        std::vector<uint8_t>(f.key_mask.begin(), f.key_mask.end())});
    std::vector<uint64_t> kv(n);
    for (int i = 0; i < n; ++i) kv[i] = mix(mix(f.ids[i]) ^ (f.positions[i] * 0x100000001b3ull));
    uint64_t context = 0;
    auto fold = [&](uint64_t value) { context = mix(context ^ value); };
    if (f.cache != nullptr) {
      auto* cache = static_cast<FakeKvCache*>(f.cache);
      for (int i = 0; i < n; ++i) cache->slots[f.positions[i]] = kv[i];
      for (int j = 0; j < f.attend_len; ++j) {
        if (f.key_mask.empty() || f.key_mask[j]) fold(cache->slots[j]);
      }
    } else {
      for (int j = 0; j < n; ++j) {
        if (f.key_mask.empty() || f.key_mask[j]) fold(kv[j]);
      }
    }
    std::vector<int32_t> rows(f.logit_rows.begin(), f.logit_rows.end());
    if (rows.empty()) {
      rows.resize(n);
      std::iota(rows.begin(), rows.end(), 0);
    }
    std::vector<float> out;
    for (int r : rows) {
      const uint64_t h = mix(kv[r] ^ context);
      for (int v = 0; v < kVocab; ++v) {
        const uint64_t hv = mix(h + v);
        float logit = static_cast<float>(hv >> 40) / static_cast<float>(1 << 24) * 8.0f - 4.0f;
        if (v == kMask) logit = -8.0f;  // like real models: never predict the mask
        if (v == kEos && f.positions[r] >= eos_from_position) logit += 100.0f;
        out.push_back(logit);
      }
    }
    return out;
  }

  ModelConfig config_;
};

std::vector<int32_t> make_prompt(int length, int salt) {
  std::vector<int32_t> prompt(length);
  for (int i = 0; i < length; ++i) prompt[i] = static_cast<int32_t>(mix(i * 31 + salt) % 50);
  return prompt;
}

GenerationOptions llada_options() {
  GenerationOptions o;
  o.sampler = Sampler::kLladaLowConfidence;
  o.gen_length = 16;
  o.block_length = 4;
  o.steps = 8;
  o.record_trace = true;
  return o;
}

GenerationOptions dream_options(Sampler sampler) {
  GenerationOptions o;
  o.sampler = sampler;
  o.gen_length = 16;
  o.block_length = 0;
  o.steps = 8;
  o.record_trace = true;
  return o;
}

GenerationResult run_one(FakeModel& model, std::span<const int32_t> prompt,
                         const GenerationOptions& options) {
  auto result = generate(model, prompt, options);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : GenerationResult{};
}

int count_masks(std::span<const int32_t> ids) {
  return static_cast<int>(std::count(ids.begin(), ids.end(), kMask));
}

// ---- schedules ----

TEST(TransferSchedule, LladaSplitsEvenlyWithRemainderFirst) {
  EXPECT_EQ(llada_transfer_counts(8, 4), (std::vector<int>{2, 2, 2, 2}));
  EXPECT_EQ(llada_transfer_counts(10, 4), (std::vector<int>{3, 3, 2, 2}));
  EXPECT_EQ(llada_transfer_counts(3, 5), (std::vector<int>{1, 1, 1, 0, 0}));
  // The golden one-block run: 32 masks over 12 steps.
  EXPECT_EQ(llada_transfer_counts(32, 12), (std::vector<int>{3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2}));
}

// The reference arithmetic written out independently: torch CPU linspace in float32, then
// int(n * (1 - s / t)) with every intermediate rounded to float32.
int reference_dream_count(int n, int steps, float eps, int i) {
  const int points = steps + 1;
  const float step = (eps - 1.0f) / static_cast<float>(points - 1);
  auto at = [&](int idx) -> float {
    volatile float v = idx < points / 2 ? 1.0f + step * static_cast<float>(idx)
                                        : eps - step * static_cast<float>(points - idx - 1);
    return v;
  };
  if (i == steps - 1) return n;
  volatile float ratio = at(i + 1) / at(i);
  volatile float frac = 1.0f - ratio;
  volatile float expected = static_cast<float>(n) * frac;
  return static_cast<int>(expected);
}

TEST(TransferSchedule, DreamCountsMatchFloat32Reference) {
  for (int steps : {1, 2, 3, 5, 8, 16, 32, 64, 128, 256, 512}) {
    const std::vector<float> t = dream_timesteps(steps, 1e-3f);
    ASSERT_EQ(t.size(), static_cast<size_t>(steps + 1));
    EXPECT_EQ(t.front(), 1.0f);
    EXPECT_EQ(t.back(), 1e-3f);
    for (int n : {1, 7, 32, 100, 256, 1000}) {
      for (int i = 0; i < steps; ++i) {
        ASSERT_EQ(dream_transfer_count(n, t, i), reference_dream_count(n, steps, 1e-3f, i))
            << "steps " << steps << " n " << n << " i " << i;
      }
    }
  }
}

TEST(TransferSchedule, DreamGoldenCountSequence) {
  // generate_*.safetensors: 32 masks, 16 steps -> step_num_transfer.
  const std::vector<float> t = dream_timesteps(16, 1e-3f);
  std::vector<int> counts;
  int remaining = 32;
  for (int i = 0; i < 16; ++i) {
    counts.push_back(dream_transfer_count(remaining, t, i));
    remaining -= counts.back();
  }
  EXPECT_EQ(counts, (std::vector<int>{1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3}));
  EXPECT_EQ(dream_reveal_probability(t, 15), 1.0f);
}

TEST(PositionSelection, TopKTakesLowestIndexOnTies) {
  const std::vector<double> c = {0.5, 0.9, 0.5, 0.9, 0.1};
  EXPECT_EQ(select_top_k(c, 3), (std::vector<int>{1, 3, 0}));
  EXPECT_EQ(select_top_k(c, 0), std::vector<int>{});
}

TEST(PositionSelection, ThresholdKeepsBestPlusConfident) {
  EXPECT_EQ(select_by_threshold(std::vector<double>{0.2, 0.3, 0.1}, 0.9), std::vector<int>{1});
  EXPECT_EQ(select_by_threshold(std::vector<double>{0.95, 0.3, 0.9}, 0.9),
            (std::vector<int>{0, 2}));
}

TEST(PositionSelection, SampledSelectionIsDistinct) {
  SamplingRng rng(7);
  const std::vector<double> c = {-1.0, -2.0, -0.5, -3.0, -0.1};
  std::vector<int> chosen = sample_without_replacement(c, 4, 0.5, rng);
  ASSERT_EQ(chosen.size(), 4u);
  std::sort(chosen.begin(), chosen.end());
  EXPECT_EQ(std::unique(chosen.begin(), chosen.end()), chosen.end());
}

TEST(CachePlan, RowsPerMode) {
  // Block [10, 14) of a 20-slot sequence.
  auto rows = plan_forward_rows(KvCacheMode::kNone, false, false, 10, 14, 20);
  EXPECT_EQ(rows.begin, 0);
  EXPECT_EQ(rows.end, 20);
  EXPECT_FALSE(rows.use_cache);
  rows = plan_forward_rows(KvCacheMode::kDual, true, true, 10, 14, 20);
  EXPECT_EQ(rows.begin, 0);
  EXPECT_EQ(rows.end, 20);
  EXPECT_EQ(rows.attend_len, 20);
  rows = plan_forward_rows(KvCacheMode::kPrefix, false, false, 10, 14, 20);
  EXPECT_EQ(rows.begin, 10);
  EXPECT_EQ(rows.end, 20);
  rows = plan_forward_rows(KvCacheMode::kDual, false, true, 10, 14, 20);
  EXPECT_EQ(rows.begin, 9);
  EXPECT_EQ(rows.end, 14);
  EXPECT_EQ(logit_row_for(10, true, rows), 0);
  EXPECT_EQ(logit_row_for(13, true, rows), 3);
  EXPECT_EQ(
      logit_row_for(12, false, plan_forward_rows(KvCacheMode::kNone, false, false, 10, 14, 20)),
      12);
}

// ---- generation ----

struct CacheCase {
  Sampler sampler;
  int block_length;
  int steps;
  double cfg_scale;
  double threshold;
};

class CacheExactness : public ::testing::TestWithParam<CacheCase> {};

TEST_P(CacheExactness, PrefixAndDualReproduceNoCache) {
  const CacheCase c = GetParam();
  FakeModel model(sampler_family(c.sampler));
  const std::vector<int32_t> prompt = make_prompt(7, 3);
  GenerationOptions o = is_dream_sampler(c.sampler) ? dream_options(c.sampler) : llada_options();
  o.block_length = c.block_length;
  o.steps = c.steps;
  o.cfg_scale = c.cfg_scale;
  o.threshold = c.threshold;
  const GenerationResult plain = run_one(model, prompt, o);
  EXPECT_EQ(count_masks(plain.sequence), 0);
  for (KvCacheMode mode : {KvCacheMode::kPrefix, KvCacheMode::kDual}) {
    o.cache = mode;
    const GenerationResult cached = run_one(model, prompt, o);
    EXPECT_EQ(cached.sequence, plain.sequence) << kv_cache_mode_name(mode);
    ASSERT_EQ(cached.trace.size(), plain.trace.size());
    for (size_t i = 0; i < plain.trace.size(); ++i) {
      EXPECT_EQ(cached.trace[i].sequence, plain.trace[i].sequence) << "step " << i;
      EXPECT_EQ(cached.trace[i].num_transferred, plain.trace[i].num_transferred);
    }
    EXPECT_EQ(cached.counters.forward_passes, plain.counters.forward_passes);
    EXPECT_LT(cached.counters.rows_computed, plain.counters.rows_computed);
  }
}

INSTANTIATE_TEST_SUITE_P(Samplers, CacheExactness,
                         ::testing::Values(CacheCase{Sampler::kLladaLowConfidence, 4, 8, 0.0, 0.0},
                                           CacheCase{Sampler::kLladaLowConfidence, 8, 6, 0.5, 0.0},
                                           CacheCase{Sampler::kLladaLowConfidence, 4, 0, 0.0, 0.3},
                                           CacheCase{Sampler::kDreamMaskgitPlus, 4, 8, 0.0, 0.0},
                                           CacheCase{Sampler::kDreamEntropy, 16, 8, 0.0, 0.0},
                                           CacheCase{Sampler::kDreamTopkMargin, 8, 4, 0.0, 0.0},
                                           CacheCase{Sampler::kDreamMaskgitPlus, 8, 0, 0.0, 0.2}));

TEST(Generate, CacheStepsRunTheRowsTheModeSays) {
  const std::vector<int32_t> prompt = make_prompt(6, 1);
  for (bool dream : {false, true}) {
    for (KvCacheMode mode : {KvCacheMode::kPrefix, KvCacheMode::kDual}) {
      FakeModel model(dream ? ModelFamily::kDream : ModelFamily::kLlada);
      GenerationOptions o = dream ? dream_options(Sampler::kDreamMaskgitPlus) : llada_options();
      o.block_length = 4;
      o.steps = 16;                  // 4 steps a block, one mask each: no step is skipped
      if (dream) o.threshold = 1.0;  // Dream's own counts would skip steps; one per step here
      o.cache = mode;
      run_one(model, prompt, o);
      ASSERT_EQ(model.recorded.size(), 16u);
      for (size_t i = 0; i < model.recorded.size(); ++i) {
        const RecordedForward& f = model.recorded[i];
        const int block_begin = 6 + static_cast<int>(i / 4) * 4;
        EXPECT_TRUE(f.cached);
        EXPECT_EQ(f.attend_len, 22);
        if (i % 4 == 0) {  // block entry refreshes everything
          EXPECT_EQ(f.rows, 22);
          continue;
        }
        const int first = dream ? block_begin - 1 : block_begin;
        EXPECT_EQ(f.first_position, first);
        EXPECT_EQ(f.rows, mode == KvCacheMode::kPrefix ? 22 - first : block_begin + 4 - first);
        EXPECT_EQ(f.logit_rows, 4 - static_cast<int>(i % 4));  // the block's remaining masks
      }
    }
  }
}

TEST(Generate, LladaScheduleCommitsPerStep) {
  FakeModel model(ModelFamily::kLlada);
  const std::vector<int32_t> prompt = make_prompt(5, 2);
  GenerationOptions o = llada_options();  // 4 blocks of 4, 2 steps each
  const GenerationResult r = run_one(model, prompt, o);
  ASSERT_EQ(r.trace.size(), 8u);
  for (const TraceStep& s : r.trace) EXPECT_EQ(s.num_transferred, 2);
  EXPECT_EQ(r.counters.forward_passes, 8);
  EXPECT_EQ(r.counters.rows_computed, 8 * 21);
  EXPECT_EQ(r.generated.size(), 16u);
  EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), r.sequence.begin()));
  // Semi-autoregressive: after block b's steps nothing right of it is decoded.
  for (const TraceStep& s : r.trace) {
    const int block_end = 5 + (s.block + 1) * 4;
    EXPECT_EQ(count_masks(std::span<const int32_t>(s.sequence).subspan(block_end)), 21 - block_end);
  }
}

TEST(Generate, ZeroCountStepsRunNoForward) {
  FakeModel model(ModelFamily::kDream);
  GenerationOptions o = dream_options(Sampler::kDreamMaskgitPlus);
  o.gen_length = 4;
  o.steps = 16;  // int(4 * (1 - s/t)) is 0 on most steps
  const GenerationResult r = run_one(model, make_prompt(5, 4), o);
  EXPECT_EQ(r.trace.size(), 16u);
  EXPECT_EQ(r.counters.steps, 16);
  EXPECT_LT(r.counters.forward_passes, 16);
  EXPECT_EQ(model.forward_calls, r.counters.forward_passes);
  EXPECT_EQ(count_masks(r.sequence), 0);
}

TEST(Generate, ThresholdCommitsAtLeastOnePerStepAndFinishes) {
  for (Sampler sampler :
       {Sampler::kLladaLowConfidence, Sampler::kDreamMaskgitPlus, Sampler::kDreamTopkMargin}) {
    FakeModel model(sampler_family(sampler));
    GenerationOptions o = is_dream_sampler(sampler) ? dream_options(sampler) : llada_options();
    o.threshold = 1.0;  // no fake confidence reaches 1: exactly one per step
    GenerationResult r = run_one(model, make_prompt(4, 5), o);
    EXPECT_EQ(r.trace.size(), 16u);
    for (const TraceStep& s : r.trace) EXPECT_EQ(s.num_transferred, 1);
    o.threshold = 1e-9;  // everything clears it: one step a block
    r = run_one(model, make_prompt(4, 5), o);
    const size_t blocks = o.block_length == 0 ? 1 : 16 / o.block_length;
    EXPECT_EQ(r.trace.size(), blocks);
    o.threshold = 0.05;
    r = run_one(model, make_prompt(4, 5), o);
    for (const TraceStep& s : r.trace) EXPECT_GE(s.num_transferred, 1);
    EXPECT_EQ(count_masks(r.sequence), 0);
  }
}

TEST(Generate, BatchEqualsIndividualRuns) {
  for (bool dream : {false, true}) {
    FakeModel model(dream ? ModelFamily::kDream : ModelFamily::kLlada);
    std::vector<std::vector<int32_t>> prompts = {make_prompt(3, 1), make_prompt(9, 2),
                                                 make_prompt(5, 3)};
    std::vector<GenerationRequest> requests(3);
    for (int i = 0; i < 3; ++i) {
      requests[i].prompt = prompts[i];
      requests[i].options = dream ? dream_options(Sampler::kDreamEntropy) : llada_options();
      requests[i].options.seed = 100 + i;
      requests[i].options.temperature = i == 1 ? 0.7 : 0.0;
    }
    requests[2].options.cache = KvCacheMode::kDual;
    requests[2].options.gen_length = 8;
    auto batch = generate_batch(model, requests);
    ASSERT_TRUE(batch.ok()) << batch.status();
    EXPECT_GT(*std::max_element(model.batch_sizes.begin(), model.batch_sizes.end()), 1);
    for (int i = 0; i < 3; ++i) {
      const GenerationResult alone = run_one(model, prompts[i], requests[i].options);
      EXPECT_EQ((*batch)[i].sequence, alone.sequence) << "request " << i;
      EXPECT_EQ((*batch)[i].trace.size(), alone.trace.size());
    }
  }
}

TEST(Generate, SeedDeterminesSampledOutput) {
  const std::vector<int32_t> prompt = make_prompt(6, 9);
  std::vector<GenerationOptions> cases = {
      llada_options(), dream_options(Sampler::kDreamMaskgitPlus),
      dream_options(Sampler::kDreamOrigin), dream_options(Sampler::kDreamEntropy)};
  cases[0].temperature = 1.0;
  cases[1].temperature = 1.0;
  cases[1].top_p = 0.9;
  cases[2].temperature = 0.8;
  cases[2].top_k = 10;
  cases[3].alg_temp = 0.5;
  cases.push_back(llada_options());
  cases.back().sampler = Sampler::kLladaRandom;
  for (GenerationOptions o : cases) {
    FakeModel model(sampler_family(o.sampler));
    o.gen_length = 32;
    o.block_length = 0;
    o.steps = 8;
    o.seed = 1;
    const GenerationResult a = run_one(model, prompt, o);
    const GenerationResult b = run_one(model, prompt, o);
    o.seed = 2;
    const GenerationResult c = run_one(model, prompt, o);
    EXPECT_EQ(a.sequence, b.sequence) << sampler_name(o.sampler);
    EXPECT_NE(a.sequence, c.sequence) << sampler_name(o.sampler);
    EXPECT_EQ(count_masks(a.sequence), 0);
  }
}

TEST(Generate, StopTokensTruncateAndEndEarly) {
  FakeModel model(ModelFamily::kLlada);
  const std::vector<int32_t> prompt = make_prompt(5, 6);
  model.eos_from_position = 5 + 6;  // generated positions 6.. predict EOS
  GenerationOptions o = llada_options();
  std::vector<int> streamed;
  auto full = generate(model, prompt, o, [&](int block, std::span<const int32_t> ids) {
    EXPECT_EQ(ids.size(), 4u);
    streamed.push_back(block);
  });
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(streamed, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(full->generated.size(), 16u);
  EXPECT_EQ(full->generated[6], kEos);

  o.truncate_at_stop = true;
  o.stop_after_stop_block = true;
  streamed.clear();
  auto early = generate(model, prompt, o,
                        [&](int block, std::span<const int32_t>) { streamed.push_back(block); });
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->generated,
            std::vector<int32_t>(full->generated.begin(), full->generated.begin() + 6));
  EXPECT_EQ(streamed, (std::vector<int>{0, 1, 2}));  // block 2 is all EOS: stop there
  EXPECT_TRUE(early->stopped_early);
  EXPECT_EQ(early->sequence, full->sequence);  // the rest is filled with EOS, as generated
  EXPECT_LT(early->counters.forward_passes, full->counters.forward_passes);
}

TEST(Generate, ShouldStopEndsTheRequestBetweenSteps) {
  FakeModel model(ModelFamily::kLlada);
  const std::vector<int32_t> prompt = make_prompt(5, 6);
  GenerationOptions o = llada_options();
  const auto full = generate(model, prompt, o);
  ASSERT_TRUE(full.ok());
  EXPECT_FALSE(full->cancelled);
  // A client that cancels after the first block: no further forward runs.
  bool cancel = false;
  o.should_stop = [&] { return cancel; };
  std::vector<int> streamed;
  auto stopped = generate(model, prompt, o, [&](int block, std::span<const int32_t>) {
    streamed.push_back(block);
    cancel = true;
  });
  ASSERT_TRUE(stopped.ok());
  EXPECT_TRUE(stopped->cancelled);
  EXPECT_EQ(streamed, (std::vector<int>{0}));
  EXPECT_LT(stopped->counters.forward_passes, full->counters.forward_passes);
  EXPECT_GT(count_masks(stopped->sequence), 0);  // blocks after the first stay masked
}

TEST(Generate, PaddedBatchUsesKeyMaskAndPositions) {
  // Row 0 is left-padded by 3; row 1 is not.
  const std::vector<int32_t> a = make_prompt(4, 7), b = make_prompt(7, 8);
  std::vector<int32_t> ids = {kEos, kEos, kEos};
  ids.insert(ids.end(), a.begin(), a.end());
  ids.insert(ids.end(), b.begin(), b.end());
  std::vector<uint8_t> mask = {0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  const PaddedPromptBatch padded{ids, mask, 2, 7};
  {  // Dream: tok_idx positions and masked pads are the ragged computation
    FakeModel model(ModelFamily::kDream);
    const GenerationOptions o = dream_options(Sampler::kDreamMaskgitPlus);
    auto results = generate_padded_batch(model, padded, o);
    ASSERT_TRUE(results.ok()) << results.status();
    EXPECT_EQ(model.recorded[0].positions[0], 1);
    EXPECT_EQ(model.recorded[0].positions[3], 0);
    EXPECT_EQ(model.recorded[0].key_mask.size(), 23u);
    EXPECT_TRUE(model.recorded[1].key_mask.empty());
    EXPECT_EQ((*results)[0].generated, run_one(model, a, o).generated);
    EXPECT_EQ((*results)[1].sequence, run_one(model, b, o).sequence);
    GenerationOptions cached = o;
    cached.cache = KvCacheMode::kPrefix;
    EXPECT_EQ(generate_padded_batch(model, padded, cached).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  {  // LLaDA keeps slot positions; caches work with the key mask
    FakeModel model(ModelFamily::kLlada);
    GenerationOptions o = llada_options();
    auto plain = generate_padded_batch(model, padded, o);
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(model.recorded[0].positions[0], 0);
    EXPECT_EQ(model.recorded[0].key_mask[0], 0);
    o.cache = KvCacheMode::kDual;
    auto cached = generate_padded_batch(model, padded, o);
    ASSERT_TRUE(cached.ok()) << cached.status();
    EXPECT_EQ((*cached)[0].sequence, (*plain)[0].sequence);
    EXPECT_EQ((*plain)[0].sequence.size(), 23u);
  }
}

TEST(Generate, ValidationErrors) {
  FakeModel llada(ModelFamily::kLlada);
  const std::vector<int32_t> prompt = make_prompt(4, 1);
  auto expect_invalid = [&](LanguageModel& model, std::span<const int32_t> p,
                            const GenerationOptions& o, const char* what) {
    auto r = generate(model, p, o);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << what;
  };
  GenerationOptions o = llada_options();
  expect_invalid(llada, {}, o, "empty prompt");
  const std::vector<int32_t> out_of_range = {1, kVocab}, negative = {-1}, masked = {1, kMask};
  expect_invalid(llada, out_of_range, o, "id >= vocab");
  expect_invalid(llada, negative, o, "negative id");
  expect_invalid(llada, masked, o, "mask in prompt");
  auto with = [&](auto change) {
    GenerationOptions c = llada_options();
    change(c);
    return c;
  };
  expect_invalid(llada, prompt, with([](auto& c) { c.gen_length = 0; }), "gen_length 0");
  expect_invalid(llada, prompt, with([](auto& c) { c.block_length = 5; }), "not a multiple");
  expect_invalid(llada, prompt, with([](auto& c) { c.block_length = -1; }), "negative block");
  expect_invalid(llada, prompt, with([](auto& c) { c.steps = 6; }), "steps vs blocks");
  expect_invalid(llada, prompt, with([](auto& c) { c.steps = 0; }), "steps 0");
  expect_invalid(llada, prompt, with([](auto& c) { c.threshold = 1.5; }), "threshold > 1");
  expect_invalid(llada, prompt, with([](auto& c) { c.threshold = -0.1; }), "threshold < 0");
  expect_invalid(llada, prompt,
                 with([](auto& c) { c.threshold = 0.5, c.sampler = Sampler::kLladaRandom; }),
                 "threshold with random confidence");
  expect_invalid(llada, prompt, with([](auto& c) { c.temperature = -1; }), "temperature");
  expect_invalid(llada, prompt, with([](auto& c) { c.cfg_scale = -1; }), "cfg");
  expect_invalid(llada, prompt, with([](auto& c) { c.top_p = 0.5; }), "top_p on LLaDA");
  expect_invalid(llada, prompt, with([](auto& c) { c.stop_token_ids = {kVocab}; }), "stop id");
  expect_invalid(llada, prompt, with([](auto& c) { c.sampler = Sampler::kDreamMaskgitPlus; }),
                 "Dream sampler on LLaDA");
  FakeModel dream(ModelFamily::kDream);
  auto dream_with = [&](auto change) {
    GenerationOptions c = dream_options(Sampler::kDreamEntropy);
    change(c);
    return c;
  };
  expect_invalid(dream, prompt, dream_with([](auto& c) { c.eps = 0; }), "eps");
  expect_invalid(dream, prompt, dream_with([](auto& c) { c.top_p = 0; }), "top_p 0");
  expect_invalid(dream, prompt, dream_with([](auto& c) { c.top_k = -2; }), "top_k");
  expect_invalid(dream, prompt, dream_with([](auto& c) { c.alg_temp = -1; }), "alg_temp");
  expect_invalid(dream, prompt, dream_with([](auto& c) { c.cfg_scale = 1; }), "cfg on Dream");
  expect_invalid(dream, prompt, dream_with([](auto& c) { c.threshold = 0.9; }),
                 "threshold + entropy");
  std::vector<GenerationRequest> requests(2);
  requests[0].prompt = prompt;
  requests[0].options = llada_options();
  requests[1].options = llada_options();  // empty prompt
  auto batch = generate_batch(llada, requests);
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(batch.status().message().find("request 1"), std::string::npos);
  EXPECT_FALSE(parse_sampler("greedy").ok());
  EXPECT_EQ(*parse_sampler("dream_entropy"), Sampler::kDreamEntropy);
  EXPECT_EQ(*parse_kv_cache_mode("dual"), KvCacheMode::kDual);
  EXPECT_FALSE(parse_kv_cache_mode("paged").ok());
}

}  // namespace
}  // namespace dllm
