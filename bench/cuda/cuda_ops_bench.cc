// CUDA kernel benchmark: linear (bf16 weights, LLaDA-8B shapes) against a measured cuBLASLt bf16
// peak, decode attention against the measured device copy bandwidth, and prefill attention (fp32
// and paged bf16 K/V) in TFLOP/s. Prints one table.
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
#include <numeric>
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

// Fills `bytes` of backend memory from a repeated host pattern (random content without
// generating gigabytes on the host).
void fill_random(Backend* b, void* dst, size_t bytes, uint32_t seed) {
  static const std::vector<float> pattern = random_f32(size_t{1} << 22, 99);  // 16 MiB
  const size_t chunk = pattern.size() * sizeof(float);
  const size_t shift = (seed * 4099u) % (pattern.size() / 2) * sizeof(float);
  for (size_t off = 0; off < bytes; off += chunk - shift)
    b->copy_from_host(static_cast<char*>(dst) + off,
                      reinterpret_cast<const char*>(pattern.data()) + shift,
                      std::min(chunk - shift, bytes - off));
}

// bf16 bits of [-1, 1) floats: the upper halves of the pattern's floats are fine K/V values.
void fill_random_bf16(Backend* b, void* dst, size_t elems, uint32_t seed) {
  static const std::vector<uint16_t> pattern = random_bf16(size_t{1} << 22, 17);  // 8 MiB
  const size_t shift = (seed * 4099u) % (pattern.size() / 2);
  for (size_t off = 0; off < elems; off += pattern.size() - shift)
    b->copy_from_host(static_cast<uint16_t*>(dst) + off, pattern.data() + shift,
                      std::min(pattern.size() - shift, elems - off) * 2);
}

struct AttentionShape {
  const char* name;
  int num_q, num_keys, iters;
};

// LLaDA-8B attention (32 heads, 32 KV heads, head_dim 128). Decode rows count the bytes read (K,
// V, q) and written (out) against the copy bandwidth; prefill rows count 4·q·k·hd·heads flops
// against the cuBLASLt bf16 peak. bf16 K/V sits in 64-slot pages in shuffled order, as in the pool.
void bench_attention(Backend* b, double copy_gbs, double peak, std::vector<Row>* rows) {
  const int heads = 32, kv_heads = 32, hd = 128, page = 64;
  auto run = [&](const AttentionShape& s, DType dtype) {
    const size_t q_n = static_cast<size_t>(s.num_q) * heads * hd;
    const size_t kv_n = static_cast<size_t>(s.num_keys) * kv_heads * hd;
    const size_t esz = dtype == DType::kF32 ? 4 : 2;
    float* q = static_cast<float*>(b->allocate(q_n * 4));
    float* out = static_cast<float*>(b->allocate(q_n * 4));
    void* k = b->allocate(kv_n * esz);
    void* v = b->allocate(kv_n * esz);
    fill_random(b, q, q_n * 4, 1);
    if (dtype == DType::kF32) {
      fill_random(b, k, kv_n * 4, 2);
      fill_random(b, v, kv_n * 4, 3);
    } else {
      fill_random_bf16(b, k, kv_n, 2);
      fill_random_bf16(b, v, kv_n, 3);
    }
    AttentionParams p;
    p.q = q, p.out = out;
    p.kv.k = k, p.kv.v = v, p.kv.dtype = dtype;
    int32_t* table = nullptr;
    if (dtype == DType::kBF16) {
      std::vector<int32_t> pages((s.num_keys + page - 1) / page);
      std::iota(pages.begin(), pages.end(), 0);
      std::shuffle(pages.begin(), pages.end(), std::mt19937(5));
      table = static_cast<int32_t*>(b->allocate(pages.size() * 4));
      b->copy_from_host(table, pages.data(), pages.size() * 4);
      p.kv.page_table = table, p.kv.page_size = page;
    }
    p.num_q = s.num_q, p.num_keys = s.num_keys, p.num_heads = heads, p.num_kv_heads = kv_heads;
    p.head_dim = hd, p.scale = 0.08838834764f;
    const double t = time_backend(b, s.iters, [&] { b->attention(p); });
    const std::string op = dtype == DType::kF32 ? "attention fp32" : "attention bf16 paged";
    if (s.num_q <= 32) {
      const double gbs = (2.0 * kv_n * esz + 2.0 * q_n * 4) / t / 1e9;
      rows->push_back({op, s.name, t * 1e6, gbs, "GB/s", gbs / copy_gbs});
    } else {
      const double tflops = 4.0 * s.num_q * s.num_keys * heads * hd / t / 1e12;
      rows->push_back(
          {op, s.name, t * 1e6, tflops, "TF/s", dtype == DType::kF32 ? 0.0 : tflops / peak});
    }
    b->release(q);
    b->release(out);
    b->release(k);
    b->release(v);
    if (table != nullptr) b->release(table);
  };
  const AttentionShape fp32_shapes[] = {{"decode 32q x 8K keys", 32, 8192, 100},
                                        {"decode 32q x 32K keys", 32, 32768, 100},
                                        {"prefill 4096q x 4096", 4096, 4096, 5}};
  for (const AttentionShape& s : fp32_shapes) run(s, DType::kF32);
  const AttentionShape bf16_shapes[] = {{"decode 32q x 8K keys", 32, 8192, 200},
                                        {"decode 32q x 32K keys", 32, 32768, 100},
                                        {"decode 32q x 128K keys", 32, 131072, 30},
                                        {"prefill 4096q x 4096", 4096, 4096, 20},
                                        {"prefill 32768q x 32768", 32768, 32768, 3}};
  for (const AttentionShape& s : bf16_shapes) run(s, DType::kBF16);
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
    bench_attention(backend.get(), copy_gbs, peak, &rows);
    print(rows);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dllm-bench-cuda-ops: %s\n", e.what());
    return 1;
  }
  return 0;
}
