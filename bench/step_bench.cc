// dllm-bench: denoising-step and prefill benchmarks with synthetic weights at real model shapes.
//
//   dllm-bench step --device cuda --synthetic-weights llada-8b --prompts 8192,32768 [--block 32]
//                   [--gen 256] [--iters 5] [--vanilla-max 32768]
//   dllm-bench step --mode prefilling-reuse --device cuda --synthetic-weights llada-8b
//                   --prompts 32768 [--query 32] [--top-k 4] [--token-capacity 512] [--per-head 1]
//   dllm-bench step --mode e2e --device cuda --synthetic-weights llada-8b --prompts 8192,32768
//                   [--policies vanilla,dense,prefilling,prefilling-reuse,focus] [--threshold 0.9]
//                   [--full-max 16384 --sample-blocks 1] [--vanilla-steps 1] [--deadline 0]
//

// Per prompt length: (a) vanilla full re-encode (every row through the model, logits on the block),
// (b) one dense block-cache step (block rows over the cached K/V), and the block-entry prefill.
// Each run first measures the hardware ceilings and prints each time against its floor:
// block-cache step floor = (weight bytes + K/V bytes read) / copy bandwidth; vanilla and prefill
// floor = FLOPs / measured bf16 GEMM peak.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/e2e_bench.h"
#include "bench/prefilling_reuse_bench.h"
#include "bench/synthetic_model.h"
#include "common/model/transformer.h"
#include "kernels/backend.h"

#ifdef DLLM_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/hardware_ceilings.h"
#include "kernels/cuda/random_fill.h"
#endif

using namespace dllm;

