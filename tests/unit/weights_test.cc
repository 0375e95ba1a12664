// Tests for checkpoint loading: golden LLaDA (single and sharded) and Dream checkpoints, tied
// embeddings, and checkpoints that do not match their config or whose index is broken.
#include "common/model/weights.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace dllm {
namespace {

namespace fs = std::filesystem;
const std::string kGolden = DLLM_GOLDEN_DIR;
const std::string kLlada = kGolden + "/llada-tiny/checkpoint";
const std::string kLladaSharded = kGolden + "/llada-tiny/checkpoint-sharded";
const std::string kDream = kGolden + "/dream-tiny/checkpoint";

class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "dllm_weights_XXXXXX").string();
    path_ = mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

ModelConfig config_of(const std::string& dir) {
  absl::StatusOr<ModelConfig> c = load_model_config(dir);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : ModelConfig{};
}

size_t view_bytes(const kernels::WeightView& v) {
  return static_cast<size_t>(v.rows * v.cols) * kernels::dtype_size(v.dtype);
}

std::vector<const kernels::WeightView*> all_views(const ModelWeights& w) {
  std::vector<const kernels::WeightView*> out = {&w.embedding, &w.final_norm, &w.lm_head};
  for (const LayerWeights& l : w.layers) {
    for (const kernels::WeightView* v :
         {&l.attn_norm, &l.q_proj, &l.k_proj, &l.v_proj, &l.q_bias, &l.k_bias, &l.v_bias, &l.o_proj,
          &l.ffn_norm, &l.gate_proj, &l.up_proj, &l.down_proj}) {
      out.push_back(v);
    }
  }
  return out;
}

// Writes a copy of the golden LLaDA checkpoint into `dir`, after `edit` changes its tensor
// list; the config is copied unless `config` is given.
using Edit = std::function<void(std::vector<TensorToWrite>&)>;
void write_llada_variant(const TempDir& dir, const Edit& edit,
                         const nlohmann::json* config = nullptr) {
  auto golden = SafetensorsFile::open(kLlada + "/model.safetensors");
  ASSERT_TRUE(golden.ok()) << golden.status();
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, t] : (*golden)->tensors())
    tensors.push_back({name, t.dtype, t.shape, t.data});
  edit(tensors);
  ASSERT_TRUE(write_safetensors(dir.file("model.safetensors"), tensors).ok());
  if (config != nullptr) {
    std::ofstream(dir.file("config.json")) << config->dump(2);
  } else {
    fs::copy_file(kLlada + "/config.json", dir.file("config.json"));
  }
}

TensorToWrite* find(std::vector<TensorToWrite>& tensors, const std::string& name) {
  for (TensorToWrite& t : tensors) {
    if (t.name == name) return &t;
  }
  ADD_FAILURE() << "no tensor " << name;
  return &tensors.front();
}

// Loads `dir` with its own config; expects an error whose message has every piece.
void expect_load_error(const std::string& dir, std::initializer_list<std::string> pieces) {
  absl::StatusOr<std::unique_ptr<CheckpointWeights>> w =
      CheckpointWeights::load(dir, config_of(dir));
  ASSERT_FALSE(w.ok());
  const std::string msg(w.status().message());
  for (const std::string& p : pieces)
    EXPECT_NE(msg.find(p), std::string::npos) << msg << " / " << p;
}

