// CPU attention: softmax(q·kᵀ·scale) · v per head, bidirectional or causal, with GQA and a key mask.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vector_math.h"

namespace dllm::kernels::cpu {
namespace {

constexpr int kRowsPerTask = 8;  // query rows sharing each K/V load

}  // namespace

void attention(ThreadPool& pool, const AttentionParams& p) {
  const int group = p.num_heads / p.num_kv_heads;
  const int hd = p.head_dim;
  const int64_t q_stride = static_cast<int64_t>(p.num_heads) * hd;
  const int64_t kv_row = static_cast<int64_t>(p.num_kv_heads) * hd;
  const bool bf16 = p.kv.dtype == DType::kBF16;
  // A K or V head vector of a slot as float32 (bf16 caches are widened into `scratch`).
  auto kv_head = [&](const void* base, int64_t slot, int kvh, float* scratch) -> const float* {
    const int64_t off = p.kv.row_offset(slot, kv_row) + static_cast<int64_t>(kvh) * hd;
    if (!bf16) return static_cast<const float*>(base) + off;
    load_row_f32(base, DType::kBF16, off, hd, scratch);
    return scratch;
  };
  const int64_t row_blocks = (p.num_q + kRowsPerTask - 1) / kRowsPerTask;
  pool.parallel_for(row_blocks * p.num_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(kRowsPerTask) * p.num_keys);
    std::vector<float> acc(static_cast<size_t>(kRowsPerTask) * hd);
    std::vector<float> widened(hd);
    for (int64_t task = begin; task < end; ++task) {
      const int h = static_cast<int>(task / row_blocks);
      const int kvh = h / group;
      const int r0 = static_cast<int>(task % row_blocks) * kRowsPerTask;
      const int rows = std::min(kRowsPerTask, p.num_q - r0);
      // Scores; masked keys get -inf.
      for (int j = 0; j < p.num_keys; ++j) {
        const bool key_ok = p.key_mask == nullptr || p.key_mask[j] != 0;
        const float* kj = key_ok ? kv_head(p.kv.k, j, kvh, widened.data()) : nullptr;
        for (int r = 0; r < rows; ++r) {
          const int i = r0 + r;
          const bool visible = key_ok && (!p.causal || j <= p.q_positions[i]);
          scores[static_cast<size_t>(r) * p.num_keys + j] =
              visible ? dot(p.q + i * q_stride + static_cast<int64_t>(h) * hd, kj, hd) * p.scale
                      : -std::numeric_limits<float>::infinity();
        }
      }
      // Softmax per row (a row with no visible key outputs zeros).
      for (int r = 0; r < rows; ++r) {
        float* s = scores.data() + static_cast<size_t>(r) * p.num_keys;
        float mx = -std::numeric_limits<float>::infinity();
        for (int j = 0; j < p.num_keys; ++j) mx = std::max(mx, s[j]);
        float sum = 0.0f;
        for (int j = 0; j < p.num_keys; ++j) {
          s[j] = std::isinf(mx) ? 0.0f : std::exp(s[j] - mx);
          sum += s[j];
        }
        const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
        for (int j = 0; j < p.num_keys; ++j) s[j] *= inv;
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int j = 0; j < p.num_keys; ++j) {
        const float* vj = nullptr;
        for (int r = 0; r < rows; ++r) {
          const float w = scores[static_cast<size_t>(r) * p.num_keys + j];
          if (w == 0.0f) continue;
          if (vj == nullptr) vj = kv_head(p.kv.v, j, kvh, widened.data());
          axpy(acc.data() + static_cast<size_t>(r) * hd, w, vj, hd);
        }
      }
      for (int r = 0; r < rows; ++r)
        std::memcpy(p.out + (r0 + r) * q_stride + static_cast<int64_t>(h) * hd,
                    acc.data() + static_cast<size_t>(r) * hd, hd * sizeof(float));
    }
  });
}

}  // namespace dllm::kernels::cpu
