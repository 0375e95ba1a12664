// `dllm-bench step --mode e2e`: whole requests per sparse policy (selection, prefill, every
// denoising step) on a synthetic model, per-step time against its memory floor, and one table of
// end-to-end times with ratios against vanilla and the dense block cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/model/model_config.h"
#include "common/model/transformer.h"

namespace dllm::bench {

struct E2eArgs {
  std::string shape;  // for the table
  std::vector<int> prompts;
  // vanilla | dense | prefilling | prefilling-reuse | focus | prefilling+focus
  std::vector<std::string> policies = {"vanilla", "dense", "prefilling", "prefilling-reuse",
                                       "focus"};
  int prefix = 32, query = 32, block = 32, gen = 256;
  double threshold = 0.9;  // the second schedule; 0 = run 1 token/step only
  // Requests over prompts > full_max run their first sample_blocks blocks and are extrapolated
  // (dense and vanilla only: their block entries and steps cost the same in every block).
  int full_max = 16384, sample_blocks = 1;
  int vanilla_steps = 1;    // timed full re-encode steps per prompt (after the warm-up)
  double deadline_s = 0.0;  // > 0: requests not started by then are skipped
  int variant_batch = 0;    // > 0: PrefillingOptions::variant_batch (else its default)
  // Ceilings measured in the same run; 0 = unknown (no floors).
  double copy_gbs = 0.0, gemm_tflops = 0.0;
  int64_t weight_bytes = 0;
  size_t pool_slots = 0;         // K/V slots the model's pool holds
  size_t device_bytes_free = 0;  // after weights (before the pool), for "does not fit" lines
};

// The K/V pool for a run: the slots of the longest prompt whose dense request (K/V + f32
// activations of every row) fits in `free_bytes`, and at least what chunk selection needs.
size_t e2e_pool_slots(const ModelConfig& config, const E2eArgs& args, size_t free_bytes);

// Prints one line per request as it finishes, then the table; returns a process exit code.
int run_e2e(Transformer& model, const E2eArgs& args);

}  // namespace dllm::bench
