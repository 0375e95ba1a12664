// Small view types shared by common/ and the kernels: plain pointers, shapes and dtypes.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define DLLM_HOST_DEVICE __host__ __device__
#else
#define DLLM_HOST_DEVICE
#endif

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

// What a greedy (temperature 0) sampler ranks masked positions by.
enum class ConfidenceKind : uint8_t {
  kMaxProb,     // softmax probability of the argmax token (LLaDA low_confidence, maskgit_plus)
  kMargin,      // top-1 minus top-2 probability (topk_margin)
  kNegEntropy,  // Σ p·log(p + 1e-10) (entropy)
};

// One layer's K and V of one sequence, addressed by slot. Contiguous [slots, kv_heads, head_dim]
// when page_table is null; otherwise paged: slot s lives in page page_table[s / page_size] at
// row s % page_size, and page p starts p * page_size * kv_heads * head_dim elements into k / v.
struct KvView {
  void* k = nullptr;
  void* v = nullptr;
  DType dtype = DType::kF32;
  const int32_t* page_table = nullptr;  // backend memory
  int page_size = 0;

  // Element offset of (slot, kv head 0) for a row of `row_elems` = kv_heads * head_dim.
  DLLM_HOST_DEVICE int64_t row_offset(int64_t slot, int64_t row_elems) const {
    if (page_table == nullptr) return slot * row_elems;
    return (static_cast<int64_t>(page_table[slot / page_size]) * page_size + slot % page_size) *
           row_elems;
  }
};

// Bidirectional attention of `num_q` query rows over key slots [0, num_keys) of one sequence.
// q: [num_q, num_heads, head_dim] float32; kv: K (after RoPE) and V by slot, [.., num_kv_heads,
// head_dim] in kv.dtype; out: [num_q, num_heads, head_dim] float32.
// key_mask (optional, num_keys bytes): 0 = key ignored.
// causal (optional): query row i at slot q_positions[i] sees key slots <= it.
struct AttentionParams {
  const float* q = nullptr;
  KvView kv;
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