TEST(Weights, ExpectedTensorsLlada) {
  const ModelConfig c = config_of(kLlada);
  std::vector<ExpectedTensor> e = expected_tensors(c);
  ASSERT_EQ(e.size(), 3u + 9u * 2);
  EXPECT_EQ(e.front().name, "model.transformer.wte.weight");
  EXPECT_EQ(e.front().shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(e.back().name, "model.transformer.ff_out.weight");
  EXPECT_EQ(e[1].name, "model.transformer.blocks.0.attn_norm.weight");
  ModelConfig tied = c;
  tied.tie_word_embeddings = true;
  tied.qkv_bias = true;
  e = expected_tensors(tied);
  EXPECT_EQ(e.size(), 2u + 12u * 2);
  EXPECT_EQ(e.back().name, "model.transformer.ln_f.weight");
  EXPECT_EQ(e[5].name, "model.transformer.blocks.0.q_proj.bias");
}

TEST(Weights, LoadsGoldenLlada) {
  const ModelConfig c = config_of(kLlada);
  auto w = CheckpointWeights::load(kLlada, c);
  ASSERT_TRUE(w.ok()) << w.status();
  const ModelWeights& v = (*w)->views();
  EXPECT_EQ((*w)->files().size(), 1u);
  EXPECT_EQ((*w)->total_bytes(), 591104u);  // the index's metadata.total_size
  EXPECT_EQ((*w)->num_parameters(), 591104u / 4);
  ASSERT_EQ(v.layers.size(), 2u);
  EXPECT_EQ(v.embedding.rows, 512);
  EXPECT_EQ(v.embedding.cols, 64);
  EXPECT_EQ(v.embedding.dtype, kernels::DType::kF32);
  EXPECT_NE(v.lm_head.data, v.embedding.data);
  EXPECT_EQ(v.final_norm.rows, 1);
  EXPECT_EQ(v.final_norm.cols, 64);
  const LayerWeights& l = v.layers[1];
  EXPECT_EQ(l.q_proj.rows, 64);
  EXPECT_EQ(l.gate_proj.rows, 128);
  EXPECT_EQ(l.gate_proj.cols, 64);
  EXPECT_EQ(l.down_proj.rows, 64);
  EXPECT_EQ(l.down_proj.cols, 128);
  EXPECT_TRUE(l.q_bias.empty());
  // Views are zero-copy: they point into the mapping of the file's tensors.
  const TensorInfo* gate = (*w)->files()[0]->find("model.transformer.blocks.1.ff_proj.weight");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ(l.gate_proj.data, gate->data);
  EXPECT_EQ(l.up_proj.data,
            (*w)->files()[0]->find("model.transformer.blocks.1.up_proj.weight")->data);
  EXPECT_EQ(l.down_proj.data,
            (*w)->files()[0]->find("model.transformer.blocks.1.ff_out.weight")->data);
}

TEST(Weights, ShardedEqualsSingle) {
  const ModelConfig c = config_of(kLlada);
  auto single = CheckpointWeights::load(kLlada, c);
  auto sharded = CheckpointWeights::load(kLladaSharded, config_of(kLladaSharded));
  ASSERT_TRUE(single.ok()) << single.status();
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  EXPECT_EQ((*sharded)->files().size(), 2u);
  EXPECT_EQ((*sharded)->total_bytes(), (*single)->total_bytes());
  std::vector<const kernels::WeightView*> a = all_views((*single)->views());
  std::vector<const kernels::WeightView*> b = all_views((*sharded)->views());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]->rows, b[i]->rows) << i;
    EXPECT_EQ(a[i]->cols, b[i]->cols) << i;
    EXPECT_EQ(a[i]->empty(), b[i]->empty()) << i;
    if (!a[i]->empty()) {
      EXPECT_EQ(std::memcmp(a[i]->data, b[i]->data, view_bytes(*a[i])), 0) << i;
    }
  }
  // Tensor by tensor through the files as well.
  for (const ExpectedTensor& e : expected_tensors(c)) {
    const TensorInfo* x = (*single)->files()[0]->find(e.name);
    const TensorInfo* y = nullptr;
    for (const auto& f : (*sharded)->files()) y = y ? y : f->find(e.name);
    ASSERT_NE(x, nullptr);
    ASSERT_NE(y, nullptr) << e.name;
    ASSERT_EQ(x->nbytes, y->nbytes);
    EXPECT_EQ(std::memcmp(x->data, y->data, x->nbytes), 0) << e.name;
  }
}

TEST(Weights, LoadsGoldenDream) {
  auto w = CheckpointWeights::load(kDream, config_of(kDream));
  ASSERT_TRUE(w.ok()) << w.status();
  const ModelWeights& v = (*w)->views();
  ASSERT_EQ(v.layers.size(), 2u);
  const LayerWeights& l = v.layers[0];
  EXPECT_EQ(l.q_proj.rows, 64);
  EXPECT_EQ(l.k_proj.rows, 32);  // 2 kv heads × 16
  EXPECT_EQ(l.q_bias.cols, 64);
  EXPECT_EQ(l.k_bias.rows, 1);
  EXPECT_EQ(l.v_bias.cols, 32);
  EXPECT_EQ(l.gate_proj.rows, 160);
  EXPECT_NE(v.lm_head.data, v.embedding.data);
  EXPECT_EQ(v.lm_head.rows, 512);
}

