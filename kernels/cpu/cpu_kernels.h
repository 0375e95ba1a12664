// The CPU reference kernels: fp32 compute over f32/bf16/f16 weights, multithreaded.
#pragma once

#include <cstdint>

#include "kernels/cpu/thread_pool.h"
#include "kernels/tensor_view.h"

namespace dllm::kernels::cpu {

// Converts `n` elements of a weight row to float32.
void load_row_f32(const void* src, DType dtype, int64_t offset, int64_t n, float* dst);
float bf16_to_f32(uint16_t v);
float f16_to_f32(uint16_t v);
uint16_t f32_to_bf16(float v);  // round to nearest even

void linear(ThreadPool& pool, const float* x, int n, const WeightView& w, const WeightView* bias,
            float* out);
void attention(ThreadPool& pool, const AttentionParams& p);
void rms_norm(ThreadPool& pool, const float* x, int n, int dim, const WeightView& weight,
              float eps, float* out);
// The greedy choice of one row of logits (see Backend::greedy_confidence), in float64.
void greedy_confidence_row(const float* logits, int vocab, ConfidenceKind kind, int32_t* id,
                           double* conf);

void rope(ThreadPool& pool, float* x, int n, int heads, int head_dim, const int32_t* positions,
          const float* inv_freq);

}  // namespace dllm::kernels::cpu
