// CPU RMSNorm and rotate-half RoPE.
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace dllm::kernels::cpu {

void rms_norm(ThreadPool& pool, const float* x, int n, int dim, const WeightView& weight,
              float eps, float* out) {
  std::vector<float> w(dim);
  load_row_f32(weight.data, weight.dtype, 0, dim, w.data());
  pool.parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* xi = x + i * dim;
      float* oi = out + i * dim;
      float ss = 0.0f;
      for (int j = 0; j < dim; ++j) ss += xi[j] * xi[j];
      const float r = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
      for (int j = 0; j < dim; ++j) oi[j] = w[j] * (xi[j] * r);
    }
  });
}

void rope(ThreadPool& pool, float* x, int n, int heads, int head_dim, const int32_t* positions,
          const float* inv_freq) {
  const int half = head_dim / 2;
  pool.parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> cos_v(half), sin_v(half);
    for (int64_t i = begin; i < end; ++i) {
      // The angle is formed in float32 as the reference does (pos · inv_freq), then sin/cos.
      const float pos = static_cast<float>(positions[i]);
      for (int j = 0; j < half; ++j) {
        const float angle = pos * inv_freq[j];
        cos_v[j] = static_cast<float>(std::cos(static_cast<double>(angle)));
        sin_v[j] = static_cast<float>(std::sin(static_cast<double>(angle)));
      }
      for (int h = 0; h < heads; ++h) {
        float* v = x + (i * heads + h) * head_dim;
        for (int j = 0; j < half; ++j) {
          const float a = v[j], b = v[j + half];
          v[j] = a * cos_v[j] - b * sin_v[j];
          v[j + half] = b * cos_v[j] + a * sin_v[j];
        }
      }
    }
  });
}

}  // namespace dllm::kernels::cpu