TEST(Weights, TiedEmbeddingsShareTheView) {
  TempDir dir;
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(kLlada + "/config.json"));
  cfg["weight_tying"] = true;
  write_llada_variant(
      dir,
      [](std::vector<TensorToWrite>& t) {
        std::erase_if(
            t, [](const TensorToWrite& x) { return x.name == "model.transformer.ff_out.weight"; });
      },
      &cfg);
  auto w = CheckpointWeights::load(dir.path(), config_of(dir.path()));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->views().lm_head.data, (*w)->views().embedding.data);
  // The untied golden file against a tied config: ff_out is unexpected.
  fs::copy_file(kLlada + "/model.safetensors", dir.file("model.safetensors"),
                fs::copy_options::overwrite_existing);
  expect_load_error(dir.path(), {dir.file("model.safetensors"), "unexpected tensor",
                                 "'model.transformer.ff_out.weight'"});
}

TEST(Weights, RejectsMissingTensor) {
  TempDir dir;
  write_llada_variant(dir, [](std::vector<TensorToWrite>& t) {
    std::erase_if(t, [](const TensorToWrite& x) {
      return x.name.find("blocks.1.v_proj") != std::string::npos;
    });
  });
  expect_load_error(dir.path(), {dir.file("model.safetensors"), "missing tensor",
                                 "'model.transformer.blocks.1.v_proj.weight'"});
}

TEST(Weights, RejectsExtraTensor) {
  TempDir dir;
  static const float extra[4] = {1, 2, 3, 4};
  write_llada_variant(dir, [](std::vector<TensorToWrite>& t) {
    t.push_back({"model.transformer.blocks.0.q_proj.bias", TensorDType::kF32, {4}, extra});
  });
  expect_load_error(dir.path(), {dir.file("model.safetensors"), "unexpected tensor",
                                 "'model.transformer.blocks.0.q_proj.bias'"});
}

TEST(Weights, RejectsWrongShape) {
  TempDir dir;
  write_llada_variant(dir, [](std::vector<TensorToWrite>& t) {
    find(t, "model.transformer.blocks.0.attn_out.weight")->shape = {32, 128};  // same bytes
  });
  expect_load_error(dir.path(), {dir.file("model.safetensors"),
                                 "tensor 'model.transformer.blocks.0.attn_out.weight'",
                                 "shape [32, 128], expected [64, 64]"});
}

TEST(Weights, RejectsConfigThatDoesNotMatch) {
  ModelConfig c = config_of(kLlada);
  c.intermediate_size = 256;
  auto w = CheckpointWeights::load(kLlada, c);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("blocks.0.ff_proj.weight"), std::string::npos) << w.status();
  EXPECT_NE(w.status().message().find("shape [128, 64], expected [256, 64]"), std::string::npos)
      << w.status();
}

TEST(Weights, RejectsNonFloatDtype) {
  TempDir dir;
  write_llada_variant(dir, [](std::vector<TensorToWrite>& t) {
    find(t, "model.transformer.ln_f.weight")->dtype = TensorDType::kI32;  // same byte size
  });
  expect_load_error(dir.path(), {dir.file("model.safetensors"),
                                 "tensor 'model.transformer.ln_f.weight'", "dtype I32"});
}

TEST(Weights, AcceptsBf16) {
  TempDir dir;
  write_llada_variant(dir, [](std::vector<TensorToWrite>& t) {
    TensorToWrite* norm = find(t, "model.transformer.blocks.0.ff_norm.weight");
    norm->dtype = TensorDType::kBF16;
    norm->shape = {64};  // reads the first half of the f32 bytes; only the dtype matters here
  });
  auto w = CheckpointWeights::load(dir.path(), config_of(dir.path()));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->views().layers[0].ffn_norm.dtype, kernels::DType::kBF16);
}

