// Conformance: LLaDA generate() and Dream diffusion_generate() on the tiny golden models, step by
// step.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/generate/generate.h"
#include "common/model/load_model.h"
#include "common/model/safetensors.h"
#include "kernels/backend.h"
#include "nlohmann/json.hpp"

namespace dllm {
namespace {

const std::string kGolden = DLLM_GOLDEN_DIR;

struct GoldenRun {
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;
  std::vector<std::vector<int32_t>> steps;  // sequence after each step
  std::vector<int> num_transfer;
};

std::vector<int32_t> read_ids(const SafetensorsFile& file, const std::string& name) {
  const TensorInfo* t = file.find(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  EXPECT_EQ(t->dtype, TensorDType::kI64) << name;
  const auto* data = reinterpret_cast<const int64_t*>(t->data);
  return std::vector<int32_t>(data, data + t->numel());
}

GoldenRun read_run(const std::string& path) {
  GoldenRun run;
  auto file = SafetensorsFile::open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return run;
  run.prompt = read_ids(**file, "prompt_ids");
  run.output = read_ids(**file, "output_ids");
  const std::vector<int32_t> flat = read_ids(**file, "step_sequences");
  const std::vector<int32_t> counts = read_ids(**file, "step_num_transfer");
  run.num_transfer.assign(counts.begin(), counts.end());
  const size_t length = run.output.size();
  for (size_t i = 0; length > 0 && i + length <= flat.size(); i += length) {
    run.steps.emplace_back(flat.begin() + i, flat.begin() + i + length);
  }
  return run;
}

nlohmann::json read_meta(const std::string& folder) {
  std::ifstream in(kGolden + "/" + folder + "/meta.json");
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

// The options of golden case `file` as meta.json records its arguments.
GenerationOptions options_from_meta(const std::string& folder, const std::string& file) {
  GenerationOptions o;
  o.record_trace = true;
  const nlohmann::json meta = read_meta(folder);
  for (const nlohmann::json& g : meta["generate"]) {
    if (g["case"]["file"] != file) continue;
    if (folder == "llada-tiny") {
      const nlohmann::json& a = g["args"];
      o.sampler = *parse_sampler(a["remasking"].get<std::string>());
      o.steps = a["steps"];
      o.gen_length = a["gen_length"];
      o.block_length = a["block_length"];
      o.temperature = a["temperature"];
      o.cfg_scale = a["cfg_scale"];
    } else {
      const nlohmann::json& a = g["args"]["generation_config_args"];
      o.sampler = *parse_sampler(a["alg"].get<std::string>());
      o.steps = a["steps"];
      o.gen_length = a["max_new_tokens"];
      o.block_length = 0;  // the reference is one block
      o.temperature = a["temperature"];
      o.eps = a["eps"];
      o.alg_temp = a["alg_temp"];
    }
    return o;
  }
  ADD_FAILURE() << "no case " << file << " in " << folder << "/meta.json";
  return o;
}

void check_generation(const std::string& folder, const std::string& file, KvCacheMode cache) {
  auto backend = kernels::make_cpu_backend(2);
  auto model = load_language_model(kGolden + "/" + folder + "/checkpoint", backend.get());
  ASSERT_TRUE(model.ok()) << model.status();
  const GoldenRun golden = read_run(kGolden + "/" + folder + "/" + file);
  ASSERT_FALSE(golden.steps.empty());
  GenerationOptions options = options_from_meta(folder, file);
  options.cache = cache;
  auto result = generate(**model, golden.prompt, options);
  ASSERT_TRUE(result.ok()) << result.status();
  if (cache != KvCacheMode::kNone) {
    // The cached schedule is an approximation after a block's first step; that first step
    // runs the full forward, so it must still equal the reference.
    ASSERT_FALSE(result->trace.empty());
    EXPECT_EQ(result->trace[0].sequence, golden.steps[0]);
    EXPECT_EQ(result->trace[0].num_transferred, golden.num_transfer[0]);
    return;
  }
  ASSERT_EQ(result->trace.size(), golden.steps.size());
  for (size_t i = 0; i < golden.steps.size(); ++i) {
    EXPECT_EQ(result->trace[i].num_transferred, golden.num_transfer[i]) << "step " << i;
    ASSERT_EQ(result->trace[i].sequence, golden.steps[i]) << "step " << i;
  }
  EXPECT_EQ(result->sequence, golden.output);
}

TEST(GenerateGolden, LladaSemiAutoregressiveBlocks) {
  check_generation("llada-tiny", "generate.safetensors", KvCacheMode::kNone);
}

TEST(GenerateGolden, LladaOneBlock) {
  check_generation("llada-tiny", "generate_one_block.safetensors", KvCacheMode::kNone);
}

TEST(GenerateGolden, DreamEntropy) {
  check_generation("dream-tiny", "generate_entropy.safetensors", KvCacheMode::kNone);
}

TEST(GenerateGolden, DreamMaskgitPlus) {
  check_generation("dream-tiny", "generate_maskgit_plus.safetensors", KvCacheMode::kNone);
}

TEST(GenerateGolden, CachedFirstStepsMatch) {
  for (KvCacheMode mode : {KvCacheMode::kPrefix, KvCacheMode::kDual}) {
    check_generation("llada-tiny", "generate.safetensors", mode);
    check_generation("dream-tiny", "generate_maskgit_plus.safetensors", mode);
  }
}

}  // namespace
}  // namespace dllm