namespace {

struct Args {
  std::string mode = "step";  // step | prefilling-reuse | e2e
  std::string device = "cpu";
  std::string shape = "llada-100m";
  std::vector<int> prompts = {1024};
  int block = 32, gen = 256, iters = 5, vanilla_max = 32768, threads = 0;
  bench::PrefillingReuseArgs reuse;  // --mode prefilling-reuse
  bench::E2eArgs e2e;                // --mode e2e
};

ModelConfig shape_config(const std::string& name) {
  if (name == "llada-8b") return bench::llada_shape(32, 4096, 32, 32, 12288, 126464);
  if (name == "dream-7b") {
    ModelConfig c = bench::llada_shape(28, 3584, 28, 4, 18944, 152064);
    c.family = ModelFamily::kDream;
    c.model_type = "Dream";
    c.qkv_bias = true;
    c.rope_theta = 1e6;
    return c;
  }
  if (name == "llada-100m") return bench::llada_shape(12, 768, 12, 12, 2048, 32000);
  std::fprintf(stderr, "unknown --synthetic-weights %s (llada-8b | dream-7b | llada-100m)\n", name.c_str());
  std::exit(2);
}

// Weights made directly in backend memory: on a GPU with a fill kernel, on the CPU on the host.
struct DeviceWeights {
  kernels::Backend* backend = nullptr;
  std::vector<void*> buffers;
  ModelWeights views;
  bench::SyntheticModel host;  // CPU path
  int64_t bytes = 0;
  ~DeviceWeights() {
    for (void* p : buffers) backend->release(p);
  }
};

void make_weights(const ModelConfig& c, kernels::Backend* be, bool on_gpu, DeviceWeights* w) {
  w->backend = be;
  if (!on_gpu) {
    bench::make_synthetic_model(c, /*bf16=*/true, 7, &w->host);
    w->views = w->host.views;
    w->bytes = static_cast<int64_t>(w->host.num_parameters) * 2;
    return;
  }
#ifdef DLLM_HAVE_CUDA
  uint64_t seed = 1;
  auto make = [&](int64_t rows, int64_t cols, float scale, float offset) {
    const size_t n = static_cast<size_t>(rows * cols);
    void* p = be->allocate(n * 2);
    w->buffers.push_back(p);
    kernels::cuda::fill_random_bf16(p, n, scale, offset, seed++);
    w->bytes += static_cast<int64_t>(n) * 2;
    return kernels::WeightView{p, kernels::DType::kBF16, rows, cols};
  };
  const int d = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  w->views.embedding = make(c.embedding_rows, d, 1.0f, 0.0f);
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights lw;
    lw.attn_norm = make(1, d, 0.0f, 1.0f);
    lw.q_proj = make(q, d, 0.02f, 0.0f);
    lw.k_proj = make(kv, d, 0.02f, 0.0f);
    lw.v_proj = make(kv, d, 0.02f, 0.0f);
    if (c.qkv_bias) {
      lw.q_bias = make(1, q, 0.02f, 0.0f);
      lw.k_bias = make(1, kv, 0.02f, 0.0f);
      lw.v_bias = make(1, kv, 0.02f, 0.0f);
    }
    lw.o_proj = make(d, q, 0.02f, 0.0f);
    lw.ffn_norm = make(1, d, 0.0f, 1.0f);
    lw.gate_proj = make(c.intermediate_size, d, 0.02f, 0.0f);
    lw.up_proj = make(c.intermediate_size, d, 0.02f, 0.0f);
    lw.down_proj = make(d, c.intermediate_size, 0.02f, 0.0f);
    w->views.layers.push_back(lw);
  }
  w->views.final_norm = make(1, d, 0.0f, 1.0f);
  w->views.lm_head = make(c.embedding_rows, d, 0.02f, 0.0f);
#endif
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// FLOPs of one forward of `rows` query rows over `keys` keys, logits on `logit_rows` rows.
double forward_flops(const ModelConfig& c, double rows, double keys, double logit_rows) {
  const double d = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const double per_layer_linear = d * q * 2 + d * kv * 2 + 3.0 * d * c.intermediate_size;
  const double attention = 4.0 * rows * keys * q;
  return c.num_layers * (2.0 * rows * per_layer_linear + attention) +
         2.0 * logit_rows * d * c.embedding_rows;
}

int run_step(const Args& a) {
  const ModelConfig c = shape_config(a.shape);
  const bool gpu = a.device == "cuda";
  std::unique_ptr<kernels::Backend> be;
  double copy_gbs = 0.0, peak_tflops = 0.0;
  std::string device_name = "cpu";
  if (gpu) {
#ifdef DLLM_HAVE_CUDA
    const kernels::cuda::HardwareCeilings hw = kernels::cuda::measure_hardware_ceilings(0);
    copy_gbs = hw.copy_gbs;
    peak_tflops = hw.bf16_gemm_tflops;
    device_name = hw.device_name;
    be = kernels::make_cuda_backend(0);
#else
    std::fprintf(stderr, "this build has no CUDA\n");
    return 2;
#endif
  } else {
    be = kernels::make_cpu_backend(a.threads);
  }
  DeviceWeights w;
  make_weights(c, be.get(), gpu, &w);
  const int max_len = *std::max_element(a.prompts.begin(), a.prompts.end()) + a.gen;
  TransformerOptions opt;
  opt.weights_on_device = gpu;
  opt.kv_pool.max_bytes = static_cast<size_t>(max_len + 64) * 2 * c.num_layers * c.num_kv_heads *
                          c.head_dim * 2;  // bf16 K+V of one sequence
  if (a.mode == "prefilling-reuse") {
    // Chunk scoring holds a group of encoded chunks, the best K so far, suffix caches and then
    // the stitched prompt: a few chunks' worth of pages, whatever the prompt length (so 128K
    // prompts fit beside the weights).
    const auto& r = a.reuse;
    const size_t tokens =
        static_cast<size_t>(2 * r.score_batch + 2 * r.top_k + 2) * (r.chunk_size + r.prefix + 128) +
        r.query + a.gen;
    opt.kv_pool.max_bytes = tokens * 2 * c.num_layers * c.num_kv_heads * c.head_dim * 2;
  }
  bench::E2eArgs e2e = a.e2e;
  if (a.mode == "e2e") {
    // One pool for every policy: the longest dense request that fits beside the weights.
    e2e.prompts = a.prompts;
    e2e.block = a.block, e2e.gen = a.gen;
    e2e.device_bytes_free = be->free_memory_bytes();
    e2e.pool_slots = bench::e2e_pool_slots(c, e2e, e2e.device_bytes_free);
    opt.kv_pool.max_bytes =
        (e2e.pool_slots + 64) * 2 * c.num_layers * c.num_kv_heads * c.head_dim * 2;
  }
  auto model = Transformer::create(c, w.views, be.get(), opt);
  if (!model.ok()) return std::fprintf(stderr, "%s\n", model.status().ToString().c_str()), 1;

  std::printf("device: %s | copy %.0f GB/s | bf16 GEMM %.0f TF/s | model %s (%.2f GB bf16 weights)\n",
              device_name.c_str(), copy_gbs, peak_tflops, a.shape.c_str(), w.bytes / 1e9);
  if (a.mode == "prefilling-reuse") {
    bench::PrefillingReuseArgs r = a.reuse;
    r.prompts = a.prompts;
    r.block = a.block, r.gen = a.gen, r.iters = a.iters;
    r.copy_gbs = copy_gbs;
    r.weight_bytes = w.bytes;
    return bench::run_prefilling_reuse(**model, r);
  }
  if (a.mode == "e2e") {
    e2e.shape = a.shape;
    e2e.copy_gbs = copy_gbs, e2e.gemm_tflops = peak_tflops;
    e2e.weight_bytes = w.bytes;
    return bench::run_e2e(**model, e2e);
  }
  std::printf("%-8s %12s %10s %12s %10s %8s %12s %12s %8s\n", "prompt", "vanilla_ms", "floor_ms",
              "cache_step_ms", "floor_ms", "ratio", "prefill_s", "prefill_tok/s", "%peak");
  for (int prompt : a.prompts) {
    const int L = prompt + a.gen, block0 = prompt;  // first generation block
    std::vector<int32_t> ids(L), pos(L), block_rows(a.block);
    for (int i = 0; i < L; ++i) ids[i] = (i * 7919 + 13) % c.vocab_size, pos[i] = i;
    for (int i = 0; i < a.block; ++i) block_rows[i] = block0 + i;
    std::vector<std::vector<float>> logits;
    // Steps reduce the block's logits on the device (greedy token + confidence), as generate() does.
    std::vector<std::vector<GreedyChoice>> choices;
    const auto kMaxProb = kernels::ConfidenceKind::kMaxProb;

    // (a) vanilla: all L rows, logits on the block rows only.
    double vanilla = -1.0;
    if (prompt <= a.vanilla_max) {
      SequenceForward s{.ids = ids, .positions = pos, .logit_rows = block_rows};
      if (absl::Status st = (*model)->forward({&s, 1}, &logits); !st.ok())
        return std::fprintf(stderr, "vanilla %d: %s\n", prompt, st.ToString().c_str()), 1;
      const int reps = std::max(1, a.iters / 2);
      auto t0 = std::chrono::steady_clock::now();
      for (int r = 0; r < reps; ++r) (void)(*model)->forward_greedy({&s, 1}, kMaxProb, &choices);
      vanilla = seconds_since(t0) / reps;
    }
    // (b) block cache: block-entry prefill fills the cache, then steps over the block rows.
    auto cache = (*model)->new_kv_cache(L);
    if (!cache.ok()) return std::fprintf(stderr, "%s\n", cache.status().ToString().c_str()), 1;
    SequenceForward entry{.ids = ids, .positions = pos, .cache = cache->get(), .attend_len = L,
                          .logit_rows = block_rows};
    (void)(*model)->forward({&entry, 1}, &logits);  // warm-up
    auto t0 = std::chrono::steady_clock::now();
    if (absl::Status st = (*model)->forward({&entry, 1}, &logits); !st.ok())
      return std::fprintf(stderr, "prefill %d: %s\n", prompt, st.ToString().c_str()), 1;
    const double prefill = seconds_since(t0);
    std::span<const int32_t> bids(ids.data() + block0, a.block), bpos(pos.data() + block0, a.block);
    SequenceForward step{.ids = bids, .positions = bpos, .cache = cache->get(), .attend_len = L};
    (void)(*model)->forward_greedy({&step, 1}, kMaxProb, &choices);
    t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < a.iters; ++r) (void)(*model)->forward_greedy({&step, 1}, kMaxProb, &choices);
    const double step_s = seconds_since(t0) / a.iters;

    const double kv_bytes = 2.0 * L * c.num_layers * c.num_kv_heads * c.head_dim * 2;
    const double step_floor = copy_gbs > 0 ? (w.bytes + kv_bytes) / (copy_gbs * 1e9) : 0.0;
    const double vanilla_floor =
        peak_tflops > 0 ? forward_flops(c, L, L, a.block) / (peak_tflops * 1e12) : 0.0;
    const double prefill_pct =
        peak_tflops > 0 ? 100.0 * forward_flops(c, L, L, a.block) / prefill / (peak_tflops * 1e12) : 0.0;
    std::printf("%-8d %12.1f %10.1f %12.2f %10.2f %8.2f %12.3f %12.0f %8.1f\n", prompt,
                vanilla * 1e3, vanilla_floor * 1e3, step_s * 1e3, step_floor * 1e3,
                step_floor > 0 ? step_s / step_floor : 0.0, prefill, L / prefill, prefill_pct);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // `dllm-bench serve|transfer ...` run the gRPC / UCX benchmarks built beside this binary
  // (separate executables so that this one links no network stack).
  if (argc >= 2 && (std::strcmp(argv[1], "serve") == 0 || std::strcmp(argv[1], "transfer") == 0)) {
    std::string self = argv[0];
    const std::string sibling =
        self.substr(0, self.rfind('/') + 1) + "dllm-bench-" + argv[1];
    // dllm-bench-transfer takes its flags from argv[1]: drop the subcommand for it.
    execv(sibling.c_str(), std::strcmp(argv[1], "transfer") == 0 ? argv + 1 : argv);
    std::fprintf(stderr, "dllm-bench: cannot run %s\n", sibling.c_str());
    return 2;
  }
  if (argc < 2 || std::strcmp(argv[1], "step") != 0) {
    std::fprintf(
        stderr,
        "usage: dllm-bench serve ... | dllm-bench transfer ... | dllm-bench step [--device cpu|cuda] [--synthetic-weights "
        "llada-8b|dream-7b|llada-100m] [--prompts 8192,32768] [--block 32] "
        "[--gen 256] [--iters 5] [--vanilla-max N] [--threads N] [--mode step|prefilling-reuse "
        "[--query 32] [--prefix 32] [--chunk-size 1024] [--top-k 4] [--score-batch 8] "
        "[--token-capacity 0] [--per-head 0|1] [--end-to-end 0|1]] | [--mode e2e [--policies "
        "vanilla,dense,prefilling,prefilling-reuse,focus,prefilling+focus] [--threshold 0.9] "
        "[--full-max 16384] [--sample-blocks 1] [--vanilla-steps 1] [--deadline SECONDS] "
        "[--variant-batch N]]\n");
    return 2;
  }
  Args a;
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    const std::string v = i + 1 < argc ? argv[++i] : "";
    int n = 0;
    if (k == "--mode") a.mode = v;
    else if (k == "--policies") a.e2e.policies = absl::StrSplit(v, ',', absl::SkipEmpty());
    else if (k == "--threshold") {
      if (!absl::SimpleAtod(v, &a.e2e.threshold) || a.e2e.threshold < 0 || a.e2e.threshold > 1)
        return std::fprintf(stderr, "--threshold must be in [0, 1]\n"), 2;
    }
    else if (k == "--device") a.device = v;
    else if (k == "--synthetic-weights") a.shape = v;
    else if (k == "--prompts") {
      a.prompts.clear();
      for (absl::string_view p : absl::StrSplit(v, ','))
        if (absl::SimpleAtoi(p, &n) && n > 0) a.prompts.push_back(n);
    } else if (absl::SimpleAtoi(v, &n) && n >= 0) {
      if (k == "--block") a.block = n;
      else if (k == "--gen") a.gen = n;
      else if (k == "--iters") a.iters = std::max(1, n);
      else if (k == "--vanilla-max") a.vanilla_max = n;
      else if (k == "--threads") a.threads = n;
      else if (k == "--query") a.reuse.query = n;
      else if (k == "--prefix") a.reuse.prefix = n;
      else if (k == "--chunk-size") a.reuse.chunk_size = n;
      else if (k == "--top-k") a.reuse.top_k = n;
      else if (k == "--score-batch") a.reuse.score_batch = n;
      else if (k == "--token-capacity") a.reuse.token_capacity = n;
      else if (k == "--per-head") a.reuse.per_head = n != 0;
      else if (k == "--end-to-end") a.reuse.end_to_end = n != 0;
      else if (k == "--full-max") a.e2e.full_max = n;
      else if (k == "--sample-blocks") a.e2e.sample_blocks = std::max(1, n);
      else if (k == "--vanilla-steps") a.e2e.vanilla_steps = std::max(1, n);
      else if (k == "--deadline") a.e2e.deadline_s = n;
      else if (k == "--variant-batch") a.e2e.variant_batch = n;
      else return std::fprintf(stderr, "unknown option %s\n", k.c_str()), 2;
    } else {
      return std::fprintf(stderr, "bad option %s %s\n", k.c_str(), v.c_str()), 2;
    }
  }
  if (a.prompts.empty()) return std::fprintf(stderr, "--prompts: no valid length\n"), 2;
  if (a.mode != "step" && a.mode != "prefilling-reuse" && a.mode != "e2e")
    return std::fprintf(stderr, "--mode must be step, prefilling-reuse or e2e\n"), 2;
  if (a.mode == "e2e")
    for (const std::string& p : a.e2e.policies)
      if (p != "vanilla" && p != "dense" && p != "prefilling" && p != "prefilling-reuse" &&
          p != "focus" && p != "prefilling+focus")
        return std::fprintf(stderr, "unknown policy %s\n", p.c_str()), 2;
  return run_step(a);
}
