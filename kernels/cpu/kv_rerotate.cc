// CPU K/V row move with RoPE re-rotation (Prefilling-dLLM reuse mode: cached chunk K/V stitched
// into a compressed prompt at new positions).
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/prefilling_kernels.h"

namespace dllm::kernels::cpu {
namespace {

void load(const KvView& kv, const void* base, int64_t offset, int n, float* dst) {
  load_row_f32(base, kv.dtype, offset, n, dst);
}

void store(const KvView& kv, void* base, int64_t offset, int n, const float* src) {
  if (kv.dtype == DType::kF32) {
    float* out = static_cast<float*>(base) + offset;
    for (int i = 0; i < n; ++i) out[i] = src[i];
  } else {
    uint16_t* out = static_cast<uint16_t*>(base) + offset;
    for (int i = 0; i < n; ++i) out[i] = f32_to_bf16(src[i]);
  }
}

}  // namespace

void rerotate_kv_rows(const KvRerotateParams& p) {
  const int hd = p.head_dim, half = hd / 2;
  const int64_t row_elems = static_cast<int64_t>(p.num_kv_heads) * hd;
  std::vector<float> k(row_elems), v(row_elems);
  std::vector<double> cos_d(half), sin_d(half);
  for (int i = 0; i < p.num_rows; ++i) {
    const int h0 = p.heads != nullptr ? p.heads[i] : 0;
    const int h1 = p.heads != nullptr ? p.heads[i] + 1 : p.num_kv_heads;
    const int64_t src_off = p.src.row_offset(p.src_slots[i], row_elems) + int64_t{h0} * hd;
    const int64_t dst_off = p.dst.row_offset(p.dst_slots[i], row_elems) + int64_t{h0} * hd;
    const int n = (h1 - h0) * hd;
    load(p.src, p.src.k, src_off, n, k.data());
    load(p.src, p.src.v, src_off, n, v.data());
    const float from = static_cast<float>(p.from_positions[i]);
    const float to = static_cast<float>(p.to_positions[i]);
    for (int j = 0; j < half; ++j) {
      const float a_from = from * p.inv_freq[j];  // float32, as the forward's RoPE
      const float a_to = to * p.inv_freq[j];
      const double delta = static_cast<double>(a_to) - static_cast<double>(a_from);
      cos_d[j] = std::cos(delta);
      sin_d[j] = std::sin(delta);
    }
    if (p.from_positions[i] != p.to_positions[i]) {
      for (int h = 0; h < h1 - h0; ++h) {
        float* x = k.data() + static_cast<int64_t>(h) * hd;
        for (int j = 0; j < half; ++j) {
          const double a = x[j], b = x[j + half];
          x[j] = static_cast<float>(a * cos_d[j] - b * sin_d[j]);
          x[j + half] = static_cast<float>(b * cos_d[j] + a * sin_d[j]);
        }
      }
    }
    store(p.dst, p.dst.k, dst_off, n, k.data());
    store(p.dst, p.dst.v, dst_off, n, v.data());
  }
}

}  // namespace dllm::kernels::cpu
