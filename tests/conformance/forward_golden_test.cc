// Conformance: the CPU engine's logits and hidden states equal the official reference's (golden).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/model/load_model.h"
#include "common/model/safetensors.h"
#include "kernels/backend.h"

namespace dllm {
namespace {

const std::string kGolden = DLLM_GOLDEN_DIR;

struct GoldenForward {
  std::vector<int32_t> ids;
  std::vector<float> logits;
  std::vector<float> hidden;  // [layers+1, T, d]
};

GoldenForward read_golden(const std::string& path) {
  auto file = SafetensorsFile::open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  GoldenForward g;
  const TensorInfo* ids = (*file)->find("input_ids");
  const TensorInfo* logits = (*file)->find("logits");
  const TensorInfo* hidden = (*file)->find("hidden_states");
  EXPECT_TRUE(ids && logits && hidden);
  const auto* id64 = reinterpret_cast<const int64_t*>(ids->data);
  for (int64_t i = 0; i < ids->numel(); ++i) g.ids.push_back(static_cast<int32_t>(id64[i]));
  const auto* lf = reinterpret_cast<const float*>(logits->data);
  g.logits.assign(lf, lf + logits->numel());
  const auto* hf = reinterpret_cast<const float*>(hidden->data);
  g.hidden.assign(hf, hf + hidden->numel());
  return g;
}

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float d = std::fabs(a[i] - b[i]);
    if (std::isnan(d)) return INFINITY;  // NaN never passes
    m = std::max(m, d);
  }
  return m;
}

void check_forward(const std::string& checkpoint, const std::string& golden, int threads) {
  auto backend = kernels::make_cpu_backend(threads);
  auto model = load_transformer(checkpoint, backend.get());
  ASSERT_TRUE(model.ok()) << model.status();
  const GoldenForward g = read_golden(golden);
  std::vector<float> logits;
  std::vector<std::vector<float>> hidden;
  ASSERT_TRUE((*model)->forward_with_hidden_states(g.ids, &logits, &hidden).ok());
  ASSERT_EQ(logits.size(), g.logits.size());
  EXPECT_LE(max_abs_diff(logits.data(), g.logits.data(), logits.size()), 1e-4f);
  const size_t per = g.ids.size() * (*model)->config().hidden_size;
  ASSERT_EQ(hidden.size() * per, g.hidden.size());
  for (size_t l = 0; l < hidden.size(); ++l)
    EXPECT_LE(max_abs_diff(hidden[l].data(), g.hidden.data() + l * per, per), 1e-4f)
        << "hidden state " << l;
}

TEST(ForwardGolden, LladaSingleFile) {
  check_forward(kGolden + "/llada-tiny/checkpoint", kGolden + "/llada-tiny/forward.safetensors", 2);
}

TEST(ForwardGolden, LladaSharded) {
  check_forward(kGolden + "/llada-tiny/checkpoint-sharded",
                kGolden + "/llada-tiny/forward.safetensors", 1);
}

TEST(ForwardGolden, DreamGqaWithQkvBias) {
  check_forward(kGolden + "/dream-tiny/checkpoint", kGolden + "/dream-tiny/forward.safetensors", 2);
}

// Cached forwards (block cache paths) must equal the uncached forward on the same rows.
TEST(ForwardGolden, CachedRowsEqualFullForward) {
  auto backend = kernels::make_cpu_backend(2);
  auto model = load_transformer(kGolden + "/llada-tiny/checkpoint", backend.get());
  ASSERT_TRUE(model.ok()) << model.status();
  const GoldenForward g = read_golden(kGolden + "/llada-tiny/forward.safetensors");
  const int T = static_cast<int>(g.ids.size());
  const int vocab = (*model)->config().embedding_rows;
  std::vector<int32_t> pos(T);
  for (int i = 0; i < T; ++i) pos[i] = i;
  auto cache = (*model)->new_kv_cache(T);
  ASSERT_TRUE(cache.ok()) << cache.status();
  SequenceForward full{.ids = g.ids, .positions = pos, .cache = cache->get(), .attend_len = T};
  std::vector<std::vector<float>> out;
  ASSERT_TRUE((*model)->forward({&full, 1}, &out).ok());
  EXPECT_LE(max_abs_diff(out[0].data(), g.logits.data(), g.logits.size()), 1e-4f);
  // Re-run rows 16..23 only (a "block") against the cache: same logits as the full pass.
  std::span<const int32_t> block_ids(g.ids.data() + 16, 8), block_pos(pos.data() + 16, 8);
  SequenceForward step{.ids = block_ids, .positions = block_pos, .cache = cache->get(), .attend_len = T};
  ASSERT_TRUE((*model)->forward({&step, 1}, &out).ok());
  EXPECT_LE(max_abs_diff(out[0].data(), g.logits.data() + 16 * vocab, 8 * vocab), 1e-4f);
}

TEST(ForwardGolden, BatchOfRaggedSequencesEqualsSingles) {
  auto backend = kernels::make_cpu_backend(2);
  auto model = load_transformer(kGolden + "/dream-tiny/checkpoint", backend.get());
  ASSERT_TRUE(model.ok()) << model.status();
  const GoldenForward g = read_golden(kGolden + "/dream-tiny/forward.safetensors");
  const int vocab = (*model)->config().embedding_rows;
  std::vector<int32_t> pos(g.ids.size());
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int32_t>(i);
  std::span<const int32_t> short_ids(g.ids.data(), 13), short_pos(pos.data(), 13);
  std::vector<int32_t> logit_rows = {0, 5, 12};
  SequenceForward a{.ids = g.ids, .positions = pos};
  SequenceForward b{.ids = short_ids, .positions = short_pos, .logit_rows = logit_rows};
  std::vector<SequenceForward> batch = {a, b};
  std::vector<std::vector<float>> out;
  ASSERT_TRUE((*model)->forward(batch, &out).ok());
  EXPECT_LE(max_abs_diff(out[0].data(), g.logits.data(), g.logits.size()), 1e-4f);
  std::vector<std::vector<float>> single;
  SequenceForward b_all{.ids = short_ids, .positions = short_pos};
  ASSERT_TRUE((*model)->forward({&b_all, 1}, &single).ok());
  ASSERT_EQ(out[1].size(), 3u * vocab);
  for (int i = 0; i < 3; ++i)
    EXPECT_LE(max_abs_diff(out[1].data() + i * vocab, single[0].data() + logit_rows[i] * vocab, vocab),
              1e-5f);
}

TEST(ForwardGolden, RejectsOutOfRangeIds) {
  auto backend = kernels::make_cpu_backend(1);
  auto model = load_transformer(kGolden + "/llada-tiny/checkpoint", backend.get());
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<int32_t> ids = {1, 2, 512}, pos = {0, 1, 2};
  SequenceForward s{.ids = ids, .positions = pos};
  std::vector<std::vector<float>> out;
  absl::Status st = (*model)->forward({&s, 1}, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("512"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace dllm
