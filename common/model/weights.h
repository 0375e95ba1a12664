// Weights: every tensor of a checkpoint directory (single file or sharded index), validated
// against the ModelConfig and exposed per layer as typed views into the mmap.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/model_config.h"
#include "common/model/safetensors.h"
#include "kernels/tensor_view.h"

namespace dllm {

struct LayerWeights {
  kernels::WeightView attn_norm;          // [hidden]
  kernels::WeightView q_proj, k_proj, v_proj;  // [heads*hd, hidden], [kv*hd, hidden] ×2
  kernels::WeightView q_bias, k_bias, v_bias;  // when config.qkv_bias (Dream); else empty
  kernels::WeightView o_proj;             // [hidden, heads*hd]
  kernels::WeightView ffn_norm;           // [hidden]
  kernels::WeightView gate_proj, up_proj; // [inter, hidden]
  kernels::WeightView down_proj;          // [hidden, inter]
};

struct ModelWeights {
  kernels::WeightView embedding;  // [embedding_rows, hidden]
  std::vector<LayerWeights> layers;
  kernels::WeightView final_norm; // [hidden]
  kernels::WeightView lm_head;    // [embedding_rows, hidden] (== embedding when tied)
};

class CheckpointWeights {
 public:
  // Loads DIR/model.safetensors or DIR/model.safetensors.index.json + shards, and checks that
  // exactly the expected tensors exist with the expected shapes and a float dtype
  // (f32/bf16/f16). Missing, extra, mis-shaped or mis-typed tensors are errors naming the
  // file and the tensor.
  static absl::StatusOr<std::unique_ptr<CheckpointWeights>> load(const std::string& model_dir,
                                                                 const ModelConfig& config);
  const ModelWeights& views() const { return views_; }
  size_t total_bytes() const { return total_bytes_; }
  size_t num_parameters() const { return num_parameters_; }
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  ModelWeights views_;
  size_t total_bytes_ = 0;
  size_t num_parameters_ = 0;
};

// The tensor names a checkpoint of this config must contain, with their shapes.
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config);

// The "weight_map" of a model.safetensors.index.json's text: tensor name -> shard file name
// (a plain file name beside the index). `source` names the index in messages.
absl::StatusOr<std::map<std::string, std::string>> parse_safetensors_index(
    const std::string& json_text, const std::string& source);

}  // namespace dllm
