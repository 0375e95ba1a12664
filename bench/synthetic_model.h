// SyntheticModel: random bf16/f32 weights for a given shape, held in memory (no checkpoint file).
#pragma once

#include <cstdint>
#include <vector>

#include "common/model/model_config.h"
#include "common/model/weights.h"

namespace dllm::bench {

struct SyntheticModel {
  ModelConfig config;
  ModelWeights views;
  std::vector<std::vector<uint16_t>> storage;  // bf16 bits (or f32 when fp32 is asked)
  std::vector<std::vector<float>> storage_f32;
  size_t num_parameters = 0;
};

// A LLaDA-family config with the given dimensions.
ModelConfig llada_shape(int layers, int hidden, int heads, int kv_heads, int intermediate, int vocab);
// Fills every weight with N(0, 0.02) (norms with 1) in bf16 or f32.
void make_synthetic_model(const ModelConfig& config, bool bf16, uint64_t seed, SyntheticModel* out);

}  // namespace dllm::bench
