// End to end: the golden tiny checkpoints give the same logits and hidden states on CUDA as on
// the CPU backend and as the reference (fp32 weights: max abs diff <= 1e-4).
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "common/model/load_model.h"
#include "common/model/safetensors.h"
#include "tests/gpu/gpu_test_util.h"

namespace dllm::gpu_test {
namespace {

struct Golden {
  std::vector<int32_t> ids;
  std::vector<float> logits;
};

Golden read_golden(const std::string& path) {
  auto file = SafetensorsFile::open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  Golden g;
  if (!file.ok()) return g;
  const TensorInfo* ids = (*file)->find("input_ids");
  const TensorInfo* logits = (*file)->find("logits");
  EXPECT_TRUE(ids != nullptr && logits != nullptr);
  if (ids == nullptr || logits == nullptr) return g;
  const auto* id64 = reinterpret_cast<const int64_t*>(ids->data);
  for (int64_t i = 0; i < ids->numel(); ++i) g.ids.push_back(static_cast<int32_t>(id64[i]));
  const auto* lf = reinterpret_cast<const float*>(logits->data);
  g.logits.assign(lf, lf + logits->numel());
  return g;
}

class ModelTest : public CudaVsCpuTest {
 protected:
  void compare(const std::string& model) {
    const std::string dir = golden_dir() + "/" + model;
    auto on_gpu = load_transformer(dir + "/checkpoint", gpu());
    auto on_cpu = load_transformer(dir + "/checkpoint", cpu());
    ASSERT_TRUE(on_gpu.ok()) << on_gpu.status();
    ASSERT_TRUE(on_cpu.ok()) << on_cpu.status();
    const Golden g = read_golden(dir + "/forward.safetensors");
    ASSERT_FALSE(g.ids.empty());
    std::vector<float> gl, cl;
    std::vector<std::vector<float>> gh, ch;
    ASSERT_TRUE((*on_gpu)->forward_with_hidden_states(g.ids, &gl, &gh).ok());
    ASSERT_TRUE((*on_cpu)->forward_with_hidden_states(g.ids, &cl, &ch).ok());
    EXPECT_LE(max_abs_diff(gl, cl), 1e-4f) << "CUDA vs CPU logits";
    EXPECT_LE(max_abs_diff(gl, g.logits), 1e-4f) << "CUDA vs golden logits";
    ASSERT_EQ(gh.size(), ch.size());
    for (size_t l = 0; l < gh.size(); ++l)
      EXPECT_LE(max_abs_diff(gh[l], ch[l]), 1e-4f) << "hidden state " << l;
  }
};

TEST_F(ModelTest, LladaTinyMatchesCpu) { compare("llada-tiny"); }
TEST_F(ModelTest, DreamTinyGqaWithBiasMatchesCpu) { compare("dream-tiny"); }

// A block re-run against the KV cache (the denoising-step path) equals the full pass.
TEST_F(ModelTest, CachedBlockEqualsFullForward) {
  const std::string dir = golden_dir() + "/llada-tiny";
  auto model = load_transformer(dir + "/checkpoint", gpu());
  ASSERT_TRUE(model.ok()) << model.status();
  const Golden g = read_golden(dir + "/forward.safetensors");
  const int T = static_cast<int>(g.ids.size());
  ASSERT_GE(T, 24);
  const int vocab = (*model)->config().embedding_rows;
  std::vector<int32_t> pos(T);
  std::iota(pos.begin(), pos.end(), 0);
  auto cache = (*model)->new_kv_cache(T);
  ASSERT_TRUE(cache.ok()) << cache.status();
  SequenceForward full{.ids = g.ids, .positions = pos, .cache = cache->get(), .attend_len = T};
  std::vector<std::vector<float>> out;
  ASSERT_TRUE((*model)->forward({&full, 1}, &out).ok());
  EXPECT_LE(max_abs_diff(out[0], g.logits), 1e-4f);
  std::span<const int32_t> block_ids(g.ids.data() + 16, 8), block_pos(pos.data() + 16, 8);
  SequenceForward step{
      .ids = block_ids, .positions = block_pos, .cache = cache->get(), .attend_len = T};
  ASSERT_TRUE((*model)->forward({&step, 1}, &out).ok());
  const std::vector<float> ref(g.logits.begin() + 16 * vocab, g.logits.begin() + 24 * vocab);
  EXPECT_LE(max_abs_diff(out[0], ref), 1e-4f);
}

// Ragged batch (GQA + bias model): each sequence's logits equal its single forward.
TEST_F(ModelTest, RaggedBatchEqualsSingles) {
  const std::string dir = golden_dir() + "/dream-tiny";
  auto model = load_transformer(dir + "/checkpoint", gpu());
  ASSERT_TRUE(model.ok()) << model.status();
  const Golden g = read_golden(dir + "/forward.safetensors");
  ASSERT_GE(g.ids.size(), 13u);
  const int vocab = (*model)->config().embedding_rows;
  std::vector<int32_t> pos(g.ids.size());
  std::iota(pos.begin(), pos.end(), 0);
  std::span<const int32_t> short_ids(g.ids.data(), 13), short_pos(pos.data(), 13);
  const std::vector<int32_t> logit_rows = {0, 5, 12};
  SequenceForward a{.ids = g.ids, .positions = pos};
  SequenceForward b{.ids = short_ids, .positions = short_pos, .logit_rows = logit_rows};
  std::vector<SequenceForward> batch = {a, b};
  std::vector<std::vector<float>> out;
  ASSERT_TRUE((*model)->forward(batch, &out).ok());
  EXPECT_LE(max_abs_diff(out[0], g.logits), 1e-4f);
  SequenceForward b_all{.ids = short_ids, .positions = short_pos};
  std::vector<std::vector<float>> single;
  ASSERT_TRUE((*model)->forward({&b_all, 1}, &single).ok());
  ASSERT_EQ(out[1].size(), 3u * vocab);
  for (int i = 0; i < 3; ++i) {
    const std::vector<float> got(out[1].begin() + i * vocab, out[1].begin() + (i + 1) * vocab);
    const std::vector<float> want(single[0].begin() + logit_rows[i] * vocab,
                                  single[0].begin() + (logit_rows[i] + 1) * vocab);
    EXPECT_LE(max_abs_diff(got, want), 1e-5f) << "row " << logit_rows[i];
  }
}

}  // namespace
}  // namespace dllm::gpu_test
