// CUDA kernel benchmark: linear (bf16 weights, LLaDA-8B shapes) against a measured cuBLASLt bf16
// peak, decode attention against the measured device copy bandwidth, and prefill attention (fp32
// and paged bf16 K/V) in TFLOP/s, and Focus-dLLM's sparse step (sparse attention over 2048 kept
// prompt keys of 32K against its floor and the dense kernel; sink and block selection). Prints one
// table.
//
//   dllm-bench-cuda-ops [--quick] [--focus-only]   (--quick: fewer iterations, for a smoke run)
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
using dllm::kernels::SparseAttentionParams;
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

// Median over `reps` runs of time_backend (each a mean over `iters` calls).
double median_time(Backend* b, int reps, int iters, const std::function<void()>& op) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) t.push_back(time_backend(b, iters, op));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Focus-dLLM at 32K (LLaDA-8B attention, bf16 K/V in shuffled 64-slot pages): a sparse layer of
// `rows` active rows over 31 scored blocks of 64 + 64 sink tokens (2048 prompt keys, the default
// budget) + 256 response keys, against its floor (kept K/V + q + out at the copy bandwidth) and
// against the dense kernel over all 33024 keys. Eight selections spread over the prompt rotate so
// that the kept K/V (38 MB each) does not stay in L2. Then the per-step selection work: block
// scores and the budgeted block choice (every sparse layer), the sink mass and top-64 (once).
void bench_focus(Backend* b, double copy_gbs, std::vector<Row>* rows) {
  const int heads = 32, kv_heads = 32, hd = 128, page = 64, block = 64, response = 256;
  const int prompt = 32768, keys = prompt + response, num_blocks = prompt / block;
  const int kept_blocks = 31, sinks = 64, selections = 8;
  auto add = [&](Row r) {  // progress on stderr: a failing op is named by the last line
    std::fprintf(stderr, "focus: %s, %s: %.1f us\n", r.op.c_str(), r.shape.c_str(), r.us);
    rows->push_back(std::move(r));
  };
  const size_t kv_n = static_cast<size_t>(keys) * kv_heads * hd;
  void* k = b->allocate(kv_n * 2);
  void* v = b->allocate(kv_n * 2);
  fill_random_bf16(b, k, kv_n, 2);
  fill_random_bf16(b, v, kv_n, 3);
  std::vector<int32_t> pages((keys + page - 1) / page);
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), std::mt19937(5));
  auto* table = static_cast<int32_t*>(b->allocate(pages.size() * 4));
  b->copy_from_host(table, pages.data(), pages.size() * 4);
  // Selection i: blocks i, i + 8, ... (31 of them) and one sink in each of 64 other blocks.
  std::vector<int32_t> sel_host;
  for (int i = 0; i < selections; ++i) {
    std::vector<int32_t> blocks, tokens;
    for (int j = 0; j < kept_blocks; ++j) blocks.push_back(i + selections * j);
    for (int j = 0; j < sinks; ++j) tokens.push_back((blocks.back() + 1 + 3 * j) * block + 5 + i);
    blocks.resize(num_blocks / selections, 0);  // fixed stride per selection
    tokens.resize(sinks, 0);
    sel_host.insert(sel_host.end(), blocks.begin(), blocks.end());
    sel_host.insert(sel_host.end(), tokens.begin(), tokens.end());
    sel_host.push_back(kept_blocks);
    sel_host.push_back(sinks);
  }
  const int stride = num_blocks / selections + sinks + 2;
  auto* sel = static_cast<int32_t*>(b->allocate(sel_host.size() * 4));
  b->copy_from_host(sel, sel_host.data(), sel_host.size() * 4);
  for (int rows_q : {8, 32}) {
    const size_t q_n = static_cast<size_t>(rows_q) * heads * hd;
    float* q = static_cast<float*>(b->allocate(q_n * 4));
    float* out = static_cast<float*>(b->allocate(q_n * 4));
    fill_random(b, q, q_n * 4, 1);
    SparseAttentionParams p;
    p.q = q, p.out = out, p.num_q = rows_q;
    p.kv.k = k, p.kv.v = v, p.kv.dtype = DType::kBF16, p.kv.page_table = table;
    p.kv.page_size = page;
    p.num_heads = heads, p.num_kv_heads = kv_heads, p.head_dim = hd, p.scale = 0.08838834764f;
    p.num_blocks = 2048 / block + 1, p.block_size = block, p.prompt_len = prompt;
    p.num_tokens = sinks, p.response_begin = prompt, p.response_end = keys;
    int turn = 0;
    const double t = median_time(b, 5, 200, [&] {
      const int32_t* base = sel + (turn++ % selections) * stride;
      p.blocks = base, p.tokens = base + num_blocks / selections;
      p.counts = base + num_blocks / selections + sinks;
      b->sparse_attention(p);
    });
    // Host time to queue the calls alone: near the timed mean, the GPU waited for the host.
    const auto e0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 200; ++i) b->sparse_attention(p);
    const double enqueue =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count() / 200;
    b->synchronize();
    std::fprintf(stderr, "focus: sparse attn host enqueue %.1f us per call\n", enqueue * 1e6);
    const double kept = kept_blocks * block + sinks + response;
    const double bytes = kept * kv_heads * hd * 2 * 2 + 2.0 * q_n * 4;
    const std::string shape =
        std::to_string(rows_q) + "q x " + std::to_string(static_cast<int>(kept)) + " of 33024 keys";
    add({"focus sparse attn", shape, t * 1e6, bytes / t / 1e9, "GB/s", bytes / t / 1e9 / copy_gbs});
    AttentionParams d;
    d.q = q, d.out = out, d.kv = p.kv, d.num_q = rows_q, d.num_keys = keys;
    d.num_heads = heads, d.num_kv_heads = kv_heads, d.head_dim = hd, d.scale = p.scale;
    const double td = median_time(b, 5, 50, [&] { b->attention(d); });
    const double dbytes = static_cast<double>(keys) * kv_heads * hd * 2 * 2 + 2.0 * q_n * 4;
    add({"dense attn (same)", std::to_string(rows_q) + "q x 33024 keys", td * 1e6,
         dbytes / td / 1e9, "GB/s", dbytes / td / 1e9 / copy_gbs});
    b->release(q);
    b->release(out);
  }
  // Selection: block keys of the layer's prompt ([512][32][128] fp32, per prompt version), the sink
  // layer's attention mass of 8 rows over all keys and its top 64 (per step), then 2 focus rows'
  // block scores and the budgeted choice (per sparse layer).
  const size_t rep_n = static_cast<size_t>(num_blocks) * kv_heads * hd;
  auto* reps = static_cast<float*>(b->allocate(rep_n * 4));
  fill_random(b, reps, rep_n * 4, 4);
  const size_t q_n = static_cast<size_t>(8) * heads * hd;
  auto* q = static_cast<float*>(b->allocate(q_n * 4));
  fill_random(b, q, q_n * 4, 5);
  const size_t num_ints = 2 + 2 * num_blocks + 2 * sinks + 8;
  auto* ints = static_cast<int32_t*>(b->allocate(num_ints * 4));
  b->fill_zero(ints, num_ints * 4);  // no sinks until select_sinks ran
  const std::vector<int32_t> focus_rows = {2, 5};
  b->copy_from_host(ints, focus_rows.data(), 8);
  int32_t* blocks = ints + 2;
  int32_t* tokens = blocks + num_blocks;
  int32_t* counts = tokens + sinks;
  int32_t* sink_list = counts + 2;
  int32_t* num_sinks = sink_list + sinks;
  auto* scores = static_cast<float*>(b->allocate((num_blocks + keys) * 4));
  float* mass = scores + num_blocks;
  dllm::kernels::KvView kv{
      .k = k, .v = v, .dtype = DType::kBF16, .page_table = table, .page_size = page};
  const double tkeys = median_time(b, 3, 10, [&] {
    b->block_representative_keys({.kv = kv,
                                  .num_slots = prompt,
                                  .block_size = block,
                                  .num_kv_heads = kv_heads,
                                  .head_dim = hd,
                                  .out = reps});
  });
  const double kbytes = static_cast<double>(prompt) * kv_heads * hd * 2 + rep_n * 4;
  add({"focus block keys", "32K prompt keys -> 512 blocks", tkeys * 1e6, kbytes / tkeys / 1e9,
       "GB/s", kbytes / tkeys / 1e9 / copy_gbs});
  const double tsink = median_time(b, 3, 10, [&] {
    b->attention_mass_per_key({.q = q,
                               .kv = kv,
                               .num_q = 8,
                               .num_keys = keys,
                               .num_heads = heads,
                               .num_kv_heads = kv_heads,
                               .head_dim = hd,
                               .scale = 0.08838834764f,
                               .out = mass});
    b->select_sinks({.scores = mass,
                     .len = prompt,
                     .count = sinks,
                     .sinks = sink_list,
                     .num_sinks = num_sinks});
  });
  add({"focus sinks (mass+top)", "8q x 33024 keys, top 64", tsink * 1e6, 0.0, "-", 0.0});
  const double tscores = median_time(b, 5, 100, [&] {
    b->block_scores({.q = q,
                     .rows = ints,
                     .num_rows = 2,
                     .block_keys = reps,
                     .num_blocks = num_blocks,
                     .num_heads = heads,
                     .num_kv_heads = kv_heads,
                     .head_dim = hd,
                     .scale = 0.08838834764f,
                     .out = scores});
  });
  add({"focus block scores", "2 rows x 512 blocks (fp64)", tscores * 1e6, 0.0, "-", 0.0});
  const double tsel = median_time(b, 5, 100, [&] {
    b->select_blocks({.scores = scores,
                      .num_blocks = num_blocks,
                      .block_size = block,
                      .prompt_len = prompt,
                      .budget = 2048,
                      .sinks = sink_list,
                      .num_sinks = num_sinks,
                      .blocks = blocks,
                      .tokens = tokens,
                      .counts = counts});
  });
  add({"focus block select", "512 blocks, budget 2048", tsel * 1e6, 0.0, "-", 0.0});
  for (void* ptr :
       {static_cast<void*>(reps), static_cast<void*>(q), static_cast<void*>(ints),
        static_cast<void*>(scores), static_cast<void*>(sel), k, v, static_cast<void*>(table)})
    b->release(ptr);
}

}  // namespace

