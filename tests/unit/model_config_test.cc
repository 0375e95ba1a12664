// Tests for config.json parsing: the golden LLaDA and Dream configs, defaults, RoPE scaling,
// and rejection of malformed or unsupported configs.
#include "common/model/model_config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>
#include <string>

namespace dllm {
namespace {

using Json = nlohmann::json;

const std::string kGolden = DLLM_GOLDEN_DIR;

// A LLaDA-8B-Instruct-shaped config, trimmed to the fields the engine reads.
Json llada_8b() {
  return Json::parse(R"({
    "model_type": "llada", "d_model": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": null,
    "mlp_hidden_size": 12288, "vocab_size": 126464, "embedding_size": 126464,
    "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "include_bias": false,
    "include_qkv_bias": false, "weight_tying": false, "max_sequence_length": 4096,
    "eos_token_id": 126081, "pad_token_id": 126081, "block_type": "llama",
    "layer_norm_type": "rms", "activation_type": "silu", "rope": true, "alibi": false,
    "torch_dtype": "bfloat16"})");
}

Json dream_7b() {
  return Json::parse(R"({
    "model_type": "Dream", "hidden_size": 3584, "num_hidden_layers": 28,
    "num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944,
    "vocab_size": 152064, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "rope_scaling": null,
    "tie_word_embeddings": false, "max_position_embeddings": 131072, "bos_token_id": 151643,
    "eos_token_id": 151643, "pad_token_id": 151643, "hidden_act": "silu",
    "use_sliding_window": false, "torch_dtype": "bfloat16"})");
}

absl::StatusOr<ModelConfig> parse(const Json& j) {
  return parse_model_config(j.dump(), "test/config.json");
}

// Expects an error whose message contains every piece.
void expect_error(const Json& j, std::initializer_list<const char*> pieces) {
  absl::StatusOr<ModelConfig> c = parse(j);
  ASSERT_FALSE(c.ok()) << j.dump();
  const std::string msg(c.status().message());
  EXPECT_EQ(msg.rfind("test/config.json: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find("test/config.json", 1), std::string::npos) << "file named twice: " << msg;
  for (const char* p : pieces) EXPECT_NE(msg.find(p), std::string::npos) << msg << " / " << p;
}

TEST(ModelConfig, GoldenLlada) {
  absl::StatusOr<ModelConfig> c = load_model_config(kGolden + "/llada-tiny/checkpoint");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->family, ModelFamily::kLlada);
  EXPECT_EQ(c->model_type, "llada");
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->num_layers, 2);
  EXPECT_EQ(c->num_heads, 4);
  EXPECT_EQ(c->num_kv_heads, 4);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->intermediate_size, 128);
  EXPECT_EQ(c->vocab_size, 512);
  EXPECT_EQ(c->embedding_rows, 512);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->rope_scaling.type, "none");
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->max_position_embeddings, 4096);
  EXPECT_EQ(c->mask_token_id, 500);
  EXPECT_EQ(c->eos_token_id, 490);
  EXPECT_EQ(c->pad_token_id, 490);
  EXPECT_EQ(c->bos_token_id, -1);  // LLaDA-8B's 126080 does not fit 512 rows
  EXPECT_EQ(c->eot_token_id, -1);
  EXPECT_EQ(c->torch_dtype, kernels::DType::kF32);
}

TEST(ModelConfig, GoldenDream) {
  absl::StatusOr<ModelConfig> c = load_model_config(kGolden + "/dream-tiny/checkpoint");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->family, ModelFamily::kDream);
  EXPECT_EQ(c->model_type, "Dream");
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->num_layers, 2);
  EXPECT_EQ(c->num_heads, 4);
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->intermediate_size, 160);
  EXPECT_EQ(c->vocab_size, 512);
  EXPECT_EQ(c->embedding_rows, 512);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
  EXPECT_EQ(c->rope_scaling.type, "none");
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->max_position_embeddings, 4096);
  EXPECT_EQ(c->mask_token_id, 510);
  EXPECT_EQ(c->bos_token_id, 500);
  EXPECT_EQ(c->eos_token_id, 500);
  EXPECT_EQ(c->pad_token_id, 500);
}

