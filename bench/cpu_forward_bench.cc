// dllm-bench-cpu-forward: CPU forward throughput (tokens/s) of the reference engine.
// Usage: dllm-bench-cpu-forward [--model DIR | --synthetic-100m] [--tokens T] [--threads N]
//        [--repeats R] [--fp32]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <string>

#include "bench/synthetic_model.h"
#include "common/model/load_model.h"
#include "common/model/transformer.h"

using namespace dllm;

int main(int argc, char** argv) {
  std::string model_dir;
  bool synthetic = false, fp32 = false;
  int tokens = 256, threads = 0, repeats = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--model") model_dir = next();
    else if (a == "--synthetic-100m") synthetic = true;
    else if (a == "--fp32") fp32 = true;
    else if (a == "--tokens") tokens = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--repeats") repeats = std::stoi(next());
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  auto backend = kernels::make_cpu_backend(threads);
  std::unique_ptr<Transformer> model;
  bench::SyntheticModel synth;
  size_t params = 0;
  if (synthetic) {
    // ≈100M parameters: 12 layers, d 768, 12 heads, SwiGLU 2048, vocab 32000.
    bench::make_synthetic_model(bench::llada_shape(12, 768, 12, 12, 2048, 32000), !fp32, 7, &synth);
    auto m = Transformer::create(synth.config, synth.views, backend.get());
    if (!m.ok()) return std::fprintf(stderr, "%s\n", m.status().ToString().c_str()), 1;
    model = std::move(*m);
    params = synth.num_parameters;
  } else {
    auto m = load_transformer(model_dir, backend.get());
    if (!m.ok()) return std::fprintf(stderr, "%s\n", m.status().ToString().c_str()), 1;
    model = std::move(*m);
  }
  const ModelConfig& c = model->config();
  std::vector<int32_t> ids(tokens), pos(tokens);
  for (int i = 0; i < tokens; ++i) ids[i] = (i * 7919) % c.vocab_size, pos[i] = i;
  // Logits on every row, as a vanilla denoising step computes them.
  SequenceForward s{.ids = ids, .positions = pos};
  std::vector<std::vector<float>> logits;
  (void)model->forward({&s, 1}, &logits);  // warm-up
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    absl::Status st = model->forward({&s, 1}, &logits);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!st.ok()) return std::fprintf(stderr, "%s\n", st.ToString().c_str()), 1;
    best = std::min(best, dt);
  }
  std::printf("model=%s params=%zu tokens=%d threads=%d best_forward_s=%.4f tokens_per_s=%.1f\n",
              synthetic ? "synthetic-100m" : model_dir.c_str(), params, tokens, threads, best,
              tokens / best);
  return 0;
}
