// CUDA device discovery: how many GPUs this process sees and what they are.
#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/device_info.h"

namespace dllm::kernels::cuda {

std::vector<DeviceInfo> list_devices() {
  std::vector<DeviceInfo> out;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return out;  // no driver / no GPU
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    out.push_back({i, prop.name, prop.major * 10 + prop.minor, prop.totalGlobalMem,
                   prop.multiProcessorCount});
  }
  return out;
}

}  // namespace dllm::kernels::cuda