int main(int argc, char** argv) {
  bool focus_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--quick") g_iter_scale = 10;
    if (std::string(argv[i]) == "--focus-only") focus_only = true;
  }
  const auto devices = dllm::kernels::cuda::list_devices();
  if (devices.empty()) {
    std::fprintf(stderr, "dllm-bench-cuda-ops: no CUDA device visible\n");
    return 1;
  }
  std::printf("device: %s, %d SMs, %.1f GiB\n", devices[0].name.c_str(), devices[0].sm_count,
              static_cast<double>(devices[0].total_memory) / (1u << 30));
  try {
    const double copy_gbs = copy_bandwidth(size_t{1} << 30);
    std::vector<Row> rows;
    rows.push_back({"memcpy D2D (ref)", "1 GiB, read+write", 0.0, copy_gbs, "GB/s", 1.0});
    auto backend = dllm::kernels::make_cuda_backend(0);
    if (!focus_only) {
      const double peak = gemm_peak_tflops();
      rows.push_back({"cuBLASLt bf16 (ref)", "8192^3 -> fp32", 0.0, peak, "TF/s", 1.0});
      bench_linear(backend.get(), peak, &rows);
      bench_attention(backend.get(), copy_gbs, peak, &rows);
    }
    bench_focus(backend.get(), copy_gbs, &rows);
    print(rows);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dllm-bench-cuda-ops: %s\n", e.what());
    return 1;
  }
  return 0;
}