TEST(ModelConfig, Llada8bDefaults) {
  absl::StatusOr<ModelConfig> c = parse(llada_8b());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_kv_heads, 32);  // null -> n_heads
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->mask_token_id, 126336);
  EXPECT_EQ(c->bos_token_id, 126080);
  EXPECT_EQ(c->eos_token_id, 126081);
  EXPECT_EQ(c->eot_token_id, 126348);
  EXPECT_EQ(c->torch_dtype, kernels::DType::kBF16);

  Json j = llada_8b();
  j.erase("embedding_size");
  j.erase("eos_token_id");
  j["include_qkv_bias"] = true;
  j["weight_tying"] = true;
  j["multi_query_attention"] = true;
  c = parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->embedding_rows, 126464);
  EXPECT_EQ(c->eos_token_id, 126081);
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->num_kv_heads, 1);
}

TEST(ModelConfig, DreamDefaults) {
  Json j = dream_7b();
  j["eos_token_id"] = Json::array({151643, 151645});
  absl::StatusOr<ModelConfig> c = parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->mask_token_id, 151666);
  EXPECT_EQ(c->eos_token_id, 151643);
  EXPECT_EQ(c->num_kv_heads, 4);
  EXPECT_TRUE(c->qkv_bias);
}

double plain_inv_freq(double theta, int i, int d) { return 1.0 / std::pow(theta, 2.0 * i / d); }

TEST(ModelConfig, RopeInvFreqDefaultAndChangedTheta) {
  ModelConfig c = *load_model_config(kGolden + "/llada-tiny/checkpoint");
  std::vector<double> inv = c.rope_inv_freq();
  ASSERT_EQ(inv.size(), 8u);
  EXPECT_DOUBLE_EQ(inv[0], 1.0);
  for (int i = 0; i < 8; ++i) EXPECT_DOUBLE_EQ(inv[i], plain_inv_freq(500000.0, i, 16));
  // UltraLLaDA ships LLaDA weights post-trained with a larger rope_theta in config.json.
  Json j = llada_8b();
  j["rope_theta"] = 5e7;
  j["max_sequence_length"] = 131072;
  ModelConfig ultra = *parse(j);
  EXPECT_EQ(ultra.max_position_embeddings, 131072);
  std::vector<double> u = ultra.rope_inv_freq();
  ASSERT_EQ(u.size(), 64u);
  EXPECT_DOUBLE_EQ(u[63], plain_inv_freq(5e7, 63, 128));
}

ModelConfig with_scaling(const char* scaling_json) {
  Json j = llada_8b();
  j["rope_scaling"] = Json::parse(scaling_json);
  absl::StatusOr<ModelConfig> c = parse(j);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : ModelConfig{};
}

TEST(ModelConfig, RopeScalingLinearNtkDynamic) {
  const double theta = 500000.0;
  const int d = 128;
  ModelConfig linear = with_scaling(R"({"type": "linear", "factor": 4.0})");
  ModelConfig ntk = with_scaling(R"({"rope_type": "ntk", "factor": 4.0})");
  ModelConfig dyn = with_scaling(R"({"type": "dynamic", "factor": 4.0})");
  ModelConfig none = with_scaling(R"({"rope_type": "default"})");
  EXPECT_EQ(none.rope_scaling.type, "none");
  const double ntk_theta = theta * std::pow(4.0, 128.0 / 126.0);
  const double dyn_theta = theta * std::pow(4.0 * 4.0 - 3.0, 128.0 / 126.0);
  std::vector<double> l = linear.rope_inv_freq(), n = ntk.rope_inv_freq(), y = dyn.rope_inv_freq(),
                      p = none.rope_inv_freq();
  for (int i = 0; i < d / 2; ++i) {
    EXPECT_DOUBLE_EQ(p[i], plain_inv_freq(theta, i, d));
    EXPECT_DOUBLE_EQ(l[i], plain_inv_freq(theta, i, d) / 4.0);
    EXPECT_NEAR(n[i], plain_inv_freq(ntk_theta, i, d), 1e-15 * n[0]);
    EXPECT_NEAR(y[i], plain_inv_freq(dyn_theta, i, d), 1e-15 * y[0]);
  }
  // NTK keeps the highest frequency and stretches the lowest by exactly the factor.
  EXPECT_DOUBLE_EQ(n[0], 1.0);
  EXPECT_NEAR(n[63] * 4.0, p[63], 1e-12 * p[63]);
}

