// Pieces shared by the two attention kernels (fp32 CUDA cores, bf16 tensor cores): the split merge
// and the bf16 path's entry points, which attention.cu dispatches to.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/sparse_keys.cuh"
#include "kernels/tensor_view.h"

namespace dllm::kernels::cuda {

// out[row, :] = Σ_s e^{lse_s − M} · part_o[s, row, :] / Σ_s e^{lse_s − M} over `rows` (query, head)
// rows; part_o is normalised per split, part_lse is natural-log; rows with no visible key are 0.
void launch_merge_splits(const float* part_o, const float* part_lse, int num_splits, int64_t rows,
                         int head_dim, float* out, cudaStream_t stream);

// The tensor-core kernel takes bf16 K/V with head_dim a multiple of 8 (16-byte rows) up to 128 and
// 16-byte aligned K and V bases; anything else goes to the fp32 CUDA-core kernel.
bool flash_attention_bf16_supports(const AttentionParams& p);
// Raises its dynamic shared-memory limits and fills limits->bf16_ctas_per_sm.
void prepare_flash_attention_bf16(AttentionLimits* limits);
// Validated params (see launch_attention) with num_keys > 0 and supports(p). With sparse.active,
// p.num_keys is sparse.max_keys() and keys are mapped through the segments (p.causal false).
void launch_flash_attention_bf16(const AttentionParams& p, const SparseKeySegments& sparse,
                                 const AttentionLimits& limits, StreamScratch& scratch,
                                 cudaStream_t stream);

}  // namespace dllm::kernels::cuda
