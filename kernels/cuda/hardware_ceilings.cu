// measure_hardware_ceilings: a 1 GiB device copy and an 8192³ bf16 cuBLASLt GEMM, timed with events.
#include <cuda_runtime.h>

#include <functional>
#include <stdexcept>

#include "kernels/cuda/hardware_ceilings.h"
#include "kernels/cuda/lt_gemm.h"
#include "kernels/cuda/random_fill.h"

namespace dllm::kernels::cuda {
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

// Seconds per call (median-free mean over `iters` after 2 warm-ups).
double time_on(cudaStream_t s, int iters, const std::function<void()>& op) {
  for (int i = 0; i < 2; ++i) op();
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "cudaEventCreate");
  check(cudaEventCreate(&b), "cudaEventCreate");
  check(cudaEventRecord(a, s), "cudaEventRecord");
  for (int i = 0; i < iters; ++i) op();
  check(cudaEventRecord(b, s), "cudaEventRecord");
  check(cudaEventSynchronize(b), "cudaEventSynchronize");
  float ms = 0.0f;
  check(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / 1e3 / iters;
}

}  // namespace

HardwareCeilings measure_hardware_ceilings(int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  HardwareCeilings c;
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  c.device_name = prop.name;
  c.sm_count = prop.multiProcessorCount;
  cudaStream_t s;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");

  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  check(cudaMalloc(&a, bytes), "cudaMalloc");
  check(cudaMalloc(&b, bytes), "cudaMalloc");
  check(cudaMemset(a, 1, bytes), "cudaMemset");
  const double tc = time_on(s, 20, [&] { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s); });
  c.copy_gbs = 2.0 * bytes / tc / 1e9;
  check(cudaFree(a), "cudaFree");
  check(cudaFree(b), "cudaFree");

  const int64_t n = 8192;
  void *x = nullptr, *w = nullptr, *out = nullptr;
  check(cudaMalloc(&x, n * n * 2), "cudaMalloc");
  check(cudaMalloc(&w, n * n * 2), "cudaMalloc");
  check(cudaMalloc(&out, n * n * 4), "cudaMalloc");
  fill_random_bf16(x, n * n, 1.0f, 0.0f, 1);
  fill_random_bf16(w, n * n, 1.0f, 0.0f, 2);
  {
    LtGemm gemm(s);
    const double tg = time_on(s, 20, [&] {
      if (!gemm.matmul(x, w, DType::kBF16, n, n, n, nullptr, static_cast<float*>(out)))
        throw std::runtime_error("cuBLASLt has no bf16 algorithm for 8192^3");
    });
    c.bf16_gemm_tflops = 2.0 * n * n * n / tg / 1e12;
  }
  check(cudaFree(x), "cudaFree");
  check(cudaFree(w), "cudaFree");
  check(cudaFree(out), "cudaFree");
  check(cudaStreamDestroy(s), "cudaStreamDestroy");
  return c;
}

}  // namespace dllm::kernels::cuda