TEST(ModelConfig, RopeScalingLlama3) {
  ModelConfig c = with_scaling(
      R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})");
  std::vector<double> inv = c.rope_inv_freq();
  int kept = 0, divided = 0, blended = 0;
  for (int i = 0; i < 64; ++i) {
    const double f = plain_inv_freq(500000.0, i, 128);
    const double wavelen = 2 * std::numbers::pi / f;
    if (wavelen < 8192.0 / 4.0) {
      EXPECT_DOUBLE_EQ(inv[i], f);
      ++kept;
    } else if (wavelen > 8192.0) {
      EXPECT_DOUBLE_EQ(inv[i], f / 8.0);
      ++divided;
    } else {
      const double smooth = (8192.0 / wavelen - 1.0) / 3.0;
      EXPECT_DOUBLE_EQ(inv[i], (1 - smooth) * f / 8.0 + smooth * f);
      EXPECT_LT(inv[i], f);
      EXPECT_GT(inv[i], f / 8.0);
      ++blended;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(blended, 0);
}

TEST(ModelConfig, RopeParametersOfTransformers5) {
  Json j = dream_7b();
  j.erase("rope_theta");
  j.erase("rope_scaling");
  j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 2.0}, {"rope_theta", 250000.0}};
  ModelConfig c = *parse(j);
  EXPECT_DOUBLE_EQ(c.rope_theta, 250000.0);
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 2.0);
}

TEST(ModelConfig, RejectsBadRopeScaling) {
  Json j = llada_8b();
  j["rope_scaling"] = {{"type", "banana"}, {"factor", 2.0}};
  expect_error(j, {"unknown rope_scaling type 'banana'"});
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 2.0}};
  expect_error(j, {"'yarn'", "not supported"});
  j["rope_scaling"] = {{"type", "llama3"}, {"factor", 8.0}};
  expect_error(j, {"original_max_position_embeddings"});
  j["rope_scaling"] = {{"type", "linear"}};
  expect_error(j, {"'linear'", "factor"});
  j["rope_scaling"] = {{"type", "linear"}, {"factor", -1.0}};
  expect_error(j, {"factor must be positive"});
  j["rope_scaling"] = {{"factor", 2.0}};
  expect_error(j, {"rope_type"});
  j["rope_scaling"] = "linear";
  expect_error(j, {"rope_scaling must be an object"});
}

TEST(ModelConfig, RejectsUnknownModelType) {
  Json j = llada_8b();
  j["model_type"] = "llama";
  expect_error(j, {"unknown model_type 'llama'"});
  j.erase("model_type");
  expect_error(j, {"model_type"});
}

TEST(ModelConfig, RejectsMissingAndMistypedFields) {
  for (const char* field : {"d_model", "n_layers", "n_heads", "vocab_size"}) {
    Json j = llada_8b();
    j.erase(field);
    expect_error(j, {"missing required field", field});
  }
  for (const char* field : {"hidden_size", "num_hidden_layers", "num_attention_heads",
                            "intermediate_size", "vocab_size"}) {
    Json j = dream_7b();
    j.erase(field);
    expect_error(j, {"missing required field", field});
  }
  Json j = llada_8b();
  j["n_layers"] = "thirty-two";
  expect_error(j, {"'n_layers' must be an integer"});
  j = llada_8b();
  j["n_layers"] = 3.5;
  expect_error(j, {"'n_layers' must be an integer"});
  j = llada_8b();
  j["d_model"] = 1e12;
  expect_error(j, {"'d_model'", "int32"});
  j = llada_8b();
  j["weight_tying"] = "no";
  expect_error(j, {"'weight_tying' must be true or false"});
  j = llada_8b();
  j["torch_dtype"] = "int8";
  expect_error(j, {"torch_dtype 'int8'"});
}

