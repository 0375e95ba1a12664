// CPU linear layer: out = x · Wᵀ (+ b) with a 4×4 register-tiled micro-kernel over 8-float lanes.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace dllm::kernels::cpu {
namespace {

typedef float v8f __attribute__((vector_size(32)));

constexpr int kRowTile = 4;     // x rows per micro-kernel call
constexpr int kColTile = 4;     // W rows per micro-kernel call
constexpr int kRowBlock = 64;   // x rows per task: keeps the x block in cache
constexpr int kColBlock = 16;   // W rows per task: converted to f32 once per task

inline float hsum(v8f v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

// acc[r][c] = dot(x[r], w[c]) for 4 x rows and 4 W rows of length k.
// Built twice: AVX2+FMA where the CPU has it, baseline x86-64 otherwise.
__attribute__((target_clones("arch=x86-64-v3", "default")))
void micro_kernel_4x4(const float* const x[kRowTile], const float* const w[kColTile], int64_t k,
                      float out[kRowTile][kColTile]) {
  v8f acc[kRowTile][kColTile] = {};
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    v8f xv[kRowTile], wv[kColTile];
    for (int r = 0; r < kRowTile; ++r) std::memcpy(&xv[r], x[r] + i, sizeof(v8f));
    for (int c = 0; c < kColTile; ++c) std::memcpy(&wv[c], w[c] + i, sizeof(v8f));
    for (int r = 0; r < kRowTile; ++r)
      for (int c = 0; c < kColTile; ++c) acc[r][c] += xv[r] * wv[c];
  }
  for (int r = 0; r < kRowTile; ++r) {
    for (int c = 0; c < kColTile; ++c) {
      float s = hsum(acc[r][c]);
      for (int64_t j = i; j < k; ++j) s += x[r][j] * w[c][j];
      out[r][c] = s;
    }
  }
}

}  // namespace

void linear(ThreadPool& pool, const float* x, int n, const WeightView& w, const WeightView* bias,
            float* out) {
  const int64_t k = w.cols;
  const int64_t m = w.rows;
  const int64_t row_blocks = (n + kRowBlock - 1) / kRowBlock;
  const int64_t col_blocks = (m + kColBlock - 1) / kColBlock;
  std::vector<float> bias_f32;
  if (bias != nullptr && !bias->empty()) {
    bias_f32.resize(m);
    load_row_f32(bias->data, bias->dtype, 0, m, bias_f32.data());
  }
  pool.parallel_for(row_blocks * col_blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> wbuf(static_cast<size_t>(kColBlock) * k);
    int64_t loaded_cb = -1;
    for (int64_t task = begin; task < end; ++task) {
      // Column-block-major order: consecutive tasks of a thread reuse the converted W block.
      const int64_t cb = task / row_blocks;
      const int64_t rb = task % row_blocks;
      const int64_t c0 = cb * kColBlock, c1 = std::min<int64_t>(m, c0 + kColBlock);
      if (cb != loaded_cb) {
        for (int64_t c = c0; c < c1; ++c)
          load_row_f32(w.data, w.dtype, c * k, k, wbuf.data() + (c - c0) * k);
        loaded_cb = cb;
      }
      const int64_t r0 = rb * kRowBlock, r1 = std::min<int64_t>(n, r0 + kRowBlock);
      for (int64_t r = r0; r < r1; r += kRowTile) {
        const float* xr[kRowTile];
        for (int i = 0; i < kRowTile; ++i) xr[i] = x + std::min<int64_t>(r + i, r1 - 1) * k;
        for (int64_t c = c0; c < c1; c += kColTile) {
          const float* wc[kColTile];
          for (int j = 0; j < kColTile; ++j)
            wc[j] = wbuf.data() + (std::min<int64_t>(c + j, c1 - 1) - c0) * k;
          float tile[kRowTile][kColTile];
          micro_kernel_4x4(xr, wc, k, tile);
          for (int i = 0; i < kRowTile && r + i < r1; ++i) {
            float* o = out + (r + i) * m;
            for (int j = 0; j < kColTile && c + j < c1; ++j)
              o[c + j] = tile[i][j] + (bias_f32.empty() ? 0.0f : bias_f32[c + j]);
          }
        }
      }
    }
  });
}

}  // namespace dllm::kernels::cpu
