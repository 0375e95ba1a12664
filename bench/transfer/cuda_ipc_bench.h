// `dllm-bench-transfer --cuda-ipc` (CUDA builds): cuda_ipc pulls between two processes on one GPU
// against that GPU's own device-to-device copy, measured in the same run.
#pragma once

#include <cstddef>
#include <vector>

namespace dllm::bench {

struct CudaIpcBenchOptions {
  std::vector<size_t> sizes_mib = {16, 64, 256, 1024};
  int iters = 20;  // per size and method; the median is reported
  int device = 0;
};

// Prints one table row per size; returns the process exit status (1 when a pull failed or
// pulled wrong bytes).
int run_cuda_ipc_bench(const CudaIpcBenchOptions& options);

}  // namespace dllm::bench