TEST(ModelConfig, RejectsInconsistentDims) {
  Json j = llada_8b();
  j["n_heads"] = 30;  // 4096 % 30 != 0
  expect_error(j, {"not divisible by 30 heads"});
  j = llada_8b();
  j["n_kv_heads"] = 5;
  expect_error(j, {"not divisible by 5 key/value heads"});
  j = llada_8b();
  j["d_model"] = 96;
  j["n_heads"] = 32;  // head_dim 3
  expect_error(j, {"head_dim 3 is odd"});
  j = llada_8b();
  j["n_layers"] = 0;
  expect_error(j, {"number of layers must be positive"});
  j = llada_8b();
  j["mlp_hidden_size"] = -5;
  expect_error(j, {"MLP hidden size must be positive"});
  j = llada_8b();
  j["embedding_size"] = 1000;
  expect_error(j, {"embedding_size 1000 is smaller than vocab_size"});
  j = dream_7b();
  j["head_dim"] = 64;
  expect_error(j, {"head_dim"});
}

TEST(ModelConfig, MlpRatioTimesWidthMustFitInt) {
  Json j = llada_8b();
  j.erase("mlp_hidden_size");
  j["mlp_ratio"] = 8;
  absl::StatusOr<ModelConfig> c = parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->intermediate_size, 8 * 4096);
  // 65536 × 65536 overflowed int before the product was taken in 64 bits (tests/fuzz).
  j["d_model"] = 65536;
  j["mlp_ratio"] = 65536;
  expect_error(j, {"mlp_ratio * d_model = 4294967296", "int32"});
  // An explicit mlp_hidden_size wins; the ratio is not multiplied out then.
  j["mlp_hidden_size"] = 1024;
  EXPECT_TRUE(parse(j).ok());
}

TEST(ModelConfig, RejectsSpecialIdsOutsideEmbedding) {
  Json j = llada_8b();
  j["vocab_size"] = 1000;
  j["embedding_size"] = 1000;
  j["eos_token_id"] = 10;
  j["pad_token_id"] = 10;
  expect_error(j, {"mask_token_id 126336 is outside the 1000 embedding rows"});
  j["mask_token_id"] = 999;
  absl::StatusOr<ModelConfig> c = parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bos_token_id, -1);
  j["eos_token_id"] = 1000;
  expect_error(j, {"eos_token_id 1000"});
  j["eos_token_id"] = -7;
  expect_error(j, {"eos_token_id -7"});
}

TEST(ModelConfig, RejectsUnsupportedVariants) {
  Json j = llada_8b();
  j["include_bias"] = true;
  expect_error(j, {"include_bias"});
  j = llada_8b();
  j["block_type"] = "sequential";
  expect_error(j, {"block_type 'sequential'"});
  j = llada_8b();
  j["alibi"] = true;
  expect_error(j, {"alibi"});
  j = dream_7b();
  j["use_sliding_window"] = true;
  expect_error(j, {"use_sliding_window"});
}

TEST(ModelConfig, RejectsInvalidJsonAndMissingFile) {
  absl::StatusOr<ModelConfig> c =
      parse_model_config("{\"model_type\": \"llada\",", "x/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("x/config.json: invalid JSON"), std::string::npos);
  c = parse_model_config("[1, 2]", "x/config.json");
  ASSERT_FALSE(c.ok());
  c = load_model_config("/nonexistent/model");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("/nonexistent/model/config.json"), std::string::npos);
}

}  // namespace
}  // namespace dllm
