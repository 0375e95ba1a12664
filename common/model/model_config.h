// ModelConfig: the architecture of a LLaDA- or Dream-family checkpoint, parsed from config.json.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/tensor_view.h"

namespace dllm {

enum class ModelFamily { kLlada, kDream };

// RoPE scaling as Hugging Face writes it in config.json ("rope_scaling": {...}).
struct RopeScaling {
  std::string type = "none";  // none | linear | dynamic | ntk | llama3 (yarn etc. are rejected)
  double factor = 1.0;
  double low_freq_factor = 1.0;    // llama3
  double high_freq_factor = 4.0;   // llama3
  int original_max_position = 0;   // llama3 / yarn / dynamic
};

struct ModelConfig {
  ModelFamily family = ModelFamily::kLlada;
  std::string model_type;   // as written: "llada", "Dream"
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;           // hidden_size / num_heads
  int intermediate_size = 0;  // SwiGLU hidden width
  int vocab_size = 0;         // tokenizer vocabulary
  int embedding_rows = 0;     // rows of the embedding / LM head (LLaDA: embedding_size, may pad)
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool qkv_bias = false;
  bool tie_word_embeddings = false;
  int max_position_embeddings = 4096;
  int mask_token_id = -1;
  int eos_token_id = -1;
  int pad_token_id = -1;
  int bos_token_id = -1;
  int eot_token_id = -1;  // LLaDA-Instruct <|eot_id|>; -1 when unknown
  kernels::DType torch_dtype = kernels::DType::kF32;

  // inv_freq[i] for i < head_dim/2 after applying rope_scaling (float64 for exactness).
  std::vector<double> rope_inv_freq() const;
};

// Parses the text of a config.json. `source` names the file in error messages.
absl::StatusOr<ModelConfig> parse_model_config(const std::string& json_text,
                                               const std::string& source);
// Reads DIR/config.json.
absl::StatusOr<ModelConfig> load_model_config(const std::string& model_dir);

}  // namespace dllm
