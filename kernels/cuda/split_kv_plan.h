// How a CUDA attention call is partitioned: query tiles × KV heads × key splits (plain C++).
#pragma once

namespace dllm::kernels::cuda {

struct SplitKvPlan {
  int q_tiles = 0;         // CTAs along one KV head's query vectors (rows × heads of its group)
  int num_splits = 1;      // key ranges per (query tile, KV head); >1 needs a log-sum-exp merge
  int keys_per_split = 0;  // a multiple of keys_per_tile; no split is empty
};

// Splits the keys only when the query tiles alone leave the GPU short of work (decode: few rows,
// many keys): then picks the fewest splits that fill the resident CTA slots well, keeping at
// least kMinTilesPerSplit key tiles per split so that the merge stays cheap.
// ctas_per_wave: CTAs the GPU runs at once (SMs × resident CTAs per SM).
SplitKvPlan plan_split_kv(int num_q, int group, int num_kv_heads, int num_keys, int rows_per_cta,
                          int keys_per_tile, int ctas_per_wave);

inline constexpr int kMinTilesPerSplit = 4;
inline constexpr int kMaxSplits = 128;

}  // namespace dllm::kernels::cuda
