// `dllm-bench step --mode prefilling-reuse`: Prefilling-dLLM's reuse pipeline on a synthetic model
// (selection, stitching, query + mask encode, one decode step, and the whole request).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/model/transformer.h"

namespace dllm::bench {

struct PrefillingReuseArgs {
  std::vector<int> prompts;
  int prefix = 32, query = 32, chunk_size = 1024, top_k = 4, score_batch = 8;
  int token_capacity = 0;  // 0 = off
  bool per_head = false;
  int block = 32, gen = 256, iters = 5;
  bool end_to_end = true;  // also time generate_prefilling for gen tokens, 1 token a step
  double copy_gbs = 0.0;   // measured copy bandwidth (floor); 0 = unknown
  int64_t weight_bytes = 0;
};

// Prints one table row per prompt length; returns a process exit code.
int run_prefilling_reuse(Transformer& model, const PrefillingReuseArgs& args);

}  // namespace dllm::bench
