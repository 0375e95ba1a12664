// CUDA device discovery (host-side API, usable from plain C++ translation units).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace dllm::kernels::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_capability = 0;  // e.g. 90
  size_t total_memory = 0;
  int sm_count = 0;
};

// Empty when no driver or GPU is present (the CI case).
std::vector<DeviceInfo> list_devices();

}  // namespace dllm::kernels::cuda
