// Random-weight models of any shape, for throughput benchmarks.
#include "bench/synthetic_model.h"

#include <random>

#include "kernels/cpu/cpu_kernels.h"

namespace dllm::bench {

ModelConfig llada_shape(int layers, int hidden, int heads, int kv_heads, int intermediate,
                        int vocab) {
  ModelConfig c;
  c.family = ModelFamily::kLlada;
  c.model_type = "llada";
  c.num_layers = layers;
  c.hidden_size = hidden;
  c.num_heads = heads;
  c.num_kv_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.intermediate_size = intermediate;
  c.vocab_size = c.embedding_rows = vocab;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.mask_token_id = vocab - 1;
  c.eos_token_id = vocab - 2;
  return c;
}

void make_synthetic_model(const ModelConfig& c, bool bf16, uint64_t seed, SyntheticModel* out) {
  out->config = c;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  auto make = [&](int64_t rows, int64_t cols, bool is_norm) {
    const size_t n = static_cast<size_t>(rows * cols);
    out->num_parameters += n;
    kernels::WeightView w;
    w.rows = rows;
    w.cols = cols;
    if (bf16) {
      auto& buf = out->storage.emplace_back(n);
      for (auto& x : buf) x = kernels::cpu::f32_to_bf16(is_norm ? 1.0f : normal(rng));
      w.data = buf.data();
      w.dtype = kernels::DType::kBF16;
    } else {
      auto& buf = out->storage_f32.emplace_back(n);
      for (auto& x : buf) x = is_norm ? 1.0f : normal(rng);
      w.data = buf.data();
      w.dtype = kernels::DType::kF32;
    }
    return w;
  };
  const int d = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  out->views.embedding = make(c.embedding_rows, d, false);
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights lw;
    lw.attn_norm = make(1, d, true);
    lw.q_proj = make(q, d, false);
    lw.k_proj = make(kv, d, false);
    lw.v_proj = make(kv, d, false);
    lw.o_proj = make(d, q, false);
    lw.ffn_norm = make(1, d, true);
    lw.gate_proj = make(c.intermediate_size, d, false);
    lw.up_proj = make(c.intermediate_size, d, false);
    lw.down_proj = make(d, c.intermediate_size, false);
    out->views.layers.push_back(lw);
  }
  out->views.final_norm = make(1, d, true);
  out->views.lm_head = make(c.embedding_rows, d, false);
}

}  // namespace dllm::bench
