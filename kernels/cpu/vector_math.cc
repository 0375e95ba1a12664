// dot and axpy for the CPU attention kernels, built for AVX2+FMA and for baseline x86-64.
#include "kernels/cpu/vector_math.h"

#include <cstring>

namespace dllm::kernels::cpu {
namespace {
typedef float v8f __attribute__((vector_size(32)));
}  // namespace

__attribute__((target_clones("arch=x86-64-v3", "default")))
float dot(const float* a, const float* b, int n) {
  v8f acc = {};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f av, bv;
    std::memcpy(&av, a + i, sizeof(v8f));
    std::memcpy(&bv, b + i, sizeof(v8f));
    acc += av * bv;
  }
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

__attribute__((target_clones("arch=x86-64-v3", "default")))
void axpy(float* out, float a, const float* x, int n) {
  for (int i = 0; i < n; ++i) out[i] += a * x[i];
}

}  // namespace dllm::kernels::cpu
