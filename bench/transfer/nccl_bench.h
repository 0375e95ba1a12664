// `dllm-bench-transfer --transport nccl` (CUDA builds with nccl.h): nccl pulls between two
// processes on two GPUs against the same GPU-to-GPU copy by cudaMemcpyPeer, in the same run.
#pragma once

#include <cstddef>
#include <vector>

namespace dllm::bench {

struct NcclBenchOptions {
  std::vector<size_t> sizes_mib = {16, 64, 256, 1024};
  int iters = 20;         // per size and method; the median is reported
  int expose_device = 0;  // the child exposes its arena here (the prefill GPU)
  int pull_device = 1;    // this process pulls into memory here (the decode GPU)
  size_t piece_mib = 64;  // TransportOptions::nccl_piece_bytes
};

// Prints the set-up time and one table row per size; returns the process exit status (1 when a
// pull failed or pulled wrong bytes, or the machine has fewer than two GPUs).
int run_nccl_bench(const NcclBenchOptions& options);

}  // namespace dllm::bench
