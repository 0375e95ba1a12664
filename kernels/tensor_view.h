// Small view types shared by common/ and the kernels: plain pointers, shapes and dtypes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dllm::kernels {

enum class DType : uint8_t { kF32, kBF16, kF16 };

inline constexpr size_t dtype_size(DType t) { return t == DType::kF32 ? 4 : 2; }

// A row-major 2-D (or 1-D with rows = 1) weight tensor; data lives in backend memory.
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  bool empty() const { return data == nullptr; }
};

// Bidirectional attention of `num_q` query rows over keys [0, num_keys) of one sequence.
// q: [num_q, num_heads, head_dim]; k, v: [num_keys, num_kv_heads, head_dim] (K after RoPE);
// out: [num_q, num_heads, head_dim]. key_mask (optional, num_keys bytes): 0 = key ignored.
// causal (optional): query row i at position q_positions[i] sees keys at positions <= it.
struct AttentionParams {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;
  int num_q = 0;
  int num_keys = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;
  const uint8_t* key_mask = nullptr;
  const int32_t* q_positions = nullptr;  // needed only when causal
  bool causal = false;
};

}  // namespace dllm::kernels