// Copies the sharded golden checkpoint; `edit` may change the index JSON or delete files.
void copy_sharded(const TempDir& dir) {
  for (const auto& entry : fs::directory_iterator(kLladaSharded)) {
    fs::copy_file(entry.path(), dir.file(entry.path().filename().string()));
  }
}

void rewrite_index(const TempDir& dir, const std::function<void(nlohmann::json&)>& edit) {
  const std::string path = dir.file("model.safetensors.index.json");
  nlohmann::json index = nlohmann::json::parse(std::ifstream(path));
  edit(index);
  std::ofstream(path, std::ios::trunc) << index.dump(2);
}

TEST(Weights, RejectsIndexNamingMissingShard) {
  TempDir dir;
  copy_sharded(dir);
  fs::remove(dir.file("model-00002-of-00002.safetensors"));
  expect_load_error(dir.path(),
                    {dir.file("model.safetensors.index.json"),
                     "shard 'model-00002-of-00002.safetensors'", "holds tensor '", "cannot open"});
}

TEST(Weights, RejectsTensorMissingFromItsShard) {
  TempDir dir;
  copy_sharded(dir);
  rewrite_index(dir, [](nlohmann::json& index) {
    index["weight_map"]["model.transformer.ff_out.weight"] = "model-00001-of-00002.safetensors";
  });
  expect_load_error(dir.path(), {dir.file("model-00001-of-00002.safetensors"),
                                 "tensor 'model.transformer.ff_out.weight'",
                                 "model.safetensors.index.json", "missing from this shard"});
}

TEST(Weights, RejectsShardTensorNotInIndex) {
  TempDir dir;
  copy_sharded(dir);
  rewrite_index(dir, [](nlohmann::json& index) {
    index["weight_map"].erase("model.transformer.ln_f.weight");
  });
  expect_load_error(dir.path(), {dir.file("model-00001-of-00002.safetensors"),
                                 "tensor 'model.transformer.ln_f.weight'", "not listed"});
}

TEST(Weights, RejectsBadIndex) {
  TempDir dir;
  copy_sharded(dir);
  rewrite_index(dir, [](nlohmann::json& index) {
    index["weight_map"]["model.transformer.ln_f.weight"] = "../../etc/passwd";
  });
  expect_load_error(dir.path(), {"model.safetensors.index.json", "not a file name"});
  std::ofstream(dir.file("model.safetensors.index.json"), std::ios::trunc) << "{\"weight_map\": ";
  expect_load_error(dir.path(), {"model.safetensors.index.json", "invalid JSON"});
  std::ofstream(dir.file("model.safetensors.index.json"), std::ios::trunc) << "{\"metadata\": {}}";
  expect_load_error(dir.path(), {"model.safetensors.index.json", "weight_map"});
}

TEST(Weights, RejectsTruncatedShardAndEmptyDir) {
  TempDir dir;
  copy_sharded(dir);
  const std::string shard = dir.file("model-00002-of-00002.safetensors");
  fs::resize_file(shard, fs::file_size(shard) - 64);
  expect_load_error(dir.path(),
                    {"model-00002-of-00002.safetensors", "tensor '", "past the data area"});
  TempDir empty;
  auto w = CheckpointWeights::load(empty.path(), config_of(kLlada));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(w.status().message().find(empty.path()), std::string::npos);
}

TEST(Weights, ParsesIndexText) {
  absl::StatusOr<std::map<std::string, std::string>> map = parse_safetensors_index(
      R"({"metadata": {"total_size": 4}, "weight_map": {"a": "s1.safetensors", "b": "s2"}})",
      "idx.json");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(*map, (std::map<std::string, std::string>{{"a", "s1.safetensors"}, {"b", "s2"}}));
  for (const char* bad : {R"({"weight_map": {"a": "../x"}})", R"({"weight_map": {"a": 1}})",
                          R"({"weight_map": []})", R"([1])", "{"}) {
    absl::StatusOr<std::map<std::string, std::string>> m = parse_safetensors_index(bad, "idx.json");
    ASSERT_FALSE(m.ok()) << bad;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(m.status().message().rfind("idx.json: ", 0), 0u) << m.status();
  }
}

}  // namespace
}  // namespace dllm
