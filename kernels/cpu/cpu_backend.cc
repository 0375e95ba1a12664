// CpuBackend: the reference implementation of the Backend op set on host memory.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/focus_kernels.h"
#include "kernels/cpu/prefilling_kernels.h"

namespace dllm::kernels {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : pool_(threads) {}

  std::string_view name() const override { return "cpu"; }
  void* allocate(size_t bytes) override {
    // 64-byte alignment keeps vector loads on one cache line.
    return std::aligned_alloc(64, std::max<size_t>(64, (bytes + 63) / 64 * 64));
  }
  void release(void* ptr) override { std::free(ptr); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
  void copy_within(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
  void synchronize() override {}
  WeightView upload_weight(const WeightView& host) override { return host; }

  void embedding(const int32_t* ids, int n, const WeightView& table, float* out) override {
    pool_.parallel_for(n, 64, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        cpu::load_row_f32(table.data, table.dtype, static_cast<int64_t>(ids[i]) * table.cols,
                          table.cols, out + i * table.cols);
    });
  }
  void rms_norm(const float* x, int n, int dim, const WeightView& weight, float eps,
                float* out) override {
    cpu::rms_norm(pool_, x, n, dim, weight, eps, out);
  }
  void linear(const float* x, int n, const WeightView& w, const WeightView* bias,
              float* out) override {
    cpu::linear(pool_, x, n, w, bias, out);
  }
  void rope(float* x, int n, int heads, int head_dim, const int32_t* positions,
            const float* inv_freq) override {
    cpu::rope(pool_, x, n, heads, head_dim, positions, inv_freq);
  }
  void attention(const AttentionParams& p) override { cpu::attention(pool_, p); }
  void silu_mul(const float* gate, const float* up, float* out, int64_t n) override {
    pool_.parallel_for(n, 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    });
  }
  void add_inplace(float* x, const float* y, int64_t n) override {
    pool_.parallel_for(n, 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) x[i] += y[i];
    });
  }
  void gather_rows(const float* x, int dim, const int32_t* rows, int n, float* out) override {
    for (int i = 0; i < n; ++i)
      std::memcpy(out + static_cast<int64_t>(i) * dim, x + static_cast<int64_t>(rows[i]) * dim,
                  dim * sizeof(float));
  }
  void write_kv(const float* k_rows, const float* v_rows, int n, int row_elems,
                const int32_t* slots, const KvView& kv) override {
    for (int i = 0; i < n; ++i) {
      const int64_t off = kv.row_offset(slots[i], row_elems);
      const float* k = k_rows + static_cast<int64_t>(i) * row_elems;
      const float* v = v_rows + static_cast<int64_t>(i) * row_elems;
      if (kv.dtype == DType::kBF16) {
        auto* kd = static_cast<uint16_t*>(kv.k) + off;
        auto* vd = static_cast<uint16_t*>(kv.v) + off;
        for (int j = 0; j < row_elems; ++j) kd[j] = cpu::f32_to_bf16(k[j]), vd[j] = cpu::f32_to_bf16(v[j]);
      } else {
        std::memcpy(static_cast<float*>(kv.k) + off, k, row_elems * sizeof(float));
        std::memcpy(static_cast<float*>(kv.v) + off, v, row_elems * sizeof(float));
      }
    }
  }
  void greedy_confidence(const float* logits, int n, int vocab, ConfidenceKind kind, int32_t* ids,
                         double* conf) override {
    pool_.parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        cpu::greedy_confidence_row(logits + i * vocab, vocab, kind, ids + i, conf + i);
    });
  }
  void fill_zero(void* dst, size_t bytes) override { std::memset(dst, 0, bytes); }
  void rerotate_kv_rows(const KvRerotateParams& p) override { cpu::rerotate_kv_rows(p); }
  void accumulate_key_attention_scores(const KeyAttentionScoreParams& p) override {
    cpu::accumulate_key_attention_scores(p);
  }
  void select_top_tokens(const TokenSelectParams& p) override { cpu::select_top_tokens(p); }
  void target_log_probs(const TargetLogProbParams& p) override { cpu::target_log_probs(p); }
  void attention_mass_per_key(const AttentionMassParams& p) override {
    cpu::attention_mass_per_key(p);
  }
  void select_sinks(const SinkSelectParams& p) override { cpu::select_sinks(p); }
  void block_representative_keys(const BlockKeyParams& p) override {
    cpu::block_representative_keys(p);
  }
  void block_scores(const BlockScoreParams& p) override { cpu::block_scores(p); }
  void select_blocks(const BlockSelectParams& p) override { cpu::select_blocks(p); }
  void sparse_attention(const SparseAttentionParams& p) override { cpu::sparse_attention(p); }
  void accumulate_focus_stats(const FocusStatsParams& p) override {
    cpu::accumulate_focus_stats(p);
  }
  size_t free_memory_bytes() override {
    const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<size_t>(pages) * page : 0;
  }

 private:
  cpu::ThreadPool pool_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::make_unique<CpuBackend>(num_threads);
}

}  // namespace dllm::kernels
