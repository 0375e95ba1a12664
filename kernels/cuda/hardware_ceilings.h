// Measured hardware ceilings that benchmarks compare against: copy bandwidth and bf16 GEMM peak.
#pragma once

#include <string>

namespace dllm::kernels::cuda {

struct HardwareCeilings {
  std::string device_name;
  int sm_count = 0;
  double copy_gbs = 0.0;          // device-to-device copy, bytes read + written per second
  double bf16_gemm_tflops = 0.0;  // cuBLASLt bf16 × bf16 → fp32 at 8192³
};

// Runs the two measurements on `device` (about a second). Throws std::runtime_error on CUDA errors.
HardwareCeilings measure_hardware_ceilings(int device);

}  // namespace dllm::kernels::cuda
