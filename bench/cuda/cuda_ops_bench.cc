// CUDA kernel benchmark: linear (bf16 weights, LLaDA-8B shapes) against a measured cuBLASLt bf16
// peak, and decode attention against the measured device copy bandwidth. Prints one table.
//
//   dllm-bench-cuda-ops [--quick]     (--quick: fewer iterations, for a smoke run)
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/lt_gemm.h"

namespace {

using dllm::kernels::AttentionParams;
using dllm::kernels::Backend;
using dllm::kernels::DType;
using dllm::kernels::WeightView;

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    std::fprintf(stderr, "dllm-bench-cuda-ops: %s: %s\n", what, cudaGetErrorString(err));
    std::exit(1);
  }
}

int g_iter_scale = 1;  // divides iteration counts under --quick

// Mean seconds per call of `op` on `stream` (CUDA events), after warm-up calls.
double time_stream(cudaStream_t stream, int iters, const std::function<void()>& op) {
  iters = std::max(1, iters / g_iter_scale);
  for (int i = 0; i < 2; ++i) op();
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  check(cudaEventRecord(start, stream), "cudaEventRecord");
  for (int i = 0; i < iters; ++i) op();
  check(cudaEventRecord(stop, stream), "cudaEventRecord");
  check(cudaEventSynchronize(stop), "cudaEventSynchronize");
  float ms = 0.0f;
  check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / 1e3 / iters;
}

// Mean seconds per call of a Backend op (host clock around synchronize; launches are async).
double time_backend(Backend* b, int iters, const std::function<void()>& op) {
  iters = std::max(1, iters / g_iter_scale);
  for (int i = 0; i < 2; ++i) op();
  b->synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) op();
  b->synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
}

// Uniform [-1, 1) as bf16 bits (cheap LCG: content matters only in not being zeros).
std::vector<uint16_t> random_bf16(size_t n, uint32_t seed) {
  std::vector<uint16_t> v(n);
  uint32_t s = seed;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    const float f = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    x = static_cast<uint16_t>(bits >> 16);
  }
  return v;
}

std::vector<float> random_f32(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;
  }
  return v;
}

struct Row {
  std::string op, shape;
  double us, rate;  // rate: TFLOP/s or GB/s
  const char* unit;
  double of_peak;  // fraction of the measured reference
};

void print(const std::vector<Row>& rows) {
  std::printf("\n%-22s %-30s %10s %12s %8s\n", "op", "shape", "time(us)", "rate", "of peak");
  for (const Row& r : rows)
    std::printf("%-22s %-30s %10.1f %8.1f %-5s %7.1f%%\n", r.op.c_str(), r.shape.c_str(), r.us,
                r.rate, r.unit, 100.0 * r.of_peak);
}

// Device-to-device copy of `bytes`, counting bytes read + written.
double copy_bandwidth(size_t bytes) {
  void *a = nullptr, *b = nullptr;
  check(cudaMalloc(&a, bytes), "cudaMalloc");
  check(cudaMalloc(&b, bytes), "cudaMalloc");
  check(cudaMemset(a, 1, bytes), "cudaMemset");
  cudaStream_t s;
  check(cudaStreamCreate(&s), "cudaStreamCreate");
  const double t =
      time_stream(s, 20, [&] { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s); });
  cudaStreamDestroy(s);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes / t / 1e9;
}

