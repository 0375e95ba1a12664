// Launchers of the CUDA kernels (host functions; every pointer is device memory, every launch is
// queued on `stream` and checked, none waits for the GPU).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/split_kv_plan.h"
#include "kernels/focus_params.h"
#include "kernels/prefilling_params.h"
#include "kernels/tensor_view.h"

namespace dllm::kernels::cuda {

// out[i, :] = float(table[ids[i], :])
void launch_embedding(const int32_t* ids, int n, const WeightView& table, float* out,
                      cudaStream_t stream);
// One block per row; x may equal out.
void launch_rms_norm(const float* x, int n, int dim, const WeightView& weight, float eps,
                     float* out, cudaStream_t stream);
void launch_rope(float* x, int n, int heads, int head_dim, const int32_t* positions,
                 const float* inv_freq, cudaStream_t stream);
void launch_silu_mul(const float* gate, const float* up, float* out, int64_t n,
                     cudaStream_t stream);
void launch_add_inplace(float* x, const float* y, int64_t n, cudaStream_t stream);
// dst[dst_rows ? dst_rows[i] : i, :] = src[src_rows ? src_rows[i] : i, :] for i < n.
void launch_copy_rows(const float* src, const int32_t* src_rows, float* dst,
                      const int32_t* dst_rows, int n, int dim, cudaStream_t stream);

// Activations to the weight type of a GEMM (round to nearest even): out has n elements of `to`.
void launch_f32_to_half(const float* x, int64_t n, DType to, void* out, cudaStream_t stream);
// A weight vector of any dtype to float32 (biases).
void launch_weight_to_f32(const WeightView& w, float* out, cudaStream_t stream);
// out[r, c] += bias[c] for an [n, m] row-major out.
void launch_add_bias(float* out, int64_t n, int64_t m, const float* bias, cudaStream_t stream);
// out = x · wᵀ (+ bias) with fp32 CUDA cores: the path when cuBLASLt offers no algorithm.
void launch_linear_fallback(const float* x, int64_t n, const WeightView& w, const float* bias,
                            float* out, cudaStream_t stream);

// Per-device facts the attention planner needs; filled once by prepare_attention().
struct AttentionLimits {
  int sm_count = 0;
  int ctas_per_sm[4] = {};  // fp32 CUDA-core kernel, head-dim tiers 16, 32, 64, 128
  // bf16 tensor-core kernel shapes: decode hd 64, prefill hd 64, decode hd 128, prefill hd 128
  int bf16_ctas_per_sm[4] = {};
};
// Raises the kernels' dynamic shared-memory limits on the current device and reads occupancy.
AttentionLimits prepare_attention(int device);
// Flash attention with split-KV over a paged or contiguous f32/bf16 K/V cache: bf16 K/V with
// head_dim % 8 == 0 runs on tensor cores, everything else on fp32 CUDA cores. `scratch` holds the
// per-split partials when the plan splits. Throws std::invalid_argument for unsupported shapes.
void launch_attention(const AttentionParams& p, const AttentionLimits& limits,
                      StreamScratch& scratch, cudaStream_t stream);

// Writes float32 K and V rows [n, row_elems] at `slots` of kv, converting to kv.dtype (bf16:
// round to nearest even, bit-identical to the CPU backend).
void launch_write_kv(const float* k_rows, const float* v_rows, int n, int row_elems,
                     const int32_t* slots, const KvView& kv, cudaStream_t stream);

void launch_greedy_confidence(const float* logits, int n, int vocab, ConfidenceKind kind,
                              int32_t* ids, double* conf, cudaStream_t stream);

// Prefilling-dLLM (kernels/prefilling_params.h; prefilling_kernels.cu). The key scores keep their
// per-(row, head) softmax statistics in `scratch`. select_top_tokens throws std::invalid_argument
// when a chunk's scores do not fit in one block's shared memory (about 28K tokens on an H100).
void launch_rerotate_kv_rows(const KvRerotateParams& p, cudaStream_t stream);
void launch_accumulate_key_attention_scores(const KeyAttentionScoreParams& p,
                                            StreamScratch& scratch, cudaStream_t stream);
void launch_select_top_tokens(const TokenSelectParams& p, cudaStream_t stream);
void launch_target_log_probs(const TargetLogProbParams& p, cudaStream_t stream);

// Focus-dLLM (kernels/focus_params.h; focus_kernels.cu, focus_select.cu). The sparse attention is
// launch_attention's kernels over the kept keys (split-KV sized by the counts' upper bounds).
// Mass: `sums` holds the per-KV-head sums, `stats` the softmax statistics.
// select_blocks throws std::invalid_argument past kMaxFocusBlocks blocks (one CTA ranks them).
inline constexpr int kMaxFocusBlocks = 16384;
void launch_attention_mass_per_key(const AttentionMassParams& p, StreamScratch& sums,
                                   StreamScratch& stats, cudaStream_t stream);
void launch_block_representative_keys(const BlockKeyParams& p, cudaStream_t stream);
void launch_block_scores(const BlockScoreParams& p, cudaStream_t stream);
void launch_select_sinks(const SinkSelectParams& p, cudaStream_t stream);
void launch_select_blocks(const BlockSelectParams& p, cudaStream_t stream);
void launch_sparse_attention(const SparseAttentionParams& p, const AttentionLimits& limits,
                             StreamScratch& scratch, cudaStream_t stream);
void launch_accumulate_focus_stats(const FocusStatsParams& p, cudaStream_t stream);

}  // namespace dllm::kernels::cuda