// cuBLASLt bf16 × bf16 → fp32 at 8192³: the reference "peak" for our linear layer.
double gemm_peak_tflops() {
  const int64_t n = 8192;
  const auto host = random_bf16(n * n, 7);
  void *x = nullptr, *w = nullptr, *out = nullptr;
  check(cudaMalloc(&x, n * n * 2), "cudaMalloc");
  check(cudaMalloc(&w, n * n * 2), "cudaMalloc");
  check(cudaMalloc(&out, n * n * 4), "cudaMalloc");
  check(cudaMemcpy(x, host.data(), n * n * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
  check(cudaMemcpy(w, host.data(), n * n * 2, cudaMemcpyHostToDevice), "cudaMemcpy");
  cudaStream_t s;
  check(cudaStreamCreate(&s), "cudaStreamCreate");
  double t;
  {
    dllm::kernels::cuda::LtGemm gemm(s);
    t = time_stream(s, 20, [&] {
      if (!gemm.matmul(x, w, DType::kBF16, n, n, n, nullptr, static_cast<float*>(out)))
        check(cudaErrorNotSupported, "cuBLASLt has no bf16 algorithm");
    });
  }
  cudaStreamDestroy(s);
  cudaFree(x);
  cudaFree(w);
  cudaFree(out);
  return 2.0 * n * n * n / t / 1e12;
}

void bench_linear(Backend* b, double peak, std::vector<Row>* rows) {
  struct Proj {
    const char* name;
    int64_t k, m;
  };
  const Proj projs[] = {{"q/k/v/o 4096->4096", 4096, 4096},
                        {"gate/up 4096->12288", 4096, 12288},
                        {"down 12288->4096", 12288, 4096}};
  for (const Proj& p : projs) {
    const auto wh = random_bf16(static_cast<size_t>(p.k * p.m), 11);
    const WeightView w = b->upload_weight({wh.data(), DType::kBF16, p.m, p.k});
    for (int n : {32, 4096, 32768}) {
      float* x = static_cast<float*>(b->allocate(static_cast<size_t>(n) * p.k * 4));
      float* out = static_cast<float*>(b->allocate(static_cast<size_t>(n) * p.m * 4));
      const auto xh = random_f32(static_cast<size_t>(n) * p.k, 13);
      b->copy_from_host(x, xh.data(), xh.size() * 4);
      const int iters = n == 32 ? 200 : n == 4096 ? 30 : 6;
      const double t = time_backend(b, iters, [&] { b->linear(x, n, w, nullptr, out); });
      const double tflops = 2.0 * n * p.k * p.m / t / 1e12;
      rows->push_back({"linear bf16", std::string(p.name) + " x" + std::to_string(n), t * 1e6,
                       tflops, "TF/s", tflops / peak});
      b->release(x);
      b->release(out);
    }
  }
}

void bench_attention(Backend* b, double copy_gbs, std::vector<Row>* rows) {
  const int heads = 32, kv_heads = 32, hd = 128;
  struct Shape {
    const char* name;
    int num_q, num_keys;
  };
  const Shape shapes[] = {{"decode 32q x 8K keys", 32, 8192},
                          {"decode 32q x 32K keys", 32, 32768},
                          {"prefill 4096q x 4096", 4096, 4096}};
  for (const Shape& s : shapes) {
    const size_t q_n = static_cast<size_t>(s.num_q) * heads * hd;
    const size_t kv_n = static_cast<size_t>(s.num_keys) * kv_heads * hd;
    float* q = static_cast<float*>(b->allocate(q_n * 4));
    float* k = static_cast<float*>(b->allocate(kv_n * 4));
    float* v = static_cast<float*>(b->allocate(kv_n * 4));
    float* out = static_cast<float*>(b->allocate(q_n * 4));
    const auto qh = random_f32(q_n, 1), kh = random_f32(kv_n, 2);
    b->copy_from_host(q, qh.data(), q_n * 4);
    b->copy_from_host(k, kh.data(), kv_n * 4);
    b->copy_from_host(v, kh.data(), kv_n * 4);
    AttentionParams p;
    p.q = q, p.k = k, p.v = v, p.out = out;
    p.num_q = s.num_q, p.num_keys = s.num_keys, p.num_heads = heads, p.num_kv_heads = kv_heads;
    p.head_dim = hd, p.scale = 0.08838834764f;
    const double t = time_backend(b, s.num_q <= 32 ? 100 : 5, [&] { b->attention(p); });
    if (s.num_q <= 32) {
      const double gbs = (2.0 * kv_n + 2.0 * q_n) * 4 / t / 1e9;
      rows->push_back({"attention fp32", s.name, t * 1e6, gbs, "GB/s", gbs / copy_gbs});
    } else {
      const double tflops = 4.0 * s.num_q * s.num_keys * heads * hd / t / 1e12;
      rows->push_back({"attention fp32", s.name, t * 1e6, tflops, "TF/s", 0.0});
    }
    b->release(q);
    b->release(k);
    b->release(v);
    b->release(out);
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--quick") g_iter_scale = 10;
  const auto devices = dllm::kernels::cuda::list_devices();
  if (devices.empty()) {
    std::fprintf(stderr, "dllm-bench-cuda-ops: no CUDA device visible\n");
    return 1;
  }
  std::printf("device: %s, %d SMs, %.1f GiB\n", devices[0].name.c_str(), devices[0].sm_count,
              static_cast<double>(devices[0].total_memory) / (1u << 30));
  try {
    const double copy_gbs = copy_bandwidth(size_t{1} << 30);
    const double peak = gemm_peak_tflops();
    std::vector<Row> rows;
    rows.push_back({"memcpy D2D (ref)", "1 GiB, read+write", 0.0, copy_gbs, "GB/s", 1.0});
    rows.push_back({"cuBLASLt bf16 (ref)", "8192^3 -> fp32", 0.0, peak, "TF/s", 1.0});
    auto backend = dllm::kernels::make_cuda_backend(0);
    bench_linear(backend.get(), peak, &rows);
    bench_attention(backend.get(), copy_gbs, &rows);
    print(rows);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dllm-bench-cuda-ops: %s\n", e.what());
    return 1;
  }
  return 0;
}
